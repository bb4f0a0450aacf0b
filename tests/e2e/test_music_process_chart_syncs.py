"""music_process_chart_syncs end to end with dag.test() against the sandbox's Soundcharts: the
due charts are synced in mapped tasks named by their slug, their executions end completed with
counts, rankings and new tracks land, next_sync_at moves on; a chart Soundcharts does not know
fails alone and the run fails naming it; a rerun with nothing due does nothing. And three syncs
at once never exceed the shared Redis limit in any window of the sandbox's request log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.demo import music_data
from tests.e2e.conftest import run_dag, task_states

DAG_ID = "music_process_chart_syncs"
RETENTION_DAYS = 3  # a few ranking dates per chart keep the run short


@pytest.fixture
def charts(app_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_RETENTION_DAYS", str(RETENTION_DAYS))
    with psycopg.connect(app_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings RESTART IDENTITY CASCADE")
        due = datetime.now(UTC) - timedelta(hours=2)
        for slug, frequency in (("us-daily", "daily"), ("shazam-top-200-us", "daily"), ("no-such-chart", "daily")):
            conn.execute("""WITH c AS (INSERT INTO music.charts (slug, name, platform, frequency)
                                       VALUES (%s, %s, 'spotify', %s) RETURNING id, frequency)
                            INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
                            SELECT id, frequency, %s FROM c""", (slug, slug, frequency, due))
    return app_db


def executions(app_db) -> dict[str, tuple]:
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("""
            SELECT c.slug, e.status, e.periods_synced, e.rankings_created, e.tracks_created, e.error
              FROM music.chart_sync_executions e JOIN music.chart_sync_schedules s ON s.id = e.schedule_id
              JOIN music.charts c ON c.id = s.chart_id ORDER BY e.id""").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_due_charts_sync_in_mapped_tasks_and_a_failing_chart_fails_the_run_alone(repo_dags, charts, sandbox):
    sandbox.clear_requests()
    run = run_dag(repo_dags[DAG_ID], datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    assert run.state == "failed", task_states(run)  # no-such-chart failed; the others are stored
    done = executions(charts)
    oldest = datetime.now(UTC) - timedelta(days=RETENTION_DAYS)
    dates = [d for d in music_data.ranking_dates("us-daily") if datetime(d.year, d.month, d.day, tzinfo=UTC) >= oldest]
    assert done["us-daily"][:3] == ("completed", len(dates), 200 * len(dates))
    assert done["shazam-top-200-us"][0] == "completed"
    assert done["no-such-chart"][0] == "failed" and "404: Chart 'no-such-chart' not found" in done["no-such-chart"][4]
    tis = {(ti.task_id, ti.rendered_map_index): ti.state for ti in run.get_task_instances()}
    assert tis[("sync_chart", "us-daily")] == "success" and tis[("sync_chart", "no-such-chart")] == "failed"
    assert tis[("check_syncs", None)] == "failed" and tis[("announce_new_tracks", None)] == "success"
    with psycopg.connect(charts) as conn:
        stored = conn.execute("SELECT count(*) FROM music.chart_rankings r JOIN music.charts c ON c.id = r.chart_id "
                              "WHERE c.slug = 'us-daily'").fetchone()[0]
        next_at, due_failed = conn.execute("""
            SELECT max(next_sync_at) FILTER (WHERE c.slug = 'us-daily'),
                   max(next_sync_at) FILTER (WHERE c.slug = 'no-such-chart')
              FROM music.chart_sync_schedules s JOIN music.charts c ON c.id = s.chart_id""").fetchone()
        tracks = conn.execute("SELECT count(*) FROM music.tracks").fetchone()[0]
    assert stored == 200 * len(dates) and tracks >= 200
    assert next_at > datetime.now(UTC) and due_failed < datetime.now(UTC)
    calls = sandbox.requests("soundcharts")
    assert calls and all(c["headers"].get("x-app-id") for c in calls)

    # Nothing else due (the failed chart aside): a second run syncs only that one again
    sandbox.clear_requests()
    again = run_dag(repo_dags[DAG_ID], datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
                    + timedelta(hours=1))
    assert again.state == "failed"
    assert {c["path"].split("/")[5] for c in sandbox.requests("soundcharts")} == {"no-such-chart"}


def test_three_syncs_at_once_share_the_limit_in_every_window(app_db, sandbox, monkeypatch, session_env):
    """The limiter is shared through Redis: three concurrent syncs (as three mapped tasks on
    three workers would run) stay within 2 requests per 2 s in every sliding window."""
    import redis

    from include.common.db import connect
    from include.common.http import ApiClient
    from include.common.rate_limit import Limit, RedisRateLimiter
    from include.music.chart_sync import claim_due_schedules, sync_chart
    from include.music.soundcharts_client import SoundchartsClient

    with psycopg.connect(app_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings RESTART IDENTITY CASCADE")
        for slug in ("us-daily", "shazam-top-200-us", "global-28"):
            conn.execute("""WITH c AS (INSERT INTO music.charts (slug, name, platform, frequency)
                                       VALUES (%s, %s, 'spotify', 'daily') RETURNING id)
                            INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
                            SELECT id, 'daily', now() - interval '1 hour' FROM c""", (slug, slug))
    now = datetime.now(UTC)
    with connect(app_db) as conn:
        claims = claim_due_schedules(conn, now, "limit-test")
    limit = Limit(2, 2.0, guard=0.2)  # the guard covers the grant-to-arrival delay (rate_limit.py)
    key = f"limit-test-{now.timestamp()}"
    client = redis.Redis.from_url(session_env["redis"])
    sandbox.clear_requests()
    errors: list[BaseException] = []

    def one(claim):
        try:
            api = ApiClient(sandbox.base_url, headers={"x-app-id": "a", "x-api-key": "k"},
                            rate_limiter=RedisRateLimiter(client, key, limit))
            with SoundchartsClient(api) as soundcharts, connect(app_db) as conn:
                sync_chart(conn, soundcharts, claim, now=now, run_id="limit-test", retention_days=1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    times = sorted(datetime.fromisoformat(c["time"]).timestamp() for c in sandbox.requests("soundcharts"))
    assert len(times) >= 6
    worst = max(sum(1 for t in times if start <= t < start + limit.period) for start in times)
    assert worst <= limit.rate, f"{worst} requests in one {limit.period} s window"
