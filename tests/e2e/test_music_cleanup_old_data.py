"""music_cleanup_old_data end to end with dag.test(): rankings and audience rows older than
`music_retention_days` before the interval's end go, the newer stay, a rerun deletes nothing,
a bad retention fails at once without deleting. The app database is shared: each test
empties the music tables first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

DAG_ID = "music_cleanup_old_data"
T = datetime(2026, 7, 2, 2, 0, tzinfo=UTC)  # logical date = the data interval's end
DAY = timedelta(days=1)


@pytest.fixture
def series(app_db):
    """One chart with 5 positions and one track on 2 platforms, every day from T - 100 to T - 1."""
    with psycopg.connect(app_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings RESTART IDENTITY CASCADE")
        chart_id = conn.execute("INSERT INTO music.charts (slug, name, platform, frequency) "
                                "VALUES ('old-data', 'c', 'spotify', 'daily') RETURNING id").fetchone()[0]
        track_id = conn.execute("INSERT INTO music.tracks (uuid, title) VALUES (gen_random_uuid(), 't') "
                                "RETURNING id").fetchone()[0]
        conn.execute("""INSERT INTO music.chart_rankings (chart_id, ranking_date, position, track_id)
                        SELECT %s, %s - d * interval '1 day', p, %s
                          FROM generate_series(1, 100) d, generate_series(1, 5) p""",
                     (chart_id, T.replace(hour=0), track_id))
        conn.execute("""INSERT INTO music.track_audience (track_id, platform, day, value)
                        SELECT %s, p, %s::date - d, d FROM generate_series(1, 100) d,
                               unnest(ARRAY['spotify', 'deezer']) p""", (track_id, T.date()))
    return app_db


def oldest(app_db) -> tuple:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT (SELECT min(ranking_date) FROM music.chart_rankings), "
                            "(SELECT min(day) FROM music.track_audience), "
                            "(SELECT count(*) FROM music.chart_rankings), "
                            "(SELECT count(*) FROM music.track_audience)").fetchone()


def test_old_rows_go_new_ones_stay_and_a_rerun_deletes_nothing(repo_dags, series, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_RETENTION_DAYS", "30")
    run = run_dag(repo_dags[DAG_ID], T)
    assert run.state == "success", task_states(run)
    # cutoff T - 30 d = 06-02 02:00: rankings of 06-02 00:00 and before go (days 30..100 back: 71),
    # audience days before 06-02 go (days 31..100 back: 70).
    assert task_result(run, "delete_old_data") == {"rankings": 71 * 5, "audience": 70 * 2, "batches": 2}
    assert oldest(series) == (datetime(2026, 6, 3, tzinfo=UTC), date(2026, 6, 2), 29 * 5, 30 * 2)
    again = run_dag(repo_dags[DAG_ID], T)
    assert again.state == "success", task_states(again)
    assert task_result(again, "delete_old_data") == {"rankings": 0, "audience": 0, "batches": 0}


def test_a_bad_retention_fails_at_once_and_deletes_nothing(repo_dags, series, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_RETENTION_DAYS", "0")
    dag = repo_dags[DAG_ID]
    for task in dag.tasks:  # retries left on, without a delay: a retry would show as try 2
        task.retries, task.retry_delay = 3, timedelta(0)
    dag.deadline = None
    run = dag.test(logical_date=T + DAY)
    assert run.state == "failed"
    [ti] = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1
    assert oldest(series)[2:] == (100 * 5, 100 * 2)
