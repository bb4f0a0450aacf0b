"""Helpers of the ads client tests: an ApiClient on the session's sandbox that records its
sleeps, and the generator's numbers the stand-ins serve."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from include.common.http import ApiClient
from include.demo import ads_data


def sandbox_api(session_env, sleeps: list, **kwargs) -> ApiClient:
    return ApiClient(f"http://127.0.0.1:{session_env['http_port']}", sleep=sleeps.append, **kwargs)


def generated(platform: str, account_id: str, start: date, end: date, today: date) -> dict:
    """(campaign id, day) -> (spend, impressions, clicks, conversions, revenue) of the generator."""
    return {(s.campaign_id, s.day): (s.spend, s.impressions, s.clicks, s.conversions, s.revenue)
            for s in ads_data.account_stats(platform, account_id, start, end, today)}


def parsed(rows) -> dict:
    return {(r.campaign_id, r.day): (r.spend, r.impressions, r.clicks, r.conversions, r.revenue) for r in rows}


def zero_revenue_as(expected: dict, value) -> dict:
    """Meta leaves out action_values when a day has no revenue: the client reads 0 there."""
    return {k: (*v[:4], value if v[4] in (None, Decimal(0)) else v[4]) for k, v in expected.items()}
