"""platform_deliver_notifications end to end with dag.test(): the session's Airflow and app
databases, the session sandbox behind `smtp_default`, and `fcm_api` first missing, then set."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg

from include.common.outbox import OutboxMessage, enqueue
from tests.e2e.conftest import run_dag


def test_sweeper_run_delivers_email_and_waits_for_fcm(repo_dags, app_db, sandbox, session_env, monkeypatch):
    tag = uuid.uuid4().hex[:8]
    health = {"check_name": "database", "target": f"db_{tag}", "ok": False, "detail": "refused",
              "changed_at": "2026-03-01T10:00:00+00:00"}
    messages = [OutboxMessage(f"dag:{tag}:{i}", "email", "platform", f"ops{i}@jobyard.local",
                              "platform/health_alert", health) for i in range(3)]
    messages.append(OutboxMessage(f"dag:{tag}:push", "push", "platform", "device-7", "platform/health_alert", health))
    with psycopg.connect(app_db) as conn:
        assert enqueue(conn, messages) == 4
        conn.commit()
    monkeypatch.delenv("AIRFLOW_CONN_FCM_API", raising=False)

    deliver_dag = repo_dags["platform_deliver_notifications"]
    run = run_dag(deliver_dag, datetime(2026, 3, 1, 10, 5, tzinfo=UTC))
    assert run.state == "success"
    arrived = [e for e in sandbox.emails() if (e["dedupe_key"] or "").startswith(f"dag:{tag}:")]
    assert sorted(e["dedupe_key"] for e in arrived) == [f"dag:{tag}:{i}" for i in range(3)]
    assert all(e["mail_from"] == "jobyard@localhost" for e in arrived)
    with psycopg.connect(app_db, autocommit=True) as conn:
        status, error, unreachable, wait = conn.execute(
            "SELECT status, last_error, unreachable, next_attempt_at - now() FROM platform.outbox "
            "WHERE dedupe_key = %s", (f"dag:{tag}:push",)).fetchone()
        assert status == "pending" and "'fcm_api' is not defined" in error
        assert unreachable and wait.total_seconds() > 200  # backoff 5 min, but held back by the missing channel

    # fcm_api is defined: the next sweep probes FCM and sends the push at once, not after its backoff.

    monkeypatch.setenv("AIRFLOW_CONN_FCM_API", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{session_env['http_port']}",
        "password": "sandbox-token", "extra": {"project_id": "jobyard-demo"}}))
    rerun = run_dag(deliver_dag, datetime(2026, 3, 1, 10, 10, tzinfo=UTC))
    assert rerun.state == "success"
    assert [p["token"] for p in sandbox.pushes() if p["token"] == "device-7"] == ["device-7"]
    again = [e for e in sandbox.emails() if (e["dedupe_key"] or "").startswith(f"dag:{tag}:")]
    assert len(again) == 3  # the second run sent no email twice
