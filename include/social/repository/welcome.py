"""SQL of the welcome email (include/social/welcome.py): the user it welcomes. Whether the
message is already queued is the outbox's to say (include/common/outbox.py)."""

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

