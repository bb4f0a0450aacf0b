"""ads_detect_anomalies end to end with dag.test(): an hourly run scores the last complete UTC
days, records the planted CPA spike once and emails its user once; the steady campaign and
an inactive user's anomaly (recorded) send nothing; a rerun records and sends nothing."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.include.ads import _builders as build

RUN_END = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)  # the hourly interval [09:00, 10:00) of 07-15
YESTERDAY = date(2026, 7, 14)


def steady(i: int) -> tuple:
    spend = round(300 * (1 + 0.08 * math.sin(i * 1.3)), 2)
    return spend, round(spend / (25 * (1 + 0.04 * math.sin(i * 2.1))), 2), round(spend * 2.5, 2)


@pytest.fixture
def accounts(app_db) -> dict:
    with psycopg.connect(app_db) as conn:
        uid, email = build.user(conn, name="Owner")
        idle_uid, idle_email = build.user(conn, name="Idle", active=False)
        acct, idle_acct = build.account(conn, uid, name="E2E Shop"), build.account(conn, idle_uid, name="Idle")
        rows = [steady(i) for i in range(45)]
        spike = build.campaign(conn, acct, name="Spiky")
        build.stats(conn, acct, spike, YESTERDAY, rows[:-1] + [(300, 3, 750)])  # CPA 100 vs about 25
        calm = build.campaign(conn, acct, name="Calm")
        build.stats(conn, acct, calm, YESTERDAY, rows)
        idle = build.campaign(conn, idle_acct, name="Idle spike")
        build.stats(conn, idle_acct, idle, YESTERDAY, rows[:-1] + [(300, 1, 750)])
        # Today's partial day looks terrible but is never compared with whole days.
        build.stats(conn, acct, calm, YESTERDAY + timedelta(days=1), [(50, 0.1, 1)])
    return {"email": email, "idle_email": idle_email, "account": acct, "spike": spike, "calm": calm, "idle": idle,
            "idle_account": idle_acct}


def _anomalies(dsn: str, account_ids: tuple[int, ...]) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id, campaign_id, metric, period_start FROM ads.anomalies "
                            "WHERE account_id = ANY(%s) ORDER BY id", (list(account_ids),)).fetchall()


def test_spike_recorded_and_emailed_once(repo_dags, sandbox, app_db, accounts):
    dag = repo_dags["ads_detect_anomalies"]
    run = run_dag(dag, RUN_END)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "detect_anomalies")
    assert receipt["first_day"] == "2026-07-12" and receipt["last_day"] == "2026-07-14"
    assert receipt["inserted"] >= 2 and receipt["batches"] >= 1

    mine = _anomalies(app_db, (accounts["account"],))
    assert [(c, m, d.astimezone(UTC).date()) for _, c, m, d in mine] == [(accounts["spike"], "cpa", YESTERDAY)]
    [mail] = sandbox.emails(to=accounts["email"])
    assert mail["dedupe_key"] == f"ads-anomaly:{mine[0][0]}"
    assert mail["subject"].startswith("CPA spike on 2026-07-14: Spiky (E2E Shop), 100.00 USD vs ")
    assert "Robust z-score" in mail["text"]
    [idle] = _anomalies(app_db, (accounts["idle_account"],))  # recorded, but its user is not active
    assert idle[1:3] == (accounts["idle"], "cpa") and sandbox.emails(to=accounts["idle_email"]) == []

    rerun = run_dag(dag, RUN_END)  # a clear, or the asset's next event
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "detect_anomalies")
    assert again["inserted"] == 0 and again["emails_queued"] == 0 and again["flagged"] >= 2
    assert len(sandbox.emails(to=accounts["email"])) == 1
    assert _anomalies(app_db, (accounts["account"],)) == mine
