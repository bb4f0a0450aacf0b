"""videos_adsense_sync end to end with dag.test(): the last 3 days before the run land with
exact money, a rerun changes nothing, AdSense's revision of a day is updated, the days_back
variable widens the window, and a connection without an account fails clearly."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import requests

from include.demo import videos_stats as demo_stats
from tests.e2e.conftest import run_dag, task_states

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # interval [06-01 09:00, 06-02 09:00): day 2026-06-01
DAY = date(2026, 6, 1)


@pytest.fixture
def account(monkeypatch, session_env, sandbox):
    """An AdSense account of this test only, in the `adsense_api` connection."""
    pub = f"pub-{random.randrange(10**15, 10**16)}"
    base = f"http://127.0.0.1:{session_env['http_port']}"
    monkeypatch.setenv("AIRFLOW_CONN_ADSENSE_API", json.dumps({
        "conn_type": "http", "host": base, "password": "sandbox-only-token",
        "extra": {"auth": "bearer", "account_id": pub, "currency_code": "USD"}}))
    sandbox.reset_faults()
    requests.delete(f"{base}/_sandbox/adsense/revisions", timeout=10).raise_for_status()
    yield f"accounts/{pub}"
    requests.delete(f"{base}/_sandbox/adsense/revisions", timeout=10).raise_for_status()


def earnings(app_db, account: str) -> dict[date, tuple]:
    with psycopg.connect(app_db) as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            """SELECT day, estimated_earnings, page_views, clicks, currency, synced_at
                 FROM videos.adsense_earnings WHERE account_id = %s""", (account,))}


def expected(account: str, days, revised=()) -> dict[date, tuple]:
    return {d: (*demo_stats.adsense_day(account, d, 1 if d in revised else 0), "USD") for d in days}


def last_days(n: int, end: date = DAY) -> list[date]:
    return [end - timedelta(days=k) for k in range(n - 1, -1, -1)]


def test_sync_rerun_and_revision(repo_dags, app_db, session_env, account):
    dag = repo_dags["videos_adsense_sync"]
    run = run_dag(dag, T0)
    assert run.state == "success", task_states(run)
    first = earnings(app_db, account)
    assert {d: v[:-1] for d, v in first.items()} == expected(account, last_days(3))

    assert run_dag(dag, T0).state == "success"
    assert earnings(app_db, account) == first  # nothing rewritten, synced_at included

    requests.post(f"http://127.0.0.1:{session_env['http_port']}/_sandbox/adsense/revisions",
                  json={"days": [DAY.isoformat()]}, timeout=10).raise_for_status()
    assert run_dag(dag, T0).state == "success"
    revised = earnings(app_db, account)
    assert {d: v[:-1] for d, v in revised.items()} == expected(account, last_days(3), revised={DAY})
    assert revised[DAY][0] != first[DAY][0] and revised[DAY][-1] > first[DAY][-1]
    assert {d: v for d, v in revised.items() if d != DAY} == {d: v for d, v in first.items() if d != DAY}


def test_days_back_variable_widens_the_window(repo_dags, app_db, account, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_VIDEOS_ADSENSE_DAYS_BACK", "7")
    run = run_dag(repo_dags["videos_adsense_sync"], T0 + timedelta(days=10))
    assert run.state == "success", task_states(run)
    assert {d: v[:-1] for d, v in earnings(app_db, account).items()} == \
        expected(account, last_days(7, DAY + timedelta(days=10)))


def test_a_connection_without_account_fails(repo_dags, app_db, session_env, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ADSENSE_API", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{session_env['http_port']}",
        "password": "sandbox-only-token", "extra": {"auth": "bearer"}}))
    run = run_dag(repo_dags["videos_adsense_sync"], T0)
    assert run.state == "failed" and task_states(run) == {"sync_earnings": "failed"}
