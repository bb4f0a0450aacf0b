"""SQL of the operator's page (include/platform/operator_page.py): `platform.outbox`,
`platform.outbox_requeues`, `platform.health_state` and `platform.health_readings`.

Every statement is parametrised and bounded: by a LIMIT, by the 7-day window of
`outbox_created_idx`, or by the dead rows of `outbox_dead_error_idx` (migration 0012). No
statement reads a message body (`body_text`, `body_html`, `payload`).
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

ERROR_CHARS = 500  # of a last_error shown or recorded

# Created in the last 7 days, read from outbox_created_idx (created_at INCLUDE domain, channel, status).
_COUNTS = """
    SELECT domain, channel, status,
           count(*) FILTER (WHERE created_at >= %(now)s - interval '24 hours') AS last_24h,
           count(*) AS last_7d
      FROM platform.outbox
     WHERE created_at >= %(now)s - interval '7 days' AND created_at <= %(now)s
     GROUP BY domain, channel, status
     ORDER BY domain, channel, status
     LIMIT %(limit)s
"""

_SEARCH = f"""
    SELECT id, dedupe_key, domain, channel, recipient, subject, status, attempts,
           left(last_error, {ERROR_CHARS}) AS last_error, created_at, next_attempt_at, sent_at, queued_by
      FROM platform.outbox
     WHERE recipient = %(q)s OR dedupe_key = %(q)s
     ORDER BY created_at DESC, id DESC
     LIMIT %(limit)s
"""

# md5(coalesce(last_error, '')) is the expression of outbox_dead_error_idx.
_DEAD_GROUPS = f"""
    SELECT md5(coalesce(last_error, '')) AS error_key,
           left(min(coalesce(last_error, '')), {ERROR_CHARS}) AS last_error,
           count(*) AS messages,
           string_agg(DISTINCT domain || '/' || channel, ', ') AS sources,
           min(created_at) AS first_created, max(created_at) AS last_created
      FROM platform.outbox
     WHERE status = 'dead'
     GROUP BY md5(coalesce(last_error, ''))
     ORDER BY count(*) DESC, 2
     LIMIT %(limit)s
"""

# Only a dead row that was never sent goes back to pending, with a fresh set of attempts;
# the requeue is recorded in the same statement (and so the same transaction).
_REQUEUE = f"""
    WITH picked AS (
        SELECT id FROM platform.outbox
         WHERE status = 'dead' AND sent_at IS NULL AND {{match}}
         ORDER BY id
         LIMIT %(limit)s
           FOR UPDATE
    ), moved AS (
        UPDATE platform.outbox o
           SET status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = NULL
          FROM picked
         WHERE o.id = picked.id AND o.status = 'dead' AND o.sent_at IS NULL
        RETURNING o.id, o.last_error
    ), recorded AS (
        INSERT INTO platform.outbox_requeues (requeued_by, scope, message_id, error_key, last_error, requeued,
                                              message_ids)
        SELECT %(who)s, %(scope)s, %(message_id)s, %(error_key)s,
               (SELECT left(min(coalesce(last_error, '')), {ERROR_CHARS}) FROM moved),
               (SELECT count(*) FROM moved),
               coalesce((SELECT array_agg(id ORDER BY id) FROM moved), ARRAY[]::bigint[])
        RETURNING id, requeued_at, requeued, message_ids
    )
    SELECT id, requeued_at, requeued, message_ids FROM recorded
"""

_REMAINING_IN_GROUP = """
    SELECT count(*) FROM (
        SELECT 1 FROM platform.outbox
         WHERE status = 'dead' AND md5(coalesce(last_error, '')) = %(error_key)s
         LIMIT %(limit)s) AS left_over
"""

_MESSAGE_STATE = "SELECT status, sent_at FROM platform.outbox WHERE id = %s"

_RECENT_REQUEUES = """
    SELECT id, requeued_at, requeued_by, scope, message_id, error_key, last_error, requeued
      FROM platform.outbox_requeues
     ORDER BY requeued_at DESC, id DESC
     LIMIT %(limit)s
"""

# The state of each check (since when) with its latest reading, by health_readings_check_idx.
_HEALTH = """
    SELECT s.check_name, s.target, s.ok, s.since, s.detail AS state_detail,
           r.checked_at, r.ok AS reading_ok, r.value, r.unit, r.detail
      FROM platform.health_state s
      LEFT JOIN LATERAL (
           SELECT checked_at, ok, value, unit, detail
             FROM platform.health_readings h
            WHERE h.check_name = s.check_name AND h.target = s.target
            ORDER BY h.checked_at DESC
            LIMIT 1) r ON true
     ORDER BY s.ok, s.check_name, s.target
     LIMIT %(limit)s
"""


def counts(conn: psycopg.Connection, now: datetime, limit: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_COUNTS, {"now": now, "limit": limit}).fetchall()


def search(conn: psycopg.Connection, q: str, limit: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_SEARCH, {"q": q, "limit": limit}).fetchall()


def dead_groups(conn: psycopg.Connection, limit: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_DEAD_GROUPS, {"limit": limit}).fetchall()


def requeue_message(conn: psycopg.Connection, message_id: int, who: str) -> dict:
    params = {"id": message_id, "who": who, "scope": "message", "message_id": message_id, "error_key": None,
              "limit": 1}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_REQUEUE.format(match="id = %(id)s"), params).fetchone()


def requeue_group(conn: psycopg.Connection, error_key: str, who: str, limit: int) -> dict:
    params = {"who": who, "scope": "error_group", "message_id": None, "error_key": error_key, "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_REQUEUE.format(match="md5(coalesce(last_error, '')) = %(error_key)s"), params).fetchone()


def remaining_in_group(conn: psycopg.Connection, error_key: str, limit: int) -> int:
    return conn.execute(_REMAINING_IN_GROUP, {"error_key": error_key, "limit": limit}).fetchone()[0]


def message_state(conn: psycopg.Connection, message_id: int) -> tuple[str, datetime | None] | None:
    return conn.execute(_MESSAGE_STATE, (message_id,)).fetchone()


def recent_requeues(conn: psycopg.Connection, limit: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_RECENT_REQUEUES, {"limit": limit}).fetchall()


def health(conn: psycopg.Connection, limit: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_HEALTH, {"limit": limit}).fetchall()
