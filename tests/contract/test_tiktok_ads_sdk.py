"""The official TikTok Business API SDK (`tiktok-business-api-sdk` 1.0.1, module
`business_api_client`) against the sandbox through `Configuration.host`: its ReportingApi
sends `dimensions`/`metrics` JSON-encoded (api_client.parameters_to_tuples, collection format
"multi" of a list) with the `Access-Token` header, pages the integrated report, and raises
TiktokSDKError for any non-zero `code` of an HTTP 200 answer (throttling, revoked tokens);
AuthenticationApi lists a token's advertisers (the token check)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import business_api_client
import pytest
from business_api_client.api.authentication_api import AuthenticationApi
from business_api_client.api.reporting_api import ReportingApi
from business_api_client.tiktok_business.tiktok_exceptions import TiktokSDKError

from include.demo import ads_data

TODAY = date(2026, 12, 2)
ADVERTISER = "7100000000000000001"
METRICS = ["campaign_name", "spend", "impressions", "clicks", "conversion", "total_complete_payment_rate"]


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())


def client(base_url: str) -> business_api_client.ApiClient:
    config = business_api_client.Configuration()
    config.host = base_url  # https://business-api.tiktok.com by default
    return business_api_client.ApiClient(config)


def report_page(base_url: str, page: int, token: str = "act.token") -> dict:
    return ReportingApi(client(base_url)).report_integrated_get(
        advertiser_id=ADVERTISER, report_type="BASIC", data_level="AUCTION_CAMPAIGN",
        dimensions=["campaign_id", "stat_time_day"], metrics=METRICS, access_token=token,
        start_date="2026-11-20", end_date="2026-12-02", page=page, page_size=10)


def test_the_sdk_pages_the_integrated_report(sandbox_url, sandbox):
    first = report_page(sandbox_url, 1)
    assert set(first) == {"data", "request_id"} and first["request_id"]
    pages = [first] + [report_page(sandbox_url, p) for p in range(2, first["data"]["page_info"]["total_page"] + 1)]
    rows = [r for p in pages for r in p["data"]["list"]]
    want = ads_data.account_stats("tiktok", ADVERTISER, date(2026, 11, 20), TODAY, TODAY)
    assert len(rows) == len(want) == first["data"]["page_info"]["total_number"]
    for row, s in zip(rows, want, strict=True):
        assert row["dimensions"] == {"campaign_id": s.campaign_id, "stat_time_day": f"{s.day} 00:00:00"}
        m = row["metrics"]
        assert Decimal(m["spend"]) == s.spend and int(m["impressions"]) == s.impressions
        assert Decimal(m["conversion"]) == s.conversions
        revenue = m["total_complete_payment_rate"]
        assert (revenue == "-") if s.revenue is None else (Decimal(revenue) == s.revenue)
    query = sandbox.requests("tiktok_ads")[0]["query"]
    assert query["dimensions"] == '["campaign_id", "stat_time_day"]' and query["page"] == "1"


def test_codes_of_http_200_answers_raise(sandbox_url, sandbox):
    sandbox.set_faults("tiktok_ads", status_429=1)
    with pytest.raises(TiktokSDKError, match="Error Code: 40100"):
        report_page(sandbox_url, 1)
    assert report_page(sandbox_url, 1)["data"]["list"]
    with pytest.raises(TiktokSDKError, match="Error Code: 40105"):
        report_page(sandbox_url, 1, token="revoked-token")


def test_the_token_check_lists_the_advertisers(sandbox_url):
    api = AuthenticationApi(client(sandbox_url))
    found = api.oauth2_advertiser_get(app_id="7001", secret="secret", access_token="act.token")
    assert [a["advertiser_id"] for a in found["data"]["list"]] == [a.account_id for a in
                                                                   ads_data.demo_accounts("tiktok")]
    with pytest.raises(TiktokSDKError, match="Error Code: 40105"):
        api.oauth2_advertiser_get(app_id="7001", secret="secret", access_token="revoked-token")
