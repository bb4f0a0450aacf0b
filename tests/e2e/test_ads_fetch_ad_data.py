"""ads_fetch_ad_data end to end with dag.test() against the sandbox's three ad APIs: the
interval's day plus the restatement look-back lands for every platform with exact money, the
asset event is emitted, a rerun writes nothing (and emits nothing); a revoked token fails the
run naming its account while the other accounts land."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.demo import ads_data
from tests.e2e.ads_support import add, empty_ads, fresh_ids
from tests.e2e.conftest import run_dag, task_result, task_states

T0 = datetime(2026, 3, 31, 6, 0, tzinfo=UTC)  # interval [03-31 00:00, 06:00): day 2026-03-31
DAY = date(2026, 3, 31)


@pytest.fixture
def ads(app_db, sandbox, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", DAY.isoformat())
    monkeypatch.setenv("AIRFLOW_VAR_ADS_RESTATEMENT_DAYS", "3")
    sandbox.reset_faults()
    empty_ads(app_db)
    yield fresh_ids()
    empty_ads(app_db)


def stats(app_db: str, account_id: int) -> dict:
    with psycopg.connect(app_db) as conn:
        return {(r[0], r[1]): r[2] for r in conn.execute(
            """SELECT c.external_campaign_id, s.day, s.spend FROM ads.campaign_daily_stats s
                 JOIN ads.campaigns c ON c.id = s.campaign_id WHERE s.account_id = %s""", (account_id,))}


def expected_spend(platform: str, account_id: str) -> dict:
    return {(s.campaign_id, s.day): s.spend
            for s in ads_data.account_stats(platform, account_id, DAY - timedelta(days=3), DAY, DAY)}


def test_every_platform_lands_and_a_rerun_writes_nothing(repo_dags, app_db, ads):
    accounts = {"meta": add(app_db, "meta", f"act_{ads['meta']}", "system-e2e"),
                "tiktok": add(app_db, "tiktok", ads["tiktok"], "act.e2e"),
                "google": add(app_db, "google", ads["google"], "ya29.old", refresh_token="demo-e2e")}
    dag = repo_dags["ads_fetch_ad_data"]
    run = run_dag(dag, T0)
    assert run.state == "success", task_states(run)
    for platform, account_id in accounts.items():
        assert stats(app_db, account_id) == expected_spend(platform, ads[platform]), platform
        result = task_result(run, f"fetch_{platform}_stats")
        assert (result["start_day"], result["end_day"]) == ("2026-03-28", "2026-03-31")
    announced = task_result(run, "announce_stats")
    assert announced["inserted"] == sum(len(expected_spend(p, ads[p])) for p in accounts)

    again = run_dag(dag, T0)
    assert again.state == "success"
    assert task_states(again)["announce_stats"] == "skipped"  # nothing changed: no asset event
    assert task_result(again, "check_accounts")["meta"]["updated"] == 0


def test_a_revoked_token_fails_the_run_naming_its_account_and_the_others_land(repo_dags, app_db, ads):
    revoked = add(app_db, "tiktok", ads["tiktok"], "revoked-e2e")
    good = add(app_db, "meta", f"act_{ads['meta']}", "system-e2e")
    run = run_dag(repo_dags["ads_fetch_ad_data"], T0)
    states = task_states(run)
    assert run.state == "failed"
    assert states["fetch_tiktok_stats"] == "failed" and states["fetch_meta_stats"] == "success"
    assert states["check_accounts"] == "failed" and states["announce_stats"] == "success"
    assert task_result(run, "fetch_tiktok_stats")["failed"].keys() == {f"tiktok:{ads['tiktok']}"}
    assert stats(app_db, good) == expected_spend("meta", ads["meta"])
    with psycopg.connect(app_db) as conn:
        status, error = conn.execute("SELECT status, last_error FROM ads.ad_accounts WHERE id = %s",
                                     (revoked,)).fetchone()
    assert status == "needs_reauth" and "40105" in error
