"""music_sync_audience end to end with dag.test() against the sandbox's Soundcharts: the
window's days of every tracked track and configured platform land with the catalogue's values
(untracked tracks are left alone), a 429 with Retry-After is waited out, a rerun asks nothing
and the next day asks only for that day; malformed points (the sandbox's `malformed_fraction`)
are counted as the sandbox reports them, and an answer that is all malformed fails the run
before storing. The app database is shared: each test empties music.tracks first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import psycopg
import pytest

from include.demo import music_data
from include.music.soundcharts_client import AudiencePoint
from tests.e2e.conftest import run_dag, task_result, task_states

DAG_ID = "music_sync_audience"
DAYS = 5
PLATFORMS = ("spotify", "deezer")
DAY = date(2026, 6, 1)  # a fixed day (the sandbox's "today" is pinned after it), so its answers are fixed


def logical_for(day) -> datetime:
    """The logical date (= the interval's end, as dag.test infers it) whose run's day is `day`."""
    return datetime.combine(day + timedelta(days=1), time(4), tzinfo=UTC)


@pytest.fixture
def songs(app_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_AUDIENCE_DAYS", str(DAYS))
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_AUDIENCE_PLATFORMS", '["spotify", "deezer"]')
    monkeypatch.setenv("SANDBOX_MUSIC_TODAY", "2026-06-10")  # the sandbox serves days up to its today
    day = DAY
    released = [u for u in music_data.song_uuids() if music_data.release_day(u) < day - timedelta(days=60)]
    with psycopg.connect(app_db) as conn:
        conn.execute("TRUNCATE music.tracks RESTART IDENTITY CASCADE")
        for n, u in enumerate(released[:4]):
            conn.execute("INSERT INTO music.tracks (uuid, title, is_tracked) VALUES (%s, 't', %s)", (u, n < 3))
    return {"day": day, "tracked": released[:3], "untracked": released[3]}


def malformed_points(uuids, fraction: float) -> int:
    """How many of the window's points the sandbox's malformed switch makes our client refuse
    (its own corruption function on the answer's items)."""
    from sandbox.apis import soundcharts

    bad = 0
    for u in uuids:
        for p in PLATFORMS:
            items = [{"date": music_data.iso(d), "plots": [{"identifier": music_data.platform_id(u, p),
                                                            "value": music_data.audience(u, p, d)}]}
                     for d in sorted(DAY - timedelta(days=k) for k in range(DAYS))]
            request = SimpleNamespace(state=SimpleNamespace(malformed_fraction=fraction))
            for item in soundcharts._malformed(request, items, soundcharts.AUDIENCE_CORRUPTIONS):
                try:
                    AudiencePoint.model_validate(item)
                except ValueError:
                    bad += 1
    return bad


def stored(app_db) -> dict[tuple, int]:
    with psycopg.connect(app_db) as conn:
        return {(u, p, d): v for u, p, d, v in conn.execute(
            "SELECT t.uuid::text, a.platform, a.day, a.value FROM music.track_audience a "
            "JOIN music.tracks t ON t.id = a.track_id")}


def test_window_lands_a_429_is_waited_out_a_rerun_asks_nothing_and_the_next_day_one_day(
        repo_dags, app_db, sandbox, songs):
    day = songs["day"]
    sandbox.reset()
    sandbox.set_faults("soundcharts", status_429=1, retry_after=1)
    run = run_dag(repo_dags[DAG_ID], logical_for(day))
    assert run.state == "success", task_states(run)
    assert task_result(run, "sync_audience") == {"tracks": 3, "requests": 6, "points": 30, "inserted": 30,
                                                 "updated": 0, "malformed": 0, "not_found": 0, "batches": 1}
    window = [day - timedelta(days=k) for k in range(DAYS)]
    assert stored(app_db) == {(u, p, d): music_data.audience(u, p, d)
                              for u in songs["tracked"] for p in PLATFORMS for d in window}
    calls = sandbox.requests("soundcharts")
    assert [c["status"] for c in calls].count(429) == 1 and len(calls) == 7
    assert {(c["query"]["startDate"], c["query"]["endDate"]) for c in calls} == {(str(window[-1]), str(day))}

    sandbox.clear_requests()
    again = run_dag(repo_dags[DAG_ID], logical_for(day))
    assert again.state == "success", task_states(again)
    assert task_result(again, "sync_audience")["requests"] == 0 and sandbox.requests("soundcharts") == []

    nxt = run_dag(repo_dags[DAG_ID], logical_for(day + timedelta(days=1)))
    assert nxt.state == "success", task_states(nxt)
    assert task_result(nxt, "sync_audience")["inserted"] == 6
    assert {(c["query"]["startDate"], c["query"]["endDate"]) for c in sandbox.requests("soundcharts")} == \
        {(str(day + timedelta(days=1)),) * 2}


def test_malformed_points_are_counted_and_an_all_malformed_answer_fails(repo_dags, app_db, sandbox, songs):
    day = songs["day"]
    sandbox.reset()
    sandbox.set_faults("soundcharts", malformed_fraction=1.0)
    failed = run_dag(repo_dags[DAG_ID], logical_for(day))
    assert failed.state == "failed"
    assert stored(app_db) == {}, "nothing stored from a malformed batch"

    # A fraction whose corruption hits exactly one of the 30 points (3.3 %: counted, not fatal)
    fraction = next(f / 1000 for f in range(1, 200) if malformed_points(songs["tracked"], f / 1000) == 1)
    sandbox.reset()
    sandbox.set_faults("soundcharts", malformed_fraction=fraction)
    run = run_dag(repo_dags[DAG_ID], logical_for(day))
    assert run.state == "success", task_states(run)
    result = task_result(run, "sync_audience")
    assert result["malformed"] == 1 == sum(c["malformed"] for c in sandbox.requests("soundcharts"))
    assert result["points"] == result["inserted"] == 29 and len(stored(app_db)) == 29
