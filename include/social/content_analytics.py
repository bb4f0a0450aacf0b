"""Daily content analytics: what happened on the social network during one data interval.

For the interval [start, end) (a day of the social time zone), one row of
`social.daily_content_analytics` keyed by that local day: new posts, comments, likes and
users; active users (distinct users who posted, commented or liked in the interval); and the
top posts (created or engaged in the interval) by the likes + comments they received in it.
Computed by one statement and upserted, so a rerun or backfill gives the same row.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from include.social.repository import content_analytics as repo

TOP_POSTS = 10


def local_day(start: datetime, tz: str) -> date:
    """The calendar day (in `tz`) an interval starting at `start` covers."""
    return start.astimezone(ZoneInfo(tz)).date()


def generate_content_analytics(conn: psycopg.Connection, start: datetime, end: datetime, *, tz: str = "UTC",
                               top_n: int = TOP_POSTS) -> dict:
    """Compute and upsert the row of the interval's day (committed here); returns the row's
    values: {day, new_posts, new_comments, new_likes, new_users, active_users, top_posts,
    written}."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"the interval must be time-zone aware, got [{start!r}, {end!r})")
    if not start < end:
        raise ValueError(f"empty data interval [{start.isoformat()}, {end.isoformat()})")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n!r}")
    row = repo.upsert_day(conn, local_day(start, tz), start, end, top_n)
    conn.commit()
    row["day"] = row["day"].isoformat()
    return row
