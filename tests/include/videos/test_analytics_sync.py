"""sync_stats against the sandbox and a real PostgreSQL: the generator's numbers land, a rerun
writes nothing, changed rows are rewritten, batches respect the 500-id filter limit, faults
and malformed rows are handled, and the soft time limit keeps what was fetched."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from include.common.http import ApiClient
from include.common.time_budget import SoftTimeLimitExceeded
from include.common.validation import TooManyMalformed
from include.demo import videos_stats as demo_stats
from include.videos.analytics_sync import sync_stats
from include.videos.youtube_client import YouTubeAnalyticsClient
from tests.budgets import ScriptedBudget

API = "youtube_analytics"
OLD = (date(2025, 1, 1), date(2025, 12, 31))
START, END = date(2026, 3, 1), date(2026, 3, 3)


@pytest.fixture
def conn(videos_db):
    with psycopg.connect(videos_db) as conn:
        conn.execute("TRUNCATE videos.creators CASCADE")  # sync_stats covers every video of the database
        conn.commit()
        yield conn


@pytest.fixture
def client(sandbox, session_env):
    sandbox.reset_faults()
    sandbox.clear_requests()
    with ApiClient(f"http://127.0.0.1:{session_env['http_port']}", headers={"Authorization": "Bearer t"},
                   sleep=lambda s: None, max_attempts=5) as api:
        yield YouTubeAnalyticsClient(api)
    sandbox.reset_faults()


def add_videos(conn, n: int, status: str = "success", prefix: str = "v") -> dict[int, str]:
    """n videos of one new creator, all published in 2025: {video id: platform id}."""
    (creator,) = conn.execute(
        "INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) RETURNING id",
        (prefix, f"{prefix}-{status}@example.com", f"UC{prefix}-{status}".ljust(24, "x"))).fetchone()
    platform_ids = [demo_stats.draw_video_id(f"{prefix}-{status}-{i}", OLD) for i in range(n)]
    rows = conn.execute(
        """INSERT INTO videos.videos (creator_id, platform_id, title, status, published_at)
           SELECT %s, p, 'video ' || p, %s, '2025-01-01' FROM unnest(%s::text[]) AS p
           RETURNING id, platform_id""", (creator, status, platform_ids)).fetchall()
    conn.commit()
    return dict(rows)


def stored(conn) -> dict[tuple[int, date], tuple]:
    return {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(
        "SELECT video_id, day, views, likes, comments, shares, watch_minutes FROM videos.daily_stats")}


def truth(videos: dict[int, str], start: date = START, end: date = END) -> dict[tuple[int, date], tuple]:
    out, day = {}, start
    while day <= end:
        for vid, pid in videos.items():
            out[(vid, day)] = tuple(demo_stats.daily_stats(pid, day))
        day += timedelta(days=1)
    return out


def test_sync_stores_the_apis_numbers_for_success_videos_only(conn, client):
    videos = add_videos(conn, 30)
    add_videos(conn, 2, status="failed")
    add_videos(conn, 2, status="pending")
    receipt = sync_stats(conn, client, START, END)
    assert stored(conn) == truth(videos)
    assert receipt == {"start_day": "2026-03-01", "end_day": "2026-03-03", "videos": 30, "batches": 1,
                       "unexpected": 0, "repeated": 0, "fetched": 90, "stored": 90, "malformed": 0,
                       "inserted": 90, "updated": 0}


def test_rerun_writes_nothing_and_changed_rows_are_rewritten(conn, client):
    videos = add_videos(conn, 10)
    sync_stats(conn, client, START, END)
    synced = dict(conn.execute("SELECT (video_id, day)::text, synced_at FROM videos.daily_stats").fetchall())

    again = sync_stats(conn, client, START, END)
    assert (again["inserted"], again["updated"], again["stored"]) == (0, 0, 30)
    assert dict(conn.execute("SELECT (video_id, day)::text, synced_at FROM videos.daily_stats").fetchall()) == synced

    # Rows that drifted (e.g. YouTube revised its numbers) are rewritten, and only those.
    conn.execute("UPDATE videos.daily_stats SET views = views + 1 WHERE day = %s", (END,))
    conn.execute("UPDATE videos.daily_stats SET shares = shares + 7 WHERE day = %s AND video_id = %s",
                 (START, min(videos)))
    conn.commit()
    fixed = sync_stats(conn, client, START, END)
    assert (fixed["inserted"], fixed["updated"]) == (0, 11)
    assert stored(conn) == truth(videos)


def test_a_longer_range_adds_days_and_keeps_the_rest(conn, client):
    videos = add_videos(conn, 5)
    sync_stats(conn, client, END, END)
    receipt = sync_stats(conn, client, START, END)
    assert (receipt["inserted"], receipt["updated"]) == (10, 0)
    assert stored(conn) == truth(videos)


def test_batches_respect_the_filter_limit(conn, client, sandbox):
    videos = add_videos(conn, 1_050)
    receipt = sync_stats(conn, client, END, END)
    calls = sandbox.requests(API)
    batches = [c["query"]["filters"].removeprefix("video==").split(",") for c in calls]
    assert [len(b) for b in batches] == [500, 500, 50]
    assert sorted(sum(batches, [])) == sorted(videos.values())
    assert (receipt["batches"], receipt["stored"]) == (3, 1_050)
    with pytest.raises(ValueError, match="batch_size must be 1..500"):
        sync_stats(conn, client, END, END, batch_size=501)


def test_small_batches_and_pages(conn, client, sandbox):
    videos = add_videos(conn, 7)
    client.page_size = 5
    receipt = sync_stats(conn, client, START, END, batch_size=3)
    assert stored(conn) == truth(videos)
    assert receipt["batches"] == 3
    assert len(sandbox.requests(API)) == 2 + 2 + 1  # 9, 9 and 3 rows in pages of 5


def test_repeated_and_unexpected_rows_are_skipped(conn, client):
    """Offset paging over a report that changed between pages can repeat a row; an answer can
    carry a video nobody asked for. Both are counted and skipped, the rest is stored."""
    videos = add_videos(conn, 3)

    class Sloppy:
        def daily_stats(self, video_ids, start, end, report):
            for row in client.daily_stats(video_ids, start, end, report):
                yield row
                yield row
            yield row.model_copy(update={"video": "not-asked-for"})

    receipt = sync_stats(conn, Sloppy(), START, END)
    assert (receipt["stored"], receipt["repeated"], receipt["unexpected"]) == (9, 9, 1)
    assert stored(conn) == truth(videos)


def test_429_and_5xx_are_retried(conn, client, sandbox):
    videos = add_videos(conn, 4)
    sandbox.set_faults(API, status_429=2, retry_after=1, status_5xx=2)
    sync_stats(conn, client, START, END)
    assert stored(conn) == truth(videos)
    assert [c["status"] for c in sandbox.requests(API)] == [429, 429, 503, 503, 200]


def test_a_few_malformed_rows_are_skipped_and_counted(conn, client, sandbox):
    videos = add_videos(conn, 100)
    sandbox.set_faults(API, malformed_fraction=0.03)
    receipt = sync_stats(conn, client, START, END)
    bad = sum(c["malformed"] for c in sandbox.requests(API))
    assert receipt["fetched"] == 300 and receipt["malformed"] == bad > 0
    assert receipt["stored"] == receipt["inserted"] == 300 - bad
    rows, right = stored(conn), truth(videos)
    assert len(rows) == 300 - bad and all(right[key] == value for key, value in rows.items())


def test_too_many_malformed_rows_fail_before_writing(conn, client, sandbox):
    add_videos(conn, 100)
    sandbox.set_faults(API, malformed_fraction=0.2)
    with pytest.raises(TooManyMalformed, match="of 300 records malformed"):
        sync_stats(conn, client, START, END)
    conn.rollback()
    assert stored(conn) == {}


def test_soft_time_limit_keeps_the_fetched_batches(conn, client):
    videos = add_videos(conn, 5)
    budget = ScriptedBudget([True, True, False])
    with pytest.raises(SoftTimeLimitExceeded) as stop:
        sync_stats(conn, client, END, END, batch_size=2, budget=budget)
    assert (stop.value.done, stop.value.total) == (2, 3)
    first_four = sorted(videos)[:4]
    assert stored(conn) == {k: v for k, v in truth(videos, END, END).items() if k[0] in first_four}


def test_the_demo_seed_holds_what_the_api_serves(conn, client):
    """The demo and the sandbox share one generator: syncing seeded days writes nothing, and
    seeding again gives the same rows."""
    from include.demo import videos_seed

    counts = videos_seed.seed(conn, 1, today=date(2026, 6, 10))
    conn.commit()
    assert counts["creators"] == 8 and counts["videos"] == 48 and counts["daily_stats"] > 30 * 180
    languages = dict(conn.execute("SELECT language, count(*) FROM videos.videos GROUP BY 1").fetchall())
    assert languages == {"en": 24, "zh": 24}
    assert conn.execute("SELECT min(day), max(day) FROM videos.daily_stats").fetchone() == \
        (date(2026, 6, 9) - timedelta(days=179), date(2026, 6, 9))
    receipt = sync_stats(conn, client, date(2026, 6, 7), date(2026, 6, 9))
    assert receipt["stored"] == receipt["videos"] * 3 > 0
    assert (receipt["inserted"], receipt["updated"]) == (0, 0)
    before = stored(conn)
    assert videos_seed.seed(conn, 1, today=date(2026, 6, 10)) == counts
    conn.commit()
    assert sorted(stored(conn).values()) == sorted(before.values())  # same numbers (ids are new)
