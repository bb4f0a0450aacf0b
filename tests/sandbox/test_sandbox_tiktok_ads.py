"""TikTok integrated-report stand-in: JSON-encoded array parameters, page/page_size to the
last page, string metrics with "-" for campaigns without revenue, every error as HTTP 200 +
code (40100/40133 throttling, 40102/40104/40105 tokens, 40002 parameters, 50000), malformed
rows, and the advertiser token endpoints."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import requests

from include.demo import ads_data

TODAY = date(2026, 12, 2)
ADVERTISER = "7100000000000000001"
METRICS = ["campaign_name", "spend", "impressions", "clicks", "conversion", "total_complete_payment_rate"]
PATH = "/open_api/v1.3/report/integrated/get/"


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())


def report(base_url, token="act.token", **params):
    query = {"advertiser_id": ADVERTISER, "report_type": "BASIC", "data_level": "AUCTION_CAMPAIGN",
             "dimensions": json.dumps(["campaign_id", "stat_time_day"]), "metrics": json.dumps(METRICS),
             "start_date": "2026-11-20", "end_date": "2026-12-02", "page": 1, "page_size": 1000, **params}
    headers = {"Access-Token": token} if token is not None else {}
    answer = requests.get(base_url + PATH, params=query, headers=headers, timeout=30)
    assert answer.status_code == 200  # TikTok answers every error with HTTP 200 too
    return answer.json()


def code_of(body: dict) -> int:
    assert body["message"] and body["request_id"] and body["data"] == {} or body["code"] == 0
    return body["code"]


def test_pages_to_the_last_page_with_the_generators_numbers(base_url):
    want = ads_data.account_stats("tiktok", ADVERTISER, date(2026, 11, 20), TODAY, TODAY)
    rows, page = [], 1
    while True:
        body = report(base_url, page=page, page_size=7)
        assert body["code"] == 0 and body["message"] == "OK"
        info = body["data"]["page_info"]
        assert info == {"page": page, "page_size": 7, "total_number": len(want), "total_page": -(-len(want) // 7)}
        rows += body["data"]["list"]
        if page >= info["total_page"]:
            break
        page += 1
    assert page > 3
    assert report(base_url, page=page + 1, page_size=7)["data"]["list"] == []
    assert [(r["dimensions"]["stat_time_day"], r["dimensions"]["campaign_id"]) for r in rows] == [
        (f"{s.day.isoformat()} 00:00:00", s.campaign_id) for s in want]
    no_revenue = {c.campaign_id for c in ads_data.campaigns("tiktok", ADVERTISER) if not c.has_revenue}
    dashes = 0
    for row, s in zip(rows, want, strict=True):
        m = row["metrics"]
        assert set(m) == set(METRICS) and all(isinstance(v, str) for v in m.values())
        assert m["spend"] == f"{s.spend:.2f}" and int(m["impressions"]) == s.impressions
        assert int(m["clicks"]) == s.clicks and Decimal(m["conversion"]) == s.conversions
        assert m["campaign_name"] == ads_data.campaign("tiktok", ADVERTISER, s.campaign_id).name
        if s.campaign_id in no_revenue:
            assert m["total_complete_payment_rate"] == "-"
            dashes += 1
        else:
            assert Decimal(m["total_complete_payment_rate"]) == s.revenue
    assert dashes > 0


def test_default_metrics_and_ratios(base_url):
    body = report(base_url, metrics="", page_size=3)
    assert set(body["data"]["list"][0]["metrics"]) == {"spend", "impressions"}
    ratios = report(base_url, metrics=json.dumps(["cpc", "ctr", "complete_payment_roas"]), page_size=1000)
    s = ads_data.account_stats("tiktok", ADVERTISER, date(2026, 11, 20), TODAY, TODAY)[0]
    first = ratios["data"]["list"][0]["metrics"]
    assert Decimal(first["cpc"]) == (s.spend / s.clicks).quantize(Decimal("0.01"))
    assert Decimal(first["ctr"]) == (Decimal(s.clicks) * 100 / s.impressions).quantize(Decimal("0.01"))


@pytest.mark.parametrize("token, code", [(None, 40104), ("revoked-abc", 40105), ("expired-abc", 40102),
                                         ("noperm-abc", 40001)])
def test_token_errors(base_url, token, code):
    assert code_of(report(base_url, token=token)) == code


@pytest.mark.parametrize("params", [
    {"advertiser_id": "abc"}, {"report_type": "AUDIENCE"}, {"data_level": "AUCTION_AD"},
    {"dimensions": "campaign_id,stat_time_day"}, {"dimensions": json.dumps(["campaign_id"])},
    {"metrics": json.dumps(["spend", "revenue"])}, {"start_date": "2026-10-01"}, {"end_date": "2026-11-19"},
    {"page_size": 1001}, {"page": 0}, {"start_date": ""}, {"order_field": "spend"}, {"query_lifetime": "true"},
])
def test_bad_parameters_answer_40002(base_url, params):
    body = report(base_url, **params)
    assert code_of(body) == 40002


@pytest.mark.parametrize("env, code", [(None, 40100), ("40133", 40133)])
def test_the_429_switch_answers_a_throttle_code_with_http_200(base_url, control, monkeypatch, env, code):
    if env:
        monkeypatch.setenv("SANDBOX_TIKTOK_THROTTLE_CODE", env)
    control.set_faults("tiktok_ads", status_429=2, retry_after=5)
    answer = requests.get(base_url + PATH, headers={"Access-Token": "t"}, timeout=30)
    assert answer.status_code == 200 and "Retry-After" not in answer.headers
    assert code_of(answer.json()) == code
    assert code_of(report(base_url)) == code
    assert report(base_url)["code"] == 0
    assert [r["fault"] for r in control.requests("tiktok_ads")] == ["status_429", "status_429", None]


def test_the_5xx_switch_answers_50000(base_url, control):
    control.set_faults("tiktok_ads", status_5xx=1)
    assert code_of(report(base_url)) == 50000
    assert report(base_url)["code"] == 0


def test_malformed_rows(base_url, control):
    control.set_faults("tiktok_ads", malformed_fraction=0.25)
    rows = report(base_url)["data"]["list"]
    assert rows == report(base_url)["data"]["list"]

    def valid(r):
        try:
            date.fromisoformat(r["dimensions"]["stat_time_day"][:10])
            return bool(r["dimensions"]["campaign_id"]) and Decimal(r["metrics"]["spend"]) >= 0 \
                and int(r["metrics"]["impressions"]) >= 0
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return False

    bad = sum(not valid(r) for r in rows)
    assert 0 < bad < len(rows)
    assert [r["malformed"] for r in control.requests("tiktok_ads")] == [bad, bad]


def test_auth_code_exchange_and_advertiser_listing(base_url, monkeypatch):
    url = base_url + "/open_api/v1.3/oauth2/access_token/"
    body = requests.post(url, json={"app_id": "7001", "secret": "s", "auth_code": "code-1"}, timeout=30).json()
    assert body["code"] == 0 and body["data"]["access_token"].startswith("act.")
    assert body["data"]["advertiser_ids"] == [a.account_id for a in ads_data.demo_accounts("tiktok")]
    assert "refresh_token" not in body["data"]
    again = requests.post(url, json={"app_id": "7001", "secret": "s", "auth_code": "code-1"}, timeout=30).json()
    assert again["data"]["access_token"] == body["data"]["access_token"]
    bad = requests.post(url, json={"app_id": "7001", "secret": "s", "auth_code": "invalid-1"}, timeout=30).json()
    assert code_of(bad) == 40110

    listing = base_url + "/open_api/v1.3/oauth2/advertiser/get/"
    token = {"Access-Token": body["data"]["access_token"]}
    mine = requests.get(listing, params={"app_id": "7001", "secret": "s"}, headers=token, timeout=30).json()
    assert [a["advertiser_id"] for a in mine["data"]["list"]] == body["data"]["advertiser_ids"]
    revoked = requests.get(listing, params={"app_id": "7001", "secret": "s"}, headers={"Access-Token": "revoked-1"},
                           timeout=30).json()
    assert code_of(revoked) == 40105
    monkeypatch.setenv("SANDBOX_TIKTOK_SECRET", "right")
    wrong = requests.get(listing, params={"app_id": "7001", "secret": "s"}, headers=token, timeout=30).json()
    assert code_of(wrong) == 40101
