"""ads_generate_daily_report end to end with dag.test(): the 09:00 run reports yesterday to
each active, opted-in user whose accounts spent, one email each with the figures per account
and currency and the charts as inline PNGs; nobody else; a rerun sends nothing new."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.unsubscribe_support import assert_one_click_unsubscribe
from tests.include.ads import _builders as build

RUN_END = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)  # the interval [08-19 09:00, 08-20 09:00): reports 08-19
DAY = date(2026, 8, 19)


@pytest.fixture
def users(app_db) -> dict:
    with psycopg.connect(app_db) as conn:
        ada, ada_email = build.user(conn, name="Ada")
        usd = build.account(conn, ada, currency="USD", name="Harbor Books", platform="meta")
        gbp = build.account(conn, ada, currency="GBP", name="Kestrel Games", platform="tiktok")
        build.stats(conn, usd, build.campaign(conn, usd), DAY, [(100, 4, 300)] * 7 + [(120, 4, 480)])
        build.stats(conn, gbp, build.campaign(conn, gbp), DAY, [(40, 2, None)])
        quiet = {}
        for name, opt_out, last_day in [("optout", True, DAY), ("yesterday_quiet", False, date(2026, 8, 18))]:
            uid, email = build.user(conn, name=name, opt_out=opt_out)
            acct = build.account(conn, uid)
            build.stats(conn, acct, build.campaign(conn, acct), last_day, [(90, 3, 200)])
            quiet[name] = email
        quiet["no_accounts"] = build.user(conn, name="Lonely")[1]
    return {"ada": ada, "ada_email": ada_email, "quiet": quiet}


def test_one_report_per_user_with_spend(repo_dags, sandbox, users):
    dag = repo_dags["ads_generate_daily_report"]
    run = run_dag(dag, RUN_END)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "queue_reports")
    assert receipt["day"] == "2026-08-19" and receipt["queued"] >= 1

    [mail] = sandbox.emails(to=users["ada_email"])
    assert mail["dedupe_key"] == f"ads-report:{users['ada']}:2026-08-19"
    assert mail["subject"] == "Your ads on 2026-08-19: 40.00 GBP + 120.00 USD spent across 2 accounts"
    text = mail["text"]
    for shown in ("Harbor Books (Meta", "vs 7-day mean 100.00 USD: +20.00 USD (+20.0%)", "CPA:         30.00 USD",
                  "vs 7 days 25.00 USD: +5.00 USD (+20.0%)", "ROAS:        4.00x", "vs 7 days 3.00x: +1.00x (+33.3%)",
                  "Kestrel Games (TikTok", "no revenue reported", "Daily spend in GBP", "2026-08-19  120.00"):
        assert shown in text, shown
    assert [i["content_type"] for i in mail["inline"]] == ["image/png", "image/png"]
    assert all(f"cid:{i['cid']}" in mail["html"] for i in mail["inline"])
    assert_one_click_unsubscribe(mail, "ads", "daily_report", users["ada"])
    for email in users["quiet"].values():
        assert sandbox.emails(to=email) == [], email

    rerun = run_dag(dag, RUN_END)
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "queue_reports")
    assert again["queued"] == 0 and again["skipped_already_sent"] == again["recipients"] >= 1
    assert len(sandbox.emails(to=users["ada_email"])) == 1
