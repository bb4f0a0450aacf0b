"""The ads daily report against PostgreSQL: exact figures per account in its own currency,
one email per eligible user with spend that day (chart per currency, numbers in the text),
nobody else, and nothing new on a rerun."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from include.ads import daily_report
from include.ads.repository.daily_report import account_figures
from tests.include.ads import _builders as build

DAY = date(2026, 6, 9)
D = Decimal


@pytest.fixture(scope="module")
def people(ads_db) -> dict:
    with psycopg.connect(ads_db) as conn:
        ada, ada_email = build.user(conn, name="Ada")
        usd = build.account(conn, ada, currency="USD", name="Northwind", platform="google")
        eur = build.account(conn, ada, currency="EUR", name="Bluebird", platform="tiktok")
        c1, c2 = build.campaign(conn, usd), build.campaign(conn, usd)
        week = [(70, 2, 140)] * 7  # D-7..D-1
        build.stats(conn, usd, c1, DAY, [(1000, 10, 2000)] + week + [(D("100.00"), 4, D("300.00"))])  # D-8 too
        build.stats(conn, usd, c2, DAY, [(D("50.50"), 1, None)])
        build.stats(conn, eur, build.campaign(conn, eur), DAY, [(20, 0, 10)])
        others = {}
        for name, active, opt_out in [("optout", True, True), ("inactive", False, False), ("idle", True, False)]:
            uid, email = build.user(conn, name=name, active=active, opt_out=opt_out)
            acct = build.account(conn, uid)
            last = DAY if name != "idle" else DAY - timedelta(days=1)  # idle spent nothing on the day
            build.stats(conn, acct, build.campaign(conn, acct), last, [(80, 2, 100)])
            others[name] = email
        others["no_accounts"] = build.user(conn, name="Nobody")[1]
    return {"ada": ada, "ada_email": ada_email, "usd": usd, "eur": eur, "others": others}


def test_figures_are_exact_per_account(ads_db, people):
    with psycopg.connect(ads_db) as conn:
        rows = account_figures(conn, people["ada"], people["ada"] + 1, DAY)
    by_account = {r["account_id"]: r for r in rows}
    assert set(by_account) == {people["usd"], people["eur"]}
    usd = by_account[people["usd"]]
    assert (usd["spend"], usd["conversions"], usd["revenue"]) == (D("150.50"), D(5), D("300.00"))
    assert usd["cpa"] == D("30.10")  # 150.50 / 5
    assert usd["roas"] == D("3.00")  # 300 / 100: campaign 2 reported no revenue, its spend is not in ROAS
    assert usd["mean_spend_7d"] == D("70.00") and usd["spend_change"] == D("80.50")
    assert usd["spend_change_pct"] == D("115.0")
    assert usd["cpa_7d"] == D("35.00") and usd["cpa_change"] == D("-4.90") and usd["cpa_change_pct"] == D("-14.0")
    assert usd["roas_7d"] == D("2.00") and usd["roas_change"] == D("1.00") and usd["roas_change_pct"] == D("50.0")
    assert len(usd["spend_series"]) == 30 and usd["spend_series"][-1] == D("150.50")
    assert usd["spend_series"][-9] == D(1000) and usd["spend_series"][0] == 0
    eur = by_account[people["eur"]]
    assert eur["cpa"] is None and eur["roas"] == D("0.50") and eur["mean_spend_7d"] == D("0.00")
    assert eur["spend_change_pct"] is None and eur["cpa_7d"] is None and eur["roas_change"] is None


def _outbox(dsn: str, recipient: str) -> list[dict]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT dedupe_key, subject, body_text, body_html, payload FROM platform.outbox "
                           "WHERE recipient = %s", (recipient,))
        return [dict(zip([c.name for c in cur.description], row, strict=True)) for row in cur]


def test_one_email_per_eligible_user_and_none_on_rerun(ads_db, people):
    with psycopg.connect(ads_db) as conn:
        first = daily_report.queue_daily_reports(conn, DAY, batch_size=2)
    assert first["recipients"] == 1 and first["queued"] == 1 and first["accounts"] == 2
    [mail] = _outbox(ads_db, people["ada_email"])
    assert mail["dedupe_key"] == f"ads-report:{people['ada']}:2026-06-09"
    assert mail["subject"] == "Your ads on 2026-06-09: 20.00 EUR + 150.50 USD spent across 2 accounts"
    text = mail["body_text"]
    for shown in ("150.50 USD", "vs 7-day mean 70.00 USD: +80.50 USD (+115.0%)", "30.10 USD",
                  "vs 7 days 35.00 USD: -4.90 USD (-14.0%)", "3.00x", "vs 7 days 2.00x: +1.00x (+50.0%)",
                  "no conversions", "0.50x", "2026-06-01  1,000.00", "2026-06-09  150.50", "2026-06-09  20.00"):
        assert shown in text, shown
    images = mail["payload"]["inline_images"]
    assert len(images) == 2 and all(i["mime"] == "image/png" for i in images.values())
    assert all(f"cid:{cid}" in mail["body_html"] for cid in images)
    for email in people["others"].values():
        assert _outbox(ads_db, email) == [], email

    with psycopg.connect(ads_db) as conn:
        again = daily_report.queue_daily_reports(conn, DAY, batch_size=1000)
    assert again["recipients"] == 1 and again["queued"] == 0 and again["skipped_already_sent"] == 1
    assert len(_outbox(ads_db, people["ada_email"])) == 1


def test_a_day_without_spend_emails_nobody(ads_db, people):
    with psycopg.connect(ads_db) as conn:
        result = daily_report.queue_daily_reports(conn, DAY + timedelta(days=5))
    assert result["recipients"] == 0 and result["queued"] == 0 and result["batches"] >= 1
