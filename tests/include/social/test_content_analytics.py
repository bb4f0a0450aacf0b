"""generate_content_analytics against PostgreSQL with a hand-built day whose numbers are known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.orchestration.schedules import LocalDays
from include.social.content_analytics import generate_content_analytics

DAY = date(2026, 3, 9)
START = datetime(2026, 3, 9, tzinfo=UTC)
END = START + timedelta(days=1)
BEFORE, INSIDE = START - timedelta(hours=1), START + timedelta(hours=5)


@pytest.fixture
def day(social_db):
    """Users u1..u6, posts A (the day before), B and C (in the interval), D (at the end,
    so outside), likes and comments in and around the interval."""
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, social.hashtags, social.daily_content_analytics CASCADE")
        created = {"u1": BEFORE, "u2": BEFORE, "u3": BEFORE, "u4": INSIDE, "u5": START, "u6": END}
        u = {name: conn.execute("INSERT INTO social.users (email, username, created_at) VALUES (%s, %s, %s) "
                                "RETURNING id", (f"{name}@ca.example", f"ca_{name}", at)).fetchone()[0]
             for name, at in created.items()}
        p = {name: conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (%s, %s) RETURNING id",
                                (u[author], at)).fetchone()[0]
             for name, author, at in (("A", "u1", BEFORE), ("B", "u2", INSIDE), ("C", "u3", END - timedelta(seconds=1)),
                                      ("D", "u1", END))}
        likes = [("u2", "A", INSIDE), ("u3", "A", INSIDE), ("u4", "A", START), ("u1", "B", INSIDE),
                 ("u5", "B", BEFORE), ("u6", "A", END)]  # the last two are outside
        conn.cursor().executemany("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                                  [(u[a], p[b], at) for a, b, at in likes])
        comments = [("u4", "B", INSIDE), ("u4", "B", INSIDE), ("u5", "A", INSIDE), ("u3", "B", BEFORE)]
        conn.cursor().executemany("INSERT INTO social.comments (author_id, post_id, created_at) VALUES (%s, %s, %s)",
                                  [(u[a], p[b], at) for a, b, at in comments])
        conn.commit()
        yield {"conn": conn, "users": u, "posts": p}


def stored(conn, for_day: date):
    return conn.execute("SELECT new_posts, new_comments, new_likes, new_users, active_users, top_posts, "
                        "computed_at, xmin::text FROM social.daily_content_analytics WHERE day = %s",
                        (for_day,)).fetchone()


def test_counts_the_interval_and_ranks_top_posts(day):
    conn, p = day["conn"], day["posts"]
    result = generate_content_analytics(conn, DAY, START, END)
    top = [{"post_id": p["A"], "likes": 3, "comments": 1},   # engaged, created the day before
           {"post_id": p["B"], "likes": 1, "comments": 2},
           {"post_id": p["C"], "likes": 0, "comments": 0}]   # created in the interval, no engagement
    assert result == {"day": "2026-03-09", "new_posts": 2, "new_comments": 3, "new_likes": 4, "new_users": 2,
                      "active_users": 5, "top_posts": top, "written": True}
    assert stored(conn, date(2026, 3, 9))[:6] == (2, 3, 4, 2, 5, top)


def test_rerun_keeps_the_row_and_a_change_rewrites_it(day):
    conn, u, p = day["conn"], day["users"], day["posts"]
    generate_content_analytics(conn, DAY, START, END)
    first = stored(conn, date(2026, 3, 9))
    again = generate_content_analytics(conn, DAY, START, END)
    assert again["written"] is False and again["new_likes"] == 4
    assert stored(conn, date(2026, 3, 9)) == first, "same row, not even rewritten"

    # A late like lands in the interval (e.g. replicated late): the rerun picks it up.
    conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                 (u["u6"], p["C"], INSIDE))
    conn.commit()
    changed = generate_content_analytics(conn, DAY, START, END)
    assert changed["written"] is True
    assert (changed["new_likes"], changed["active_users"]) == (5, 6)
    assert changed["top_posts"][2] == {"post_id": p["C"], "likes": 1, "comments": 0}


def test_top_n_ties_by_post_id_and_empty_day(day):
    conn, p = day["conn"], day["posts"]
    conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                 (day["users"]["u3"], p["B"], INSIDE))  # B now 4, like A
    conn.commit()
    result = generate_content_analytics(conn, DAY, START, END, top_n=2)
    assert [t["post_id"] for t in result["top_posts"]] == sorted([p["A"], p["B"]])

    empty = generate_content_analytics(conn, date(2026, 2, 27), START - timedelta(days=10), START - timedelta(days=9))
    assert empty == {"day": "2026-02-27", "new_posts": 0, "new_comments": 0, "new_likes": 0, "new_users": 0,
                     "active_users": 0, "top_posts": [], "written": True}


def test_the_day_is_a_whole_local_calendar_day(day):
    # The 04:00 Tokyo run of 03-10 covers [03-09 04:00, 03-10 04:00) local: it counts 03-09,
    # midnight to midnight there, i.e. [03-08 15:00, 03-09 15:00) UTC.
    interval = LocalDays.of(datetime(2026, 3, 8, 19, tzinfo=UTC), datetime(2026, 3, 9, 19, tzinfo=UTC), "Asia/Tokyo")
    assert interval.first == date(2026, 3, 9)
    start, end = interval.bounds(interval.first)
    assert (start, end) == (datetime(2026, 3, 8, 15, tzinfo=UTC), datetime(2026, 3, 9, 15, tzinfo=UTC))
    result = generate_content_analytics(day["conn"], interval.first, start, end)
    assert result["day"] == "2026-03-09"
    # posts A (23:00 the evening before) and B are in, C is not;
    # u1..u3 (created 23:00), u4 and u5 are new.
    assert (result["new_posts"], result["new_users"]) == (2, 5)


def test_dst_days_have_23_and_25_hours():
    spring = LocalDays.of(datetime(2026, 3, 8, 9, tzinfo=UTC), datetime(2026, 3, 9, 8, tzinfo=UTC), "America/New_York")
    start, end = spring.bounds(date(2026, 3, 8))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)  # same-zone subtraction is wall time
    autumn = LocalDays.of(datetime(2026, 11, 1, 8, tzinfo=UTC), datetime(2026, 11, 2, 9, tzinfo=UTC),
                          "America/New_York")
    start, end = autumn.bounds(date(2026, 11, 1))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)


def test_bad_intervals_are_rejected(day):
    with pytest.raises(ValueError, match="empty day"):
        generate_content_analytics(day["conn"], DAY, END, START)
    with pytest.raises(ValueError, match="time-zone aware"):
        generate_content_analytics(day["conn"], DAY, START.replace(tzinfo=None), END.replace(tzinfo=None))
