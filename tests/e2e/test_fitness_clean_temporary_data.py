"""fitness_clean_temporary_data end to end with dag.test(): expired uploads and their files go,
newer ones stay, a path outside the root is refused, stale cached stats are recomputed, and a
rerun deletes and refreshes nothing. The shared app database may hold other tests' uploads:
the assertions are on this test's rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.include.fitness import job_data as data

T = datetime(2031, 7, 2, 0, 0, tzinfo=UTC)  # the run of midnight: its interval ends then


def test_cleanup_and_rerun(repo_dags, app_db, tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_FITNESS_UPLOAD_ROOT", str(root))
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(app_db) as conn:
        uid = data.user(conn, "Cleaner", tag=tag)
        ids = {}
        for name, path, age in (("old", f"old{tag}.tmp", timedelta(hours=30)),
                                ("new", f"new{tag}.tmp", timedelta(hours=2)),
                                ("evil", "../keep.txt", timedelta(days=2))):
            if name != "evil":
                (root / path).write_bytes(b"x")
            ids[name] = conn.execute("INSERT INTO fitness.temporary_uploads (user_id, file_path, created_at) "
                                     "VALUES (%s, %s, %s) RETURNING id", (uid, path, T - age)).fetchone()[0]
        data.workout(conn, uid, T - timedelta(days=3), 25, 250)
        conn.execute("INSERT INTO fitness.cached_stats (user_id, stats, last_updated) VALUES (%s, '{}', %s)",
                     (uid, T - timedelta(days=10)))
    dag = repo_dags["fitness_clean_temporary_data"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    result = task_result(run, "clean_temporary_data")
    assert result["deleted_uploads"] >= 2 and result["deleted_files"] >= 1 and result["refused_files"] >= 1
    assert result["stats_refreshed"] >= 1
    with psycopg.connect(app_db) as conn:
        left = {r[0] for r in conn.execute("SELECT id FROM fitness.temporary_uploads WHERE user_id = %s", (uid,))}
        stats, updated = conn.execute("SELECT stats, last_updated FROM fitness.cached_stats WHERE user_id = %s",
                                      (uid,)).fetchone()
    assert left == {ids["new"]}
    assert not (root / f"old{tag}.tmp").exists() and (root / f"new{tag}.tmp").exists()
    assert outside.read_text() == "keep"
    assert (stats["workouts"], stats["total_minutes"], stats["total_calories"]) == (1, 25, 250) and updated == T

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "clean_temporary_data")
    assert (again["deleted_uploads"], again["stats_refreshed"], again["batches"]) == (0, 0, 0)
