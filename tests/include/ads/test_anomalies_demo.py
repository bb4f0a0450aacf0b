"""The detector on the demo generator's data (include/demo/ads_data.py): 90 days of every demo
account loaded into a scratch database hold two planted anomalies, a CPA spike and a ROAS
drop; the detector finds exactly those two, scoring every day that has enough history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.ads.anomalies import detect_anomalies
from include.ads.repository.fetch import refresh_priors
from include.demo import ads_data
from tests.include.ads import _builders as build

TODAY = date(2026, 11, 20)
DAYS = 90


@pytest.fixture(scope="module")
def demo(ads_db) -> dict:
    """The demo accounts, their campaigns and 90 days of their stats up to yesterday."""
    ids: dict[tuple[str, str, str], tuple[int, int]] = {}
    with psycopg.connect(ads_db) as conn:
        owner, _ = build.user(conn, name="Demo")
        rows = []
        for acct in ads_data.DEMO_ACCOUNTS:
            account_id = conn.execute(
                "INSERT INTO ads.ad_accounts (user_id, platform, external_account_id, name, currency) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (owner, acct.platform, acct.external_id, acct.name, acct.currency)).fetchone()[0]
            for c in ads_data.campaigns(acct.platform, acct.account_id):
                campaign_id = conn.execute(
                    "INSERT INTO ads.campaigns (account_id, external_campaign_id, name, status) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    (account_id, c.campaign_id, c.name, c.status)).fetchone()[0]
                ids[(acct.platform, acct.account_id, c.campaign_id)] = (account_id, campaign_id)
            for s in ads_data.account_stats(acct.platform, acct.account_id, TODAY - timedelta(days=DAYS),
                                            TODAY - timedelta(days=1), TODAY):
                account_id, campaign_id = ids[(s.platform, s.account_id, s.campaign_id)]
                rows.append((account_id, campaign_id, s.day, s.spend, s.impressions, s.clicks, s.conversions,
                             s.revenue))
        with conn.cursor() as cur, cur.copy(
                "COPY ads.campaign_daily_stats (account_id, campaign_id, day, spend, impressions, clicks, "
                "conversions, revenue) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        refresh_priors(conn, sorted({r[0] for r in rows}))  # a writer besides the fetch merge
    planted = {(*ids[(p.platform, p.account_id, p.campaign_id)], p.metric, p.day)
               for p in ads_data.planted_anomalies(TODAY)}
    return {"planted": planted, "rows": len(rows)}


def test_finds_the_two_planted_anomalies_and_nothing_else(ads_db, demo):
    assert len(demo["planted"]) == 2 and demo["rows"] > 2000
    with psycopg.connect(ads_db) as conn:
        # Every day with 28 days of baseline behind it, not just the hourly run's last 3.
        result = detect_anomalies(conn, datetime(2026, 11, 20, 10, tzinfo=UTC), eval_days=DAYS - 28)
        found = {(a, c, m, d.astimezone(UTC).date()) for a, c, m, d in conn.execute(
            "SELECT account_id, campaign_id, metric, period_start FROM ads.anomalies")}
    assert result["scored"] > 2000  # the days were really scored, not skipped
    assert found == demo["planted"]
    assert result["inserted"] == 2 and result["emails_queued"] == 2
