"""SQL of the social users one at a time (the welcome email): the user, and whether a
message with a given dedupe key is already in the outbox."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row


def get_user(conn: psycopg.Connection, user_id: int) -> dict | None:
    """{"id", "email", "username", "full_name", "created_at", "is_active"} or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT id, email, username, full_name, created_at, is_active
              FROM social.users
             WHERE id = %s
            """,
            (user_id,),
        )
        return cur.fetchone()


def outbox_message(conn: psycopg.Connection, dedupe_key: str) -> dict | None:
    """{"status", "created_at", "sent_at"} of the outbox message with `dedupe_key`, or None.

    The outbox (platform.outbox) is shared by every domain; this reads one row of it by its
    unique key, to tell the caller when a message it meant to queue was queued before."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT status, created_at, sent_at FROM platform.outbox WHERE dedupe_key = %s",
            (dedupe_key,),
        )
        return cur.fetchone()
