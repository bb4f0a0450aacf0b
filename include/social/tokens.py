"""Cleanup of auth tokens and sessions (seed 002's `cleanup_expired_tokens`).

As of the data interval's end `interval_end`, in this order:
1. tokens, then sessions, that expired before `interval_end`;
2. tokens, then sessions, of users inactive for `inactive_days`: last activity before
   `interval_end - inactive_days`, or no activity at all and signed up before that.
The counts are disjoint: a row that is both expired and an inactive user's counts as expired.

Deletes run in bounded batches (`batch_size` ids per statement), each committed, so no lock is
held for long; they run under `run_batches` (include/common/time_budget.py): when the budget
runs out, the finished batches stay committed and SoftTimeLimitExceeded (with their counts)
says a rerun continues; a rerun of a finished interval deletes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.social.repository import tokens as repository

FIRST_ID = -(2**63)  # below every bigint id: where the walk of a table starts


def cleanup_expired_tokens(conn: psycopg.Connection, interval_end: datetime, *, inactive_days: int = 30,
                           batch_size: int = 10_000, budget: TimeBudget | None = None) -> dict[str, int]:
    """Delete expired and inactive users' tokens and sessions; returns
    {expired_tokens, expired_sessions, inactive_tokens, inactive_sessions, batches}, where
    `batches` counts the DELETE statements that removed rows."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be timezone-aware, got {interval_end!r}")
    if not isinstance(inactive_days, int) or inactive_days < 1:
        raise ValueError(f"inactive_days must be a positive integer, got {inactive_days!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    cutoff = interval_end - timedelta(days=inactive_days)
    phases = {
        "expired_tokens": _expired(conn, "auth_tokens", interval_end, batch_size),
        "expired_sessions": _expired(conn, "sessions", interval_end, batch_size),
        "inactive_tokens": _of_inactive_users(conn, "auth_tokens", cutoff, batch_size),
        "inactive_sessions": _of_inactive_users(conn, "sessions", cutoff, batch_size),
    }
    return run_batches(_committed(conn, phases), budget, result=dict.fromkeys(phases, 0) | {"batches": 0})


def _committed(conn: psycopg.Connection, phases: dict[str, Iterator[int]]) -> Iterator[dict[str, int]]:
    """The phases' deletes one after another, each committed, as counts."""
    for name, batches in phases.items():
        for deleted in batches:
            conn.commit()
            yield {name: deleted, "batches": int(deleted > 0)}


def _expired(conn: psycopg.Connection, table: str, before: datetime, limit: int) -> Iterator[int]:
    """One delete per step; a short batch means nothing expired is left."""
    while True:
        deleted = repository.delete_expired(conn, table, before, limit)
        yield deleted
        if deleted < limit:
            return


def _of_inactive_users(conn: psycopg.Connection, table: str, cutoff: datetime, limit: int) -> Iterator[int]:
    """One delete per step, walking the table by id so that each row is looked at once."""
    after = FIRST_ID
    while True:
        deleted, matched, last_id = repository.delete_of_inactive_users(conn, table, cutoff, after, limit)
        yield deleted
        if matched < limit:
            return
        after = last_id
