"""ads_check_token_expiry end to end with dag.test() against the sandbox: each platform's
tokens get what they need, every account that must be reconnected gets ONE email (delivered
by the run), a rerun sends none, and the accounts are marked."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tests.e2e.ads_support import add, empty_ads, fresh_ids, session_cipher
from tests.e2e.conftest import run_dag, task_result, task_states

T0 = datetime(2026, 3, 31, 2, 0, tzinfo=UTC)


@pytest.fixture
def ads(app_db, sandbox):
    sandbox.reset_faults()
    sandbox.clear_emails()
    empty_ads(app_db)
    yield fresh_ids()
    empty_ads(app_db)


def statuses(app_db: str) -> dict[str, str]:
    with psycopg.connect(app_db) as conn:
        return dict(conn.execute("SELECT external_account_id, status FROM ads.ad_accounts").fetchall())


def test_tokens_checked_one_email_per_broken_account_and_a_silent_rerun(repo_dags, app_db, sandbox, ads):
    add(app_db, "meta", "act_1", "system-e2e", email="sys@ads.test")
    expiring = add(app_db, "meta", "act_2", "expiring-e2e", email="exp@ads.test")
    add(app_db, "meta", "act_3", "stale-e2e", email="stale@ads.test")
    add(app_db, "google", ads["google"], "ya29.old", refresh_token="demo-e2e", email="g@ads.test")
    add(app_db, "google", "1234567890", "ya29.old", refresh_token="revoked-e2e", email="g-revoked@ads.test")
    add(app_db, "tiktok", ads["tiktok"], "act.e2e", email="t@ads.test")
    add(app_db, "tiktok", "7000000000000000009", "revoked-e2e", email="t-revoked@ads.test")
    dag = repo_dags["ads_check_token_expiry"]
    run = run_dag(dag, T0)
    assert run.state == "success", task_states(run)
    assert task_result(run, "check_meta_tokens")["extended"] == 1
    assert task_result(run, "check_google_tokens")["refreshed"] == 1
    assert task_result(run, "check_tiktok_tokens")["needs_reauth"] == ["tiktok:7000000000000000009"]
    assert statuses(app_db) == {"act_1": "active", "act_2": "active", "act_3": "needs_reauth",
                                ads["google"]: "active", "1234567890": "needs_reauth",
                                ads["tiktok"]: "active", "7000000000000000009": "needs_reauth"}
    emails = sandbox.wait_for_emails(3, subject_contains="Reconnect")
    assert sorted(r for e in emails for r in e["rcpt_tos"]) == ["g-revoked@ads.test", "stale@ads.test",
                                                          "t-revoked@ads.test"]
    with psycopg.connect(app_db) as conn:
        token = conn.execute("SELECT access_token_enc FROM ads.ad_account_tokens WHERE account_id = %s",
                             (expiring,)).fetchone()[0]
    assert session_cipher().decrypt(token).startswith("long-")

    again = run_dag(dag, T0)
    assert again.state == "success"
    assert task_result(again, "check_meta_tokens")["alerts_queued"] == 0
    assert len(sandbox.emails(subject_contains="Reconnect")) == 3


def test_a_platform_outage_fails_its_task_and_the_other_alerts_still_go_out(repo_dags, app_db, sandbox, ads,
                                                                            monkeypatch, session_env):
    import json

    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_ADS_API", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{session_env['http_port']}", "login": "app",
        "password": "secret", "extra": {"max_attempts": 1}}))
    sandbox.set_faults("tiktok_ads", status_5xx=5)
    add(app_db, "tiktok", ads["tiktok"], "act.e2e")
    add(app_db, "meta", "act_5", "revoked-e2e", email="meta-revoked@ads.test")
    run = run_dag(repo_dags["ads_check_token_expiry"], T0)
    states = task_states(run)
    assert run.state == "failed" and states["check_tiktok_tokens"] == "failed"
    assert states["check_meta_tokens"] == "success" and states["deliver_notifications"] == "success"
    assert [e["rcpt_tos"] for e in sandbox.wait_for_emails(1, subject_contains="Reconnect")] == \
        [["meta-revoked@ads.test"]]
    assert statuses(app_db)[ads["tiktok"]] == "active"  # an outage is no verdict: not marked
