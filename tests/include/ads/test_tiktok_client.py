"""TikTokClient against the sandbox's Business API: page/total_page to the last page, 30-day
requests, exact money and "-" as None, the HTTP 200 throttle code waited out, 40105/40102
never retried, malformed rows counted and skipped."""

from __future__ import annotations

from datetime import date

import pytest

from include.ads.platforms import TokenRevoked
from include.ads.tiktok_client import THROTTLE_WAIT, TikTokClient
from include.common.http import ApiError
from include.common.validation import BatchReport
from include.demo import ads_data
from tests.include.ads.clients_support import generated, parsed, sandbox_api

ADVERTISER = "7100000000000000001"
START, END = date(2026, 1, 1), date(2026, 3, 10)  # 69 days: three requests of at most 30
TODAY = date(2026, 4, 1)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def tiktok(sandbox, session_env, sleeps, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    sandbox.reset_faults()
    sandbox.clear_requests()
    with TikTokClient(sandbox_api(session_env, sleeps), page_size=25) as client:
        yield client
    sandbox.reset_faults()


def test_report_pages_to_the_last_page_with_exact_money_and_no_value_as_none(tiktok, sandbox):
    report = BatchReport()
    rows = tiktok.daily_stats(ADVERTISER, "act.test", START, END, report)
    expected = generated("tiktok", ADVERTISER, START, END, TODAY)
    assert parsed(rows) == expected
    no_revenue = ads_data.campaigns("tiktok", ADVERTISER)[2].campaign_id
    assert any(r.campaign_id == no_revenue for r in rows)
    assert all(r.revenue is None for r in rows if r.campaign_id == no_revenue)  # "-", not 0
    assert all(r.revenue is not None and r.revenue > 0 for r in rows if r.campaign_id != no_revenue)
    assert sum(r.spend for r in rows) == sum(v[0] for v in expected.values())
    calls = sandbox.requests("tiktok_ads")
    spans = {(c["query"]["start_date"], c["query"]["end_date"]) for c in calls}
    assert spans == {("2026-01-01", "2026-01-30"), ("2026-01-31", "2026-03-01"), ("2026-03-02", "2026-03-10")}
    assert max(int(c["query"]["page"]) for c in calls) > 1
    assert report.fetched == len(expected) and report.malformed == 0


def test_throttle_code_40100_is_waited_out(tiktok, sandbox, sleeps):
    sandbox.set_faults("tiktok_ads", status_429=2)
    rows = tiktok.daily_stats(ADVERTISER, "act.test", END, END, BatchReport())
    assert rows and sleeps == [THROTTLE_WAIT, THROTTLE_WAIT]


@pytest.mark.parametrize(("token", "code"), [("revoked-x", 40105), ("expired-x", 40102)])
def test_a_rejected_token_raises_token_revoked_without_retrying(tiktok, sandbox, sleeps, token, code):
    with pytest.raises(TokenRevoked) as caught:
        tiktok.daily_stats(ADVERTISER, token, START, END, BatchReport())
    assert (caught.value.platform, caught.value.code) == ("tiktok", code)
    assert len(sandbox.requests("tiktok_ads")) == 1 and sleeps == []
    with pytest.raises(TokenRevoked):
        tiktok.validate(ADVERTISER, token, END)


def test_other_error_codes_are_permanent_api_errors(tiktok):
    with pytest.raises(ApiError, match="TikTok code 40002"):  # report_type etc. missing
        tiktok.api.get("open_api/v1.3/report/integrated/get/", params={"advertiser_id": "1"},
                       headers={"Access-Token": "act.test"})


def test_malformed_rows_are_counted_and_skipped(tiktok, sandbox):
    sandbox.set_faults("tiktok_ads", malformed_fraction=0.2)
    report = BatchReport()
    rows = tiktok.daily_stats(ADVERTISER, "act.test", START, END, report)
    bad = sum(call["malformed"] for call in sandbox.requests("tiktok_ads"))
    assert bad > 0 and report.malformed == bad and report.fetched == len(rows) + bad
    expected = generated("tiktok", ADVERTISER, START, END, TODAY)
    assert all(expected[key] == value for key, value in parsed(rows).items())


def test_validate_accepts_a_working_token(tiktok):
    tiktok.validate(ADVERTISER, "act.test", END)
