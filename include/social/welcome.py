"""The welcome email: queued once per user through the outbox (dedupe key `welcome:<id>`).

A second request for the same user queues nothing and says when the first one was queued.
"""

from __future__ import annotations

from datetime import UTC

import psycopg

from include.common.errors import PermanentError
from include.common.outbox import OutboxMessage, enqueue
from include.common.outbox import message as outbox_message
from include.social.repository import welcome as repository

TEMPLATE = "social/welcome"


class UnknownUser(PermanentError, LookupError):
    """No social user has this id: a bad request, which a retry cannot fix."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        super().__init__(f"social user {user_id} does not exist (no row in social.users with id {user_id})")


def dedupe_key(user_id: int) -> str:
    return f"welcome:{user_id}"


def queue_welcome(conn: psycopg.Connection, user_id: int) -> dict:
    """Queue the welcome email of `user_id` in the caller's transaction.

    Returns {"user_id", "queued": True, "dedupe_key"} when it was queued now, or
    {"user_id", "queued": False, "reason": "already sent or queued on <date>", "status",
    "dedupe_key"} when a previous request queued it. Raises UnknownUser for an unknown id."""
    user = repository.get_user(conn, user_id)
    if user is None:
        raise UnknownUser(user_id)
    key = dedupe_key(user_id)
    message = OutboxMessage(
        dedupe_key=key,
        channel="email",
        domain="social",
        recipient=user["email"],
        template=TEMPLATE,
        context={"name": user["full_name"].strip() or user["username"], "username": user["username"]},
    )
    if enqueue(conn, [message]):
        return {"user_id": user_id, "queued": True, "dedupe_key": key}
    # ON CONFLICT DO NOTHING skipped it: the row exists (committed, or we waited for the
    # concurrent transaction that inserted it to commit), so this read finds it.
    earlier = outbox_message(conn, key)
    if earlier is None:
        raise RuntimeError(f"outbox refused {key!r} as a duplicate but has no row with that key")
    queued_on = earlier["created_at"].astimezone(UTC).date().isoformat()
    return {"user_id": user_id, "queued": False, "reason": f"already sent or queued on {queued_on}",
            "status": earlier["status"], "dedupe_key": key}
