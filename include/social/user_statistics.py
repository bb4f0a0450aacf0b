"""The denormalised counters of every user (seed 002's `update_user_statistics`):
followers_count (follows of the user), following_count (follows by the user) and posts_count.

Set-based in key ranges of `batch_size` user ids: one UPDATE per range computes the three
aggregates restricted to that range and writes only the users whose counters differ (users
without follows or posts get 0). Each range is committed. The counters are the current truth
of the follow graph and the posts, so the job does not depend on its data interval: a rerun
writes nothing unless the data changed.

Incremental: statement-level triggers (migration 0005) record in social.stats_dirty_users every
user touched by an insert, delete or update of users, follows or posts. Once a full run has
completed, a run recounts only the marked users, and of those only the counters a mark names
(a follow marks the follower's following and the followee's followers, a post its author's
posts, a new or deleted user all three), `batch_size` users per statement (lowest ids first),
and deletes their marks in the same statement (deletions are caught too, which a
`created_at` watermark would miss). The first run, or `full=True`, empties the marks first
(everything is recounted at a later snapshot) and recounts everyone. `users_scanned` counts the
users whose counters were recomputed: all of them in a full run, the marked ones otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.social.repository import user_statistics as repository


def update_user_statistics(conn: psycopg.Connection, *, batch_size: int = 20_000,
                           budget: TimeBudget | None = None, full: bool = False) -> dict[str, int]:
    """Recompute the counters of all users; returns {users_scanned, users_updated, batches}.

    When `budget` runs out, the batches done stay committed and SoftTimeLimitExceeded is
    raised (a stopped full run is redone, writing only what differs; a stopped incremental
    run leaves the marks it did not reach for the next one).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    result = {"users_scanned": 0, "users_updated": 0, "batches": 0}
    if not full and repository.full_run_done(conn):
        conn.commit()
        return run_batches(_marked(conn, batch_size), budget, result=result)
    repository.clear_marks(conn, "social.stats_dirty_users")
    bounds = repository.user_id_bounds(conn)
    conn.commit()
    if bounds is None:
        repository.record_full_run(conn)
        conn.commit()
        return result
    starts = range(bounds[0], bounds[1] + 1, batch_size)
    return run_batches(_ranges(conn, starts, batch_size), budget, result=result, total=len(starts))


def _ranges(conn: psycopg.Connection, starts: range, batch_size: int) -> Iterator[dict[str, int]]:
    """Recount every user, one committed key range at a time."""
    for low in starts:
        scanned, updated = repository.refresh_counts(conn, low, low + batch_size)
        if low == starts[-1]:
            repository.record_full_run(conn)  # with the last range, so a stopped full run is redone
        conn.commit()
        yield {"users_scanned": scanned, "users_updated": updated, "batches": 1}


def _marked(conn: psycopg.Connection, batch_size: int) -> Iterator[dict[str, int]]:
    """Recount the marked users until a batch finds fewer than `batch_size` of them."""
    while True:
        drained, updated = repository.refresh_marked_counts(conn, batch_size)
        conn.commit()
        yield {"users_scanned": drained, "users_updated": updated, "batches": 1}
        if drained < batch_size:
            return
