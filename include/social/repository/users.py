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

