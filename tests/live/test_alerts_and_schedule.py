"""On a live LocalExecutor stack: the health check runs on its schedule and stores readings;
a failing task sends exactly one readable alert after its retries; a missed deadline sends
one email."""

from __future__ import annotations

import time

import psycopg
import pytest

pytestmark = pytest.mark.live


def test_failing_task_sends_one_alert_after_its_retries(live_local, sandbox):
    sandbox.clear_emails()
    run_id = live_local.trigger("fixture_always_fails")
    assert live_local.wait_for_run("fixture_always_fails", run_id) == "failed"
    [ti] = live_local.task_instances("fixture_always_fails", run_id)
    assert ti["try_number"] == 3, "2 retries, then the final failure"
    [mail] = sandbox.wait_for_emails(1, timeout=30, subject_contains="fixture_always_fails")
    time.sleep(3)  # no second alert trails in
    assert len(sandbox.emails(subject_contains="fixture_always_fails")) == 1
    assert mail["subject"] == f"[jobyard] FAILED fixture_always_fails.fail_always (run {run_id}, try 3)"
    assert mail["rcpt_tos"] == ["platform-owners@jobyard.local"]
    assert "deliberate failure for the alert test" in mail["html"]
    assert "/dags/fixture_always_fails/runs/" in mail["html"], "the log link"


def test_missed_deadline_sends_one_email(live_local, sandbox):
    sandbox.clear_emails()
    run_id = live_local.trigger("fixture_misses_deadline")
    [mail] = sandbox.wait_for_emails(1, timeout=60, subject_contains="DEADLINE MISSED")
    assert mail["subject"] == f"[jobyard] DEADLINE MISSED fixture_misses_deadline (run {run_id})"
    assert mail["rcpt_tos"] == ["platform-owners@jobyard.local"]
    state = live_local.api("GET", f"/dags/fixture_misses_deadline/dagRuns/{run_id}")["state"]
    assert state == "running", "the alert went out while the run was still going"
    assert live_local.wait_for_run("fixture_misses_deadline", run_id) == "success"
    assert len(sandbox.emails(subject_contains="DEADLINE MISSED")) == 1


def test_health_check_runs_on_its_schedule(live_local, app_db):
    live_local.wait_for_dag("platform_health_check")
    live_local.api("PATCH", "/dags/platform_health_check", {"is_paused": False})
    deadline = time.monotonic() + 120
    runs = []
    while time.monotonic() < deadline:
        runs = [r for r in live_local.api("GET", "/dags/platform_health_check/dagRuns")["dag_runs"]
                if r["run_type"] == "scheduled" and r["state"] == "success"]
        if runs:
            break
        live_local.check_alive()
        time.sleep(2)
    assert runs, "no scheduled run of platform_health_check succeeded"
    with psycopg.connect(app_db) as conn:
        checks = dict(conn.execute(
            "SELECT check_name, count(*) FROM platform.health_readings WHERE checked_at = %s GROUP BY 1",
            (runs[0]["data_interval_end"],)).fetchall())
    assert set(checks) == {"database", "redis", "disk", "memory", "backlog"}


@pytest.mark.parametrize("dag_id", ["platform_cleanup_metadata", "platform_backup_database"])
def test_platform_jobs_run_on_a_real_worker(live_local, dag_id):
    """Task processes of a real executor have no metadata-database access and their own
    environment: the platform jobs must work there, not only in dag.test()."""
    run_id = live_local.trigger(dag_id)
    assert live_local.wait_for_run(dag_id, run_id) == "success", live_local.task_instances(dag_id, run_id)
