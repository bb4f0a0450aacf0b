"""fitness_aggregate_trending_workouts end to end with dag.test(): the day before the run is
ranked from its 7-day window, the top N variable is honoured, a rerun writes nothing. The
run is in 2031, where only this test's workouts are."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.include.fitness import job_data as data

T = datetime(2031, 6, 11, 1, 0, tzinfo=UTC)  # the run of 01:00 ranks June 10
DAY = date(2031, 6, 10)


def test_trending_day_and_rerun(repo_dags, app_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FITNESS_TRENDING_TOP_N", "2")
    tag = uuid.uuid4().hex[:8]
    kinds = {f"hiit{tag}": 3, f"pilates{tag}": 2, f"climb{tag}": 1}
    with psycopg.connect(app_db) as conn:
        uid = data.user(conn, "Trendy", tag=tag)
        squat = data.exercise(conn, f"squat {tag}")
        for kind, uses in kinds.items():
            for i in range(uses):
                w = data.workout(conn, uid, datetime(2031, 6, 10 - i, 7, tzinfo=UTC), 20, kind=kind)
                data.workout_exercise(conn, w, squat, 1)
        data.workout(conn, uid, datetime(2031, 6, 1, 7, tzinfo=UTC), 20, kind=f"hiit{tag}")  # the week before
        data.workout(conn, uid, datetime(2031, 6, 11, 0, 30, tzinfo=UTC), 20, kind=f"climb{tag}")  # after D
    dag = repo_dags["fitness_aggregate_trending_workouts"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    result = task_result(run, "rank_trending")
    assert result["day"] == DAY.isoformat() and result["workouts"]["ranked"] == 2
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT rank, workout_type, uses, previous, growth FROM fitness.trending_workouts "
                            "WHERE day = %s ORDER BY rank", (DAY,)).fetchall()
        exercises = conn.execute("SELECT rank, exercise_id, uses FROM fitness.trending_exercises WHERE day = %s",
                                 (DAY,)).fetchall()
    assert rows == [(1, f"hiit{tag}", 3, 1, 2.0), (2, f"pilates{tag}", 2, 0, None)]
    assert exercises == [(1, squat, 6)]
    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "rank_trending")
    assert again["workouts"]["written"] == 0 and again["exercises"]["written"] == 0
    assert again["workouts"]["deleted"] == 0


def test_bad_top_n_fails_without_writing(repo_dags, app_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FITNESS_TRENDING_TOP_N", "0")
    run = run_dag(repo_dags["fitness_aggregate_trending_workouts"], T + timedelta(days=30))
    assert run.state == "failed"
    with psycopg.connect(app_db) as conn:
        assert conn.execute("SELECT count(*) FROM fitness.trending_workouts WHERE day = %s",
                            (DAY + timedelta(days=30),)).fetchone()[0] == 0
