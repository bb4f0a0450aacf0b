"""Daily content analytics: what happened on the social network during one local calendar day.

For the day D (a whole calendar day of the social time zone, midnight to midnight: 23 or 25
hours on DST days), one row of `social.daily_content_analytics` keyed by D: new posts,
comments, likes and users; active users (distinct users who posted, commented or liked that
day); and the top posts (created or engaged that day) by the likes + comments they received
in it. The caller passes D and its bounds [start, end) as aware datetimes (the DAG takes them
from `LocalDays`: D is the day its 04:00 run's interval starts in, i.e. yesterday). Computed
by one statement and upserted, so a rerun or backfill gives the same row.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from include.social.repository import content_analytics as repo

TOP_POSTS = 10


def generate_content_analytics(conn: psycopg.Connection, day: date, start: datetime, end: datetime, *,
                               top_n: int = TOP_POSTS) -> dict:
    """Compute and upsert the row of `day`, whose instants are [start, end) (committed
    here); returns the row's values: {day, new_posts, new_comments, new_likes, new_users,
    active_users, top_posts, written}."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"the day's bounds must be time-zone aware, got [{start!r}, {end!r})")
    if not start < end:
        raise ValueError(f"empty day [{start.isoformat()}, {end.isoformat()})")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n!r}")
    row = repo.upsert_day(conn, day, start, end, top_n)
    conn.commit()
    row["day"] = row["day"].isoformat()
    return row
