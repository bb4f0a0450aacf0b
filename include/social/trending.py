"""Trending hashtags: a time-decayed score over the 7 days before the data interval's end.

score(tag) = sum over the tag's uses in [end - 7 days, end) of 2 ** (-age_hours / half_life),
with the age taken at the interval end (never now()), so a rerun or a backfill of an
interval gives the same ranking. Tags with fewer than `min_uses` uses are left out; the top
`top_n` by score (ties by tag) are the interval's rows of `social.trending_hashtags`.

The marks on `social.hashtags` (is_trending, rank, score, trending_updated_at) show the
latest interval only: a backfill of an older interval writes its ranking rows but leaves
the current marks alone.
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from include.social.repository import trending as repo

log = logging.getLogger(__name__)


def update_trending(conn: psycopg.Connection, interval_end: datetime, *, half_life_hours: float = 24,
                    min_uses: int = 3, top_n: int = 20) -> dict:
    """Rank the hashtags for `interval_end` and move the trending marks to that ranking
    unless a later interval already holds them; everything in one transaction (committed
    here). Returns {hashtags_scored, trending, marked, unmarked, marks_moved}."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    if not half_life_hours > 0:
        raise ValueError(f"half_life_hours must be > 0, got {half_life_hours!r}")
    if min_uses < 1:
        raise ValueError(f"min_uses must be >= 1, got {min_uses!r}")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n!r}")

    repo.lock(conn)
    scored, ranked = repo.replace_ranking(conn, interval_end, half_life_hours=float(half_life_hours),
                                          min_uses=int(min_uses), top_n=int(top_n))
    latest = repo.latest_marks_at(conn)
    marked = unmarked = 0
    moves_marks = latest is None or interval_end >= latest
    if moves_marks:
        marked, unmarked = repo.apply_marks(conn, interval_end)
    else:
        log.info("backfill of %s: marks stay on the later interval %s", interval_end, latest)
    conn.commit()
    return {"interval_end": interval_end.isoformat(), "hashtags_scored": scored, "trending": ranked,
            "marked": marked, "unmarked": unmarked, "marks_moved": moves_marks}
