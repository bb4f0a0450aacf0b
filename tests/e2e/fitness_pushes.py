"""Helpers of the fitness push e2e tests: hand-built users and devices tagged per test (the
session's app database is shared), and what the sandbox's FCM received for them."""

from __future__ import annotations

import uuid
from collections import Counter

import psycopg

from tests.include.fitness import push_data as fx


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


def pushes_by_token(sandbox, tag: str) -> Counter:
    """How many pushes the sandbox's FCM took per token of this test."""
    return Counter(p["token"] for p in sandbox.pushes() if tag in p["token"])


def make_due_now(dsn: str, tag: str) -> None:
    """Skip the wait of this test's pending rows (as if their Retry-After had passed)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE platform.outbox SET next_attempt_at = now() WHERE status = 'pending' "
                     "AND recipient LIKE %s", (f"%{tag}%",))


def statuses(dsn: str, tag: str) -> Counter:
    with psycopg.connect(dsn) as conn:
        return Counter(s for (s,) in conn.execute("SELECT status FROM platform.outbox WHERE recipient LIKE %s",
                                                   (f"%{tag}%",)).fetchall())


__all__ = ["fx", "make_due_now", "new_tag", "pushes_by_token", "statuses"]
