"""AdSenseClient against the sandbox's AdSense Management API v2: the documented request,
string cells parsed to exact Decimals, 429 and malformed rows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from pydantic import ValidationError

from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport
from include.demo import videos_stats as demo_stats
from include.videos.adsense_client import AdSenseClient, DailyEarnings, account_name

API = "adsense"
ACCOUNT = "pub-1000000000000001"
START, END = date(2026, 4, 1), date(2026, 4, 30)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def api(sandbox, session_env, sleeps):
    base = f"http://127.0.0.1:{session_env['http_port']}"
    sandbox.reset_faults()
    sandbox.clear_requests()
    requests.delete(f"{base}/_sandbox/adsense/revisions", timeout=10).raise_for_status()
    with ApiClient(base, headers={"Authorization": "Bearer test-token"}, sleep=sleeps.append) as client:
        yield client
    sandbox.reset_faults()


def generated(start: date, end: date, account: str = ACCOUNT) -> dict[date, demo_stats.DayEarnings]:
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return {d: demo_stats.adsense_day(f"accounts/{account}", d) for d in days}


def test_daily_rows_are_exact_decimals_matching_the_generator(api, sandbox):
    report = BatchReport()
    result = AdSenseClient(api, currency_code="USD").daily_earnings(ACCOUNT, START, END, report)
    assert result.currency == "USD"
    assert {r.day: (r.estimated_earnings, r.page_views, r.clicks) for r in result.rows} == \
        {d: tuple(v) for d, v in generated(START, END).items()}
    assert all(type(r.estimated_earnings) is Decimal and r.estimated_earnings.as_tuple().exponent == -2
               for r in result.rows)
    assert (report.fetched, report.malformed) == (30, 0)
    [call] = sandbox.requests(API)
    assert call["path"] == f"/v2/accounts/{ACCOUNT}/reports:generate"
    assert {k: call["query"][k] for k in ("dateRange", "startDate.year", "startDate.month", "startDate.day",
                                          "endDate.year", "endDate.month", "endDate.day", "dimensions",
                                          "currencyCode")} == {
        "dateRange": "CUSTOM", "startDate.year": "2026", "startDate.month": "4", "startDate.day": "1",
        "endDate.year": "2026", "endDate.month": "4", "endDate.day": "30", "dimensions": "DATE",
        "currencyCode": "USD"}


def test_money_sums_exactly_to_the_reports_total(api, session_env):
    """The sum of the parsed days equals the API's own total string to the cent (floats drift)."""
    result = AdSenseClient(api).daily_earnings(ACCOUNT, START, END, BatchReport())
    raw = api.get(f"v2/accounts/{ACCOUNT}/reports:generate", params={
        "dateRange": "CUSTOM", "startDate.year": 2026, "startDate.month": 4, "startDate.day": 1,
        "endDate.year": 2026, "endDate.month": 4, "endDate.day": 30, "dimensions": "DATE",
        "metrics": ["ESTIMATED_EARNINGS", "PAGE_VIEWS", "CLICKS"]})
    assert sum(r.estimated_earnings for r in result.rows) == Decimal(raw["totals"]["cells"][1]["value"])


def test_money_must_be_a_string_with_cents():
    ok = DailyEarnings.model_validate({"day": "2026-04-01", "estimated_earnings": "0.10", "page_views": "3",
                                       "clicks": "0"})
    assert ok.estimated_earnings == Decimal("0.10")
    for bad in (0.1, "0.105", "n/a", "-1.00"):
        with pytest.raises(ValidationError):
            DailyEarnings.model_validate({"day": "2026-04-01", "estimated_earnings": bad, "page_views": "3",
                                          "clicks": "0"})


def test_account_names():
    assert account_name("pub-123") == account_name("accounts/pub-123") == "accounts/pub-123"
    with pytest.raises(ValueError, match="pub-1234567890123456"):
        account_name("ca-pub-123")


def test_429_waits_retry_after(api, sandbox, sleeps):
    sandbox.set_faults(API, status_429=2, retry_after=1)
    result = AdSenseClient(api).daily_earnings(ACCOUNT, START, START, BatchReport())
    assert [(r.day, r.estimated_earnings) for r in result.rows] == \
        [(START, generated(START, START)[START].estimated_earnings)]
    assert sleeps == [1.0, 1.0]


def test_malformed_rows_are_counted_and_skipped(api, sandbox):
    sandbox.set_faults(API, malformed_fraction=0.2)
    report = BatchReport()
    end = START + timedelta(days=99)
    result = AdSenseClient(api).daily_earnings(ACCOUNT, START, end, report)
    [call] = sandbox.requests(API)
    assert report.fetched == 100 and report.malformed == call["malformed"] and 10 <= report.malformed <= 30
    assert len(result.rows) == 100 - report.malformed
    truth = generated(START, end)
    assert all((r.estimated_earnings, r.page_views, r.clicks) == tuple(truth[r.day]) for r in result.rows)


def test_no_token_is_401(session_env, sandbox):
    with ApiClient(f"http://127.0.0.1:{session_env['http_port']}") as anonymous, pytest.raises(ApiError) as err:
        AdSenseClient(anonymous).daily_earnings(ACCOUNT, START, START, BatchReport())
    assert err.value.status == 401 and "authentication credential" in err.value.message
