"""platform_backup_database and platform_cleanup_metadata, run end to end with dag.test()."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from include.platform.backup import find_pg_tool, server_major
from tests.e2e.conftest import run_dag, task_states


def test_backup_database_dumps_verifies_and_keeps_retention(repo_dags, app_db, session_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_BACKUP_KEEP_DAYS", "2")
    dag = repo_dags["platform_backup_database"]
    days = [datetime(2026, 3, d, 1, 30, tzinfo=UTC) for d in (1, 2, 3)]
    for logical in days:
        run = run_dag(dag, logical)
        assert run.state == "success", task_states(run)
    rerun = run_dag(dag, days[-1])  # same day again: replaces, never duplicates
    assert rerun.state == "success"

    with psycopg.connect(app_db) as conn:
        rows = conn.execute(
            "SELECT for_day, path, size_bytes, toc_entries, deleted_at IS NOT NULL "
            "FROM platform.backups WHERE for_day BETWEEN '2026-02-01' AND '2026-03-31' ORDER BY for_day").fetchall()
    dbname = session_env["names"]["app"]
    # The data interval of the run at 03-0N 01:30 is the previous day.
    assert [r[0].isoformat() for r in rows] == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert [r[4] for r in rows] == [True, False, False], "keep 2 days: the oldest is removed"
    kept = [Path(r[1]) for r in rows if not r[4]]
    assert all(p.exists() and p.parent == tmp_path / dbname for p in kept)
    assert not Path(rows[0][1]).exists()
    assert sorted(p.name for p in (tmp_path / dbname).iterdir()) == [p.name for p in kept], "no stray files"
    assert all(r[2] > 0 and r[3] > 5 for r in rows), "a real dump lists the platform tables"
    pg_restore = find_pg_tool("pg_restore", server_major(app_db))
    listing = subprocess.run([pg_restore, "--list", str(kept[-1])], capture_output=True, text=True, check=True)
    assert "platform health_readings" in listing.stdout


def test_backup_fails_loudly_when_the_database_is_unreachable(repo_dags, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_VIDEOS_DB", '{"conn_type": "postgres", "host": "127.0.0.1", '
                       '"port": 1, "login": "postgres", "schema": "nowhere"}')
    run = run_dag(repo_dags["platform_backup_database"], datetime(2026, 4, 1, 1, 30, tzinfo=UTC))
    assert run.state == "failed"
    assert not list(tmp_path.rglob("*.partial")), "no half-written dump is left behind"


def test_cleanup_metadata_purges_runs_older_than_30_days(repo_dags, session_env):
    old = datetime(2026, 1, 2, 1, 30, tzinfo=UTC)
    cleanup = repo_dags["platform_cleanup_metadata"]
    airflow_db = session_env["airflow_db"]

    def runs(dag_id):
        with psycopg.connect(airflow_db) as conn:
            return conn.execute("SELECT count(*) FROM dag_run WHERE dag_id = %s AND logical_date < %s",
                                (dag_id, old + timedelta(days=1))).fetchone()[0]

    # An old run to purge (any DAG): a cleanup run two months later must delete it.
    run_dag(cleanup, old)
    assert runs("platform_cleanup_metadata") == 1
    run = run_dag(cleanup, old + timedelta(days=60))
    assert run.state == "success", task_states(run)
    assert runs("platform_cleanup_metadata") == 0
