"""videos_analytics_sync end to end with dag.test(): the interval's day of every success video
is stored with the sandbox's numbers, the run emits one `videos_stats` asset event, a rerun of
the hour changes nothing; days_back from --conf; a bad --conf and an API outage fail."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.demo import videos_stats as demo_stats
from tests.e2e.conftest import run_dag, task_states

T0 = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # interval [09:00, 10:00) of 2026-06-02
DAY = date(2026, 6, 2)


@pytest.fixture
def api_connection(monkeypatch, session_env, sandbox):
    def configure(**extra):
        monkeypatch.setenv("AIRFLOW_CONN_VIDEOS_ANALYTICS_API", json.dumps({
            "conn_type": "http", "host": f"http://127.0.0.1:{session_env['http_port']}",
            "password": "sandbox-only-token", "extra": {"auth": "bearer", "ids": "channel==MINE", **extra}}))

    sandbox.reset_faults()
    configure()
    yield configure
    sandbox.reset_faults()


@pytest.fixture
def my_videos(app_db):
    """Three success videos and one failed video of a creator of this test only."""
    tag = secrets.token_hex(4)
    ids = [demo_stats.draw_video_id(f"e2e-{tag}-{i}", (date(2025, 1, 1), date(2026, 5, 1))) for i in range(4)]
    with psycopg.connect(app_db) as conn:
        (creator,) = conn.execute(
            "INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) RETURNING id",
            (f"e2e {tag}", f"e2e-{tag}@example.com", f"UCe2e{tag}".ljust(24, "x"))).fetchone()
        rows = conn.execute(
            """INSERT INTO videos.videos (creator_id, platform_id, title, status, published_at)
               SELECT %s, p, 'e2e ' || p, s, '2025-01-01' FROM unnest(%s::text[], %s::text[]) AS v(p, s)
               RETURNING id, platform_id, status""",
            (creator, ids, ["success", "success", "success", "failed"])).fetchall()
    yield {vid: pid for vid, pid, status in rows if status == "success"}, [vid for vid, _, s in rows if s == "failed"]
    with psycopg.connect(app_db) as conn:
        conn.execute("DELETE FROM videos.creators WHERE id = %s", (creator,))


def stats(app_db, video_ids) -> dict[tuple[int, date], tuple]:
    with psycopg.connect(app_db) as conn:
        return {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(
            """SELECT video_id, day, views, likes, comments, shares, watch_minutes, synced_at
                 FROM videos.daily_stats WHERE video_id = ANY(%s)""", (list(video_ids),))}


def expected(videos: dict[int, str], days) -> dict[tuple[int, date], tuple]:
    return {(vid, d): tuple(demo_stats.daily_stats(pid, d)) for vid, pid in videos.items() for d in days}


def asset_events(airflow_db, run_id: str) -> list[tuple]:
    with psycopg.connect(airflow_db) as conn:
        return conn.execute(
            """SELECT e.source_dag_id, e.source_task_id, e.extra FROM asset_event e
                 JOIN asset a ON a.id = e.asset_id
                WHERE a.name = 'videos_stats' AND e.source_run_id = %s""", (run_id,)).fetchall()


def receipt_of(airflow_db, run_id: str) -> dict:
    with psycopg.connect(airflow_db) as conn:
        (value,) = conn.execute(
            """SELECT value FROM xcom WHERE dag_id = 'videos_analytics_sync' AND run_id = %s
                  AND task_id = 'sync_stats' AND key = 'return_value'""", (run_id,)).fetchone()
    return value if isinstance(value, dict) else json.loads(value)


def test_sync_stores_the_hours_day_emits_the_asset_and_a_rerun_changes_nothing(
        repo_dags, app_db, airflow_db, sandbox, api_connection, my_videos):
    videos, failed = my_videos
    dag = repo_dags["videos_analytics_sync"]
    run = run_dag(dag, T0)
    assert run.state == "success", task_states(run)
    first = stats(app_db, list(videos) + failed)
    assert {k: v[:-1] for k, v in first.items()} == expected(videos, [DAY])

    [(dag_id, task_id, extra)] = asset_events(airflow_db, run.run_id)
    assert (dag_id, task_id) == ("videos_analytics_sync", "sync_stats")
    assert (extra["start_day"], extra["end_day"]) == ("2026-06-02", "2026-06-02") and extra["stored"] >= 3

    rerun = run_dag(dag, T0)
    assert rerun.state == "success", task_states(rerun)
    assert stats(app_db, videos) == first  # same numbers, not even synced_at rewritten
    receipt = receipt_of(airflow_db, rerun.run_id)
    assert (receipt["inserted"], receipt["updated"]) == (0, 0) and receipt["stored"] >= 3
    assert len(asset_events(airflow_db, rerun.run_id)) == 1


def test_days_back_from_conf(repo_dags, app_db, api_connection, my_videos):
    videos, _ = my_videos
    run = run_dag(repo_dags["videos_analytics_sync"], T0 + timedelta(days=1), conf={"days_back": 3})
    assert run.state == "success", task_states(run)
    days = [DAY + timedelta(days=n) for n in range(-1, 2)]
    assert {k: v[:-1] for k, v in stats(app_db, videos).items()} == expected(videos, days)


def test_a_bad_conf_is_refused_naming_the_field(repo_dags, api_connection):
    with pytest.raises(Exception, match="days_back"):
        run_dag(repo_dags["videos_analytics_sync"], T0, conf={"days_back": 0})


def test_an_api_outage_fails_the_run_without_an_asset_event(repo_dags, app_db, airflow_db, sandbox,
                                                             api_connection, my_videos):
    videos, _ = my_videos
    api_connection(max_attempts=2)
    sandbox.set_faults("youtube_analytics", status_5xx=1000)
    run = run_dag(repo_dags["videos_analytics_sync"], T0 + timedelta(days=5))
    assert run.state == "failed"
    assert task_states(run) == {"sync_stats": "failed"}
    assert asset_events(airflow_db, run.run_id) == []
    assert not [k for k in stats(app_db, videos) if k[1] == DAY + timedelta(days=5)]
