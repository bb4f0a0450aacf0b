"""The anomaly detector on crafted series against PostgreSQL: a CPA spike and a ROAS drop
alert once; a slow trend, a tiny campaign and a flat series with a wiggle do not; reruns insert
and email nothing new."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.ads.anomalies import detect_anomalies, evaluated_days
from include.ads.repository.fetch import refresh_priors
from tests.include.ads import _builders as build

TODAY = date(2026, 6, 10)
INTERVAL_END = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)  # an hourly run's end: 06-09 is the last complete day
YESTERDAY = TODAY - timedelta(days=1)
DAYS = 40


def wiggle(i: int, width: float = 0.05) -> float:
    """A bounded, deterministic day-to-day wiggle of +-width."""
    return 1 + width * math.sin(i * 1.7)


def normal(i: int, spend: float = 200.0, cpa: float = 20.0, roas: float = 3.0) -> tuple:
    s = round(spend * wiggle(i, 0.1), 2)
    return s, round(s / (cpa * wiggle(i + 3)), 2), round(s * roas * wiggle(i + 7), 2)


@pytest.fixture(scope="module")
def series(ads_db) -> dict:
    """One campaign per case, its 40 days ending yesterday."""
    with psycopg.connect(ads_db) as conn:
        uid, email = build.user(conn, name="Grace")
        inactive_uid, _ = build.user(conn, active=False, name="Idle")
        acct = build.account(conn, uid, currency="EUR", name="Bakery")
        idle_acct = build.account(conn, inactive_uid, name="Idle shop")
        cases = {}

        def add(name: str, rows: list[tuple], account_id: int = acct) -> None:
            cases[name] = build.campaign(conn, account_id, name=name)
            build.stats(conn, account_id, cases[name], YESTERDAY, rows)

        rows = [normal(i) for i in range(DAYS)]
        s = rows[-1][0]
        add("spike", rows[:-1] + [(s, round(s / 70, 2), rows[-1][2])])  # CPA 70 vs 20, ROAS normal
        rows = [normal(i + 11) for i in range(DAYS)]
        s = rows[-2][0]
        add("drop", rows[:-2] + [(s, rows[-2][1], round(s * 1.1, 2)), rows[-1]])  # ROAS 1.1 vs 3 two days ago
        # CPA +2 % and ROAS -1.5 % a day, compounding: +120 % / -45 % over the 40 days, no alert.
        add("trend", [(normal(i)[0], round(normal(i)[0] / (20 * 1.02 ** i * wiggle(i + 3)), 2),
                       round(normal(i)[0] * 3 * 0.985 ** i * wiggle(i + 7), 2)) for i in range(DAYS)])
        tiny = [(round(5 * wiggle(i), 2), 1, round(15 * wiggle(i + 2), 2)) for i in range(DAYS)]
        add("tiny", tiny[:-1] + [(60.0, 1, 1.0)])  # spiky but a 5/day campaign: its baseline is too small
        flat = [(200, 10, 600)] * (DAYS - 1)
        add("flat", flat + [(210, 10, 600)])  # MAD 0: without the floor a 5 % wiggle would alert
        add("short", [normal(i) for i in range(10)][:-1] + [(200, 1, 600)])  # 9 days of history: not scored
        add("no_revenue", [(normal(i)[0], normal(i)[1], None) for i in range(DAYS)])  # ROAS has no values
        add("idle_spike", rows_idle := [normal(i) for i in range(DAYS)], idle_acct)
        conn.execute("UPDATE ads.campaign_daily_stats SET conversions = 1 WHERE campaign_id = %s AND day = %s",
                     (cases["idle_spike"], YESTERDAY))
        refresh_priors(conn, [idle_acct])
        assert rows_idle
    return {"cases": cases, "email": email, "account": acct, "idle_account": idle_acct}


def anomalies(dsn: str) -> set[tuple[int, str, date]]:
    with psycopg.connect(dsn) as conn:
        return {(c, m, d.astimezone(UTC).date()) for c, m, d in conn.execute(
            "SELECT campaign_id, metric, period_start FROM ads.anomalies WHERE period = 'day'")}


def outbox(dsn: str, key_prefix: str = "ads-anomaly:") -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT dedupe_key, recipient, subject FROM platform.outbox WHERE dedupe_key LIKE %s "
                            "ORDER BY id", (key_prefix + "%",)).fetchall()


def test_evaluated_days_are_complete_utc_days():
    assert evaluated_days(INTERVAL_END, 3) == (TODAY - timedelta(days=3), YESTERDAY)
    assert evaluated_days(datetime(2026, 6, 10, tzinfo=UTC), 1) == (YESTERDAY, YESTERDAY)
    with pytest.raises(ValueError, match="aware"):
        evaluated_days(datetime(2026, 6, 10), 1)


def test_spike_and_drop_alert_once_and_nothing_else(ads_db, series):
    cases = series["cases"]
    with psycopg.connect(ads_db) as conn:
        result = detect_anomalies(conn, INTERVAL_END, eval_days=3, batch_size=1)
    expected = {(cases["spike"], "cpa", YESTERDAY), (cases["drop"], "roas", YESTERDAY - timedelta(days=1)),
                (cases["idle_spike"], "cpa", YESTERDAY)}
    assert anomalies(ads_db) == expected
    assert result["inserted"] == 3 and result["flagged"] == 3 and result["emails_queued"] == 2
    assert result["first_day"] == "2026-06-07" and result["last_day"] == "2026-06-09"
    mails = outbox(ads_db)
    assert [m[1] for m in mails] == [series["email"]] * 2  # the inactive user's anomaly is recorded, not mailed
    with psycopg.connect(ads_db) as conn:
        spike = conn.execute("SELECT id, observed, baseline, deviation FROM ads.anomalies WHERE campaign_id = %s",
                             (cases["spike"],)).fetchone()
    assert f"ads-anomaly:{spike[0]}" in {m[0] for m in mails}
    assert spike[1] == pytest.approx(70, rel=0.01) and spike[2] == pytest.approx(20, rel=0.06) and spike[3] > 4
    subjects = {m[2] for m in mails}
    assert any(s.startswith("CPA spike on 2026-06-09: spike (Bakery)") for s in subjects), subjects
    assert any(s.startswith("ROAS drop on 2026-06-08: drop (Bakery)") for s in subjects), subjects

    again = detect_anomalies(conn := psycopg.connect(ads_db), INTERVAL_END, eval_days=3)  # a rerun
    conn.close()
    assert again["flagged"] == 3 and again["inserted"] == 0 and again["emails_queued"] == 0
    assert len(outbox(ads_db)) == 2 and len(anomalies(ads_db)) == 3


def test_floor_and_min_spend_are_what_keep_the_quiet_cases_quiet(ads_db, series):
    """Without the MAD floor the flat series alerts; without the minimum spend the tiny one does."""
    cases = series["cases"]
    with psycopg.connect(ads_db) as conn:
        conn.execute("DELETE FROM ads.anomalies")
        conn.commit()
        detect_anomalies(conn, INTERVAL_END, eval_days=1, mad_floor=1e-9, min_spend=0)
        found = {(c, m) for c, m, _ in anomalies(ads_db)}
        assert (cases["flat"], "cpa") in found and (cases["tiny"], "cpa") in found
        assert not {c for c, _ in found} & {cases["trend"], cases["short"], cases["no_revenue"]}
        conn.execute("DELETE FROM ads.anomalies")
        conn.commit()


def test_bad_parameters_fail_loudly(ads_db):
    with psycopg.connect(ads_db) as conn, pytest.raises(ValueError, match="min_history"):
        detect_anomalies(conn, INTERVAL_END, baseline_days=10, min_history=14)
