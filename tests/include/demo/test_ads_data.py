"""Ads generator: the same numbers in a fresh process, platform money and id formats, weekday
seasonality, TikTok campaigns without revenue, and exactly the two planted anomalies standing
out of a robust z-score scan (every other campaign-day stays under 3)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest

from include.demo import ads_data

TODAY = date(2026, 12, 2)


def test_a_fresh_process_draws_the_same_numbers():
    code = ("from datetime import date; from include.demo import ads_data as a; "
            "print(repr(a.account_stats('google', '1010000001', date(2026, 11, 1), date(2026, 11, 3), "
            "date(2026, 12, 2))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ads_data.__file__.rsplit("/include/", 1)[0]).stdout.strip()
    assert out == repr(ads_data.account_stats("google", "1010000001", date(2026, 11, 1), date(2026, 11, 3), TODAY))


@pytest.mark.parametrize("platform, pattern_len, prefix", [("meta", 18, "1202"), ("tiktok", 16, "17"),
                                                           ("google", 11, "")])
def test_campaign_ids_and_money_per_platform(platform, pattern_len, prefix):
    for acc in ads_data.demo_accounts(platform):
        cs = ads_data.campaigns(platform, acc.account_id)
        assert 4 <= len(cs) <= 6
        assert all(c.campaign_id.isdigit() and len(c.campaign_id) == pattern_len and c.campaign_id.startswith(prefix)
                   for c in cs)
        assert int(max(c.campaign_id for c in cs)) < 2**63
        for s in ads_data.account_stats(platform, acc.account_id, TODAY - timedelta(days=14), TODAY, TODAY):
            decimals = 6 if platform == "google" else 2
            assert s.spend == s.spend.quantize(Decimal(1).scaleb(-decimals)) and s.spend > 0
            assert s.conversions >= 1 and s.clicks <= s.impressions
            if platform != "google":
                assert s.conversions == int(s.conversions)


def test_tiktok_campaign_2_reports_no_revenue_and_others_do():
    for acc in ads_data.demo_accounts("tiktok"):
        cs = ads_data.campaigns("tiktok", acc.account_id)
        assert [c.has_revenue for c in cs].count(False) == 1 and not cs[2].has_revenue
        stats = ads_data.account_stats("tiktok", acc.account_id, TODAY - timedelta(days=7), TODAY, TODAY)
        assert {s.revenue is None for s in stats if s.campaign_id == cs[2].campaign_id} <= {True}
        assert all(s.revenue is not None for s in stats if s.campaign_id != cs[2].campaign_id)


def test_weekends_spend_less():
    acc = ads_data.DEMO_ACCOUNTS[0]
    stats = ads_data.account_stats(acc.platform, acc.account_id, TODAY - timedelta(days=91), TODAY - timedelta(days=5),
                                   TODAY)
    weekday = statistics.mean(float(s.spend) for s in stats if s.day.weekday() < 5)
    weekend = statistics.mean(float(s.spend) for s in stats if s.day.weekday() >= 5)
    assert weekend < 0.9 * weekday


def test_future_days_and_days_before_a_start_are_not_delivered():
    c = ads_data.campaigns("meta", "101000000000001")[0]
    assert ads_data.day_stats("meta", "101000000000001", c.campaign_id, TODAY + timedelta(days=1), TODAY) is None
    assert ads_data.day_stats("meta", "101000000000001", c.campaign_id, date(2022, 12, 31), TODAY) is None
    assert ads_data.day_stats("meta", "101000000000001", c.campaign_id, TODAY, TODAY) is not None


def test_unknown_accounts_are_drawn_from_their_id_and_bad_ids_fail():
    other = ads_data.account("meta", "555")
    assert other.name and other.currency in ("USD", "EUR", "GBP") and other.external_id == "act_555"
    assert ads_data.campaigns("meta", "555") == ads_data.campaigns("meta", "555")
    with pytest.raises(ValueError, match="digits"):
        ads_data.campaigns("meta", "act_555")
    with pytest.raises(ValueError, match="platform"):
        ads_data.account("bing", "1")


def _z(window: list[float], value: float) -> float:
    median = statistics.median(window)
    mad = statistics.median(abs(v - median) for v in window)
    return (value - median) / (1.4826 * mad)


def _scan(today: date) -> list[tuple]:
    """(platform, account, campaign, metric, day) of every |z| >= 3 over the last 14 days."""
    found = []
    for acc in ads_data.DEMO_ACCOUNTS:
        stats = ads_data.account_stats(acc.platform, acc.account_id, today - timedelta(days=45), today, today)
        for c in ads_data.campaigns(acc.platform, acc.account_id):
            rows = {s.day: s for s in stats if s.campaign_id == c.campaign_id}
            metrics = {"cpa": lambda s: float(s.spend / s.conversions)}
            if c.has_revenue:
                metrics["roas"] = lambda s: float(s.revenue / s.spend)
            for back in range(14):
                day = today - timedelta(days=back)
                window = [rows[day - timedelta(days=k)] for k in range(1, 29) if day - timedelta(days=k) in rows]
                if day not in rows or len(window) < 14:
                    continue
                for metric, value in metrics.items():
                    z = _z([value(s) for s in window], value(rows[day]))
                    if abs(z) >= 3:
                        found.append((acc.platform, acc.account_id, c.campaign_id, metric, day, z))
    return found


@pytest.mark.parametrize("today", [TODAY, date(2025, 2, 28), date(2026, 7, 19)])
def test_exactly_the_two_planted_anomalies_stand_out(today):
    found = _scan(today)
    planted = ads_data.planted_anomalies(today)
    assert [(p, a, c, m, d) for p, a, c, m, d, _ in found] == [
        (p.platform, p.account_id, p.campaign_id, p.metric, p.day) for p in planted]
    assert [p.day for p in planted] == [today - timedelta(days=1), today - timedelta(days=3)]
    cpa, roas = found
    assert cpa[5] > 20 and roas[5] < -8  # CPA up, ROAS down, far beyond any threshold


def test_planted_days_change_only_the_metric_they_plant():
    cpa_day, roas_day = ads_data.planted_anomalies(TODAY)
    spiked = ads_data.day_stats("meta", cpa_day.account_id, cpa_day.campaign_id, cpa_day.day, TODAY)
    normal = ads_data.day_stats("meta", cpa_day.account_id, cpa_day.campaign_id, cpa_day.day,
                                TODAY + timedelta(days=5))  # the same day, no longer planted
    assert (spiked.spend, spiked.impressions, spiked.clicks, spiked.revenue) == (
        normal.spend, normal.impressions, normal.clicks, normal.revenue)
    assert spiked.conversions < normal.conversions * Decimal("0.15")
    dropped = ads_data.day_stats("google", roas_day.account_id, roas_day.campaign_id, roas_day.day, TODAY)
    normal = ads_data.day_stats("google", roas_day.account_id, roas_day.campaign_id, roas_day.day,
                                TODAY + timedelta(days=5))
    assert (dropped.spend, dropped.conversions) == (normal.spend, normal.conversions)
    assert dropped.revenue < normal.revenue * Decimal("0.15")


def test_google_micros_are_exact():
    assert ads_data.google_micros(Decimal("1.230000")) == 1_230_000
    with pytest.raises(ValueError):
        ads_data.google_micros(Decimal("0.0000001"))
