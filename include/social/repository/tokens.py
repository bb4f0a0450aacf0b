"""SQL of the token cleanup: bounded deletes of auth tokens and sessions.

Every function deletes at most `limit` rows in one statement and leaves the commit to the
caller, so each batch holds its row locks only briefly.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

# The two credential tables; both have (id, user_id, expires_at) and indexes on expires_at, user_id.
CREDENTIAL_TABLES = ("auth_tokens", "sessions")

# A user is inactive when their last activity is before the cutoff, or when they never had
# any and signed up before it.
_INACTIVE_USER = sql.SQL("""
    (u.last_activity_at < %(cutoff)s
     OR (u.last_activity_at IS NULL AND u.created_at < %(cutoff)s))""")


def _table(name: str) -> sql.Composed:
    if name not in CREDENTIAL_TABLES:
        raise ValueError(f"unknown credential table {name!r}; one of {CREDENTIAL_TABLES}")
    return sql.SQL("social.{}").format(sql.Identifier(name))


def delete_expired(conn: psycopg.Connection, table: str, before: datetime, limit: int) -> int:
    """Delete up to `limit` rows of `table` that expired before `before`; returns the count."""
    query = sql.SQL("""
        DELETE FROM {table}
         WHERE id IN (SELECT id FROM {table} WHERE expires_at < %(before)s LIMIT %(limit)s)
        """).format(table=_table(table))
    return conn.execute(query, {"before": before, "limit": limit}).rowcount


def delete_of_inactive_users(conn: psycopg.Connection, table: str, cutoff: datetime, after_id: int,
                             limit: int) -> tuple[int, int, int | None]:
    """Delete the next (by id, after `after_id`) up to `limit` rows of `table` whose user is
    inactive since `cutoff`.

    Returns (deleted, matched, last matched id). Walking the primary key from `after_id`
    keeps the whole pass linear: no batch rescans the rows an earlier one went past.
    `matched < limit` means the table has been walked to its end.
    """
    query = sql.SQL("""
        WITH doomed AS (
            SELECT t.id
              FROM {table} t
              JOIN social.users u ON u.id = t.user_id
             WHERE t.id > %(after)s AND {inactive}
             ORDER BY t.id
             LIMIT %(limit)s
        ), gone AS (
            DELETE FROM {table} WHERE id IN (SELECT id FROM doomed) RETURNING id
        )
        SELECT (SELECT count(*) FROM gone), count(*), max(id) FROM doomed
        """).format(table=_table(table), inactive=_INACTIVE_USER)
    deleted, matched, last_id = conn.execute(
        query, {"after": after_id, "cutoff": cutoff, "limit": limit}).fetchone()
    return deleted, matched, last_id
