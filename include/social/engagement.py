"""Engagement scores of recent posts for feed ranking (seed 002's `update_post_engagement_scores`).

The formula, taken at the data interval's end `interval_end` (never the wall clock, so a
rerun or a backfill computes the same numbers):

    score = (likes * 1 + comments * 3) / (age_hours + 2) ** 1.5

- likes, comments: those made before `interval_end`; a comment weighs three likes (it costs
  the reader more effort);
- age_hours: hours from the post's creation to `interval_end`; the +2 keeps a brand-new post
  from dividing by ~0, and the 1.5 power is the gravity that lets older posts sink (the
  Hacker News ranking shape);
- rounded to 9 decimals, so equal inputs give an equal stored double and a rerun finds
  nothing changed.

Which posts: those created in the window [interval_end - window_days, interval_end). Their
rows in `social.post_engagement_scores` are upserted in key ranges of post ids holding
`batch_size` window posts each, one statement per range, committed per range, writing a row
only when it is new or its score, likes or comments changed. Rows of posts older than the
window, or deleted (the table has no foreign key: migration 0006), are removed (in bounded
batches) so the feed table stays small. A row computed for a later interval end is never
overwritten or removed by a backfill of an earlier one: the table is the live feed.

Incremental reruns of the same interval end: statement-level triggers (migration 0005) mark in
social.engagement_dirty_posts every post whose likes or comments were inserted, deleted or
updated (or whose row changed). A complete run records its interval end in social.job_state;
a later run for that SAME end drains the marks in batches of `batch_size` and rescores only
their posts that are in the window (new posts and deleted score rows are marked too, and a
TRUNCATE of the scores forgets the complete end), each batch draining its marks in the
statement that rescores them (a mark carries its post's creation time, so the marks of posts
outside the window are dropped without a lookup); `posts_scanned` is then the number of marked
window posts rescored, and no row is removed (the complete run for that end removed the older
ones; a row deleted meanwhile went with its post). Any other interval end (or `full=True`)
empties the marks and rescores the whole window, since every post's age changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.social.repository import engagement as repository
from include.social.repository.user_statistics import clear_marks

LIKE_WEIGHT = 1
COMMENT_WEIGHT = 3
AGE_OFFSET_HOURS = 2
GRAVITY = 1.5
SCORE_DECIMALS = 9


def engagement_score(likes: int, comments: int, age_hours: float) -> float:
    """The formula above in Python (the job computes it in SQL; this twin documents and tests it)."""
    raw = (likes * LIKE_WEIGHT + comments * COMMENT_WEIGHT) / (age_hours + AGE_OFFSET_HOURS) ** GRAVITY
    return round(raw, SCORE_DECIMALS)


def update_engagement_scores(conn: psycopg.Connection, interval_end: datetime, *, window_days: int = 30,
                             batch_size: int = 20_000, delete_batch_size: int = 10_000,
                             budget: TimeBudget | None = None, full: bool = False) -> dict[str, int]:
    """Score the window's posts and drop the rows of older ones; returns
    {posts_scanned, scores_written, scores_removed, batches} (`batches`: upsert ranges plus
    deletes that removed rows). When `budget` runs out, finished batches stay committed and
    SoftTimeLimitExceeded is raised; a rerun writes only what is still missing.
    """
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be timezone-aware, got {interval_end!r}")
    for name, value in (("window_days", window_days), ("batch_size", batch_size),
                        ("delete_batch_size", delete_batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    start = interval_end - timedelta(days=window_days)
    result = {"posts_scanned": 0, "scores_written": 0, "scores_removed": 0, "batches": 0}
    if not full and repository.scores_complete_for(conn) == interval_end:
        # The scores are complete for this very end: rescore only the posts marked since.
        return run_batches(_marked(conn, start, interval_end, batch_size), budget, result=result)
    steps = _whole_window(conn, start, interval_end, batch_size, delete_batch_size)
    return run_batches(steps, budget, result=result)


def _marked(conn: psycopg.Connection, start: datetime, end: datetime, batch_size: int) -> Iterator[dict]:
    while True:
        drained, rescored, written = repository.upsert_marked_scores(conn, start, end, batch_size)
        conn.commit()
        yield {"posts_scanned": rescored, "scores_written": written, "batches": 1}
        if drained < batch_size:
            return


def _whole_window(conn: psycopg.Connection, start: datetime, end: datetime, batch_size: int,
                  delete_batch_size: int) -> Iterator[dict]:
    repository.set_scores_complete_for(conn, None)  # until this run completes
    conn.commit()
    # Every window post is rescored below, at later snapshots: the marks so far are moot.
    clear_marks(conn, "social.engagement_dirty_posts")
    bounds = repository.window_batch_bounds(conn, start, end, batch_size)
    conn.commit()
    for low, high in itertools.pairwise(bounds):
        scanned, written = repository.upsert_scores(conn, low, high, start, end)
        conn.commit()
        yield {"posts_scanned": scanned, "scores_written": written, "batches": 1}
    # Only a complete run removes rows: between two of them for the same end, none ages out.
    while True:
        removed = repository.delete_scores_before(conn, start, end, delete_batch_size)
        conn.commit()
        yield {"scores_removed": removed, "batches": int(removed > 0)}
        if removed < delete_batch_size:
            break
    repository.purge_dirty_outside(conn, start, end)  # those of the rows just removed
    repository.set_scores_complete_for(conn, end)
    conn.commit()
