"""Google Ads searchStream stand-in: the generator's numbers as one JSON array of batches
(int64 strings, micros, doubles, defaults omitted), the GAQL subset (BETWEEN, DURING,
comparisons, IN, ORDER BY, LIMIT, summed rows without segments.date), array-wrapped
GoogleAdsFailure errors for auth and queries, 429 with retryDelay, malformed results, and the
token endpoint's invalid_grant for revoked refresh tokens."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests

from include.demo import ads_data

TODAY = date(2026, 12, 2)
CUSTOMER = "1010000001"
SELECT = ("SELECT campaign.id, campaign.name, segments.date, metrics.cost_micros, metrics.impressions, "
          "metrics.clicks, metrics.conversions, metrics.conversions_value FROM campaign")
HEADERS = {"Authorization": "Bearer sandbox-token", "developer-token": "dev-token"}


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())


def stream(base_url, query, customer=CUSTOMER, version="v26", headers=None, **body):
    return requests.post(f"{base_url}/{version}/customers/{customer}/googleAds:searchStream",
                         json={"query": query, **body}, headers=HEADERS if headers is None else headers, timeout=30)


def rows_of(answer) -> list[dict]:
    assert answer.status_code == 200, answer.text
    batches = answer.json()
    assert isinstance(batches, list) and batches
    return [r for b in batches for r in b.get("results", [])]


def failure_of(answer, status: int) -> dict:
    """The one GoogleAdsError of an array-wrapped error answer."""
    assert answer.status_code == status, answer.text
    [wrapped] = answer.json()
    error = wrapped["error"]
    assert error["code"] == status and error["status"] and error["message"]
    [detail] = error["details"]
    assert detail["@type"].startswith("type.googleapis.com/google.ads.googleads.v") and detail["requestId"]
    assert detail["@type"].endswith(".errors.GoogleAdsFailure")
    [failure] = detail["errors"]
    return failure


def test_rows_equal_the_generator_in_batches(base_url, monkeypatch):
    monkeypatch.setenv("SANDBOX_GOOGLE_ADS_BATCH_ROWS", "4")
    answer = stream(base_url, f"{SELECT} WHERE segments.date BETWEEN '2026-11-26' AND '2026-12-02'")
    batches = answer.json()
    want = ads_data.account_stats("google", CUSTOMER, date(2026, 11, 26), TODAY, TODAY)
    assert [len(b["results"]) for b in batches[:-1]] == [4] * (len(batches) - 1) and len(batches) > 3
    assert {b["requestId"] for b in batches} == {answer.headers["request-id"]}
    assert batches[0]["fieldMask"] == ("campaign.id,campaign.name,segments.date,metrics.costMicros,metrics.impressions,"
                                       "metrics.clicks,metrics.conversions,metrics.conversionsValue")
    assert "queryResourceConsumption" in batches[-1] and "queryResourceConsumption" not in batches[0]
    rows = rows_of(answer)
    assert len(rows) == len(want)
    for row, s in zip(rows, want, strict=True):
        campaign = ads_data.campaign("google", CUSTOMER, s.campaign_id)
        assert row["campaign"] == {"resourceName": f"customers/{CUSTOMER}/campaigns/{s.campaign_id}",
                                   "id": s.campaign_id, "name": campaign.name}
        assert row["segments"] == {"date": s.day.isoformat()}
        m = row["metrics"]
        assert m["costMicros"] == str(ads_data.google_micros(s.spend)) and m["impressions"] == str(s.impressions)
        assert m["clicks"] == str(s.clicks)
        assert isinstance(m["conversions"], float) and Decimal(str(m["conversions"])) == s.conversions
        assert Decimal(str(m["conversionsValue"])) == s.revenue


def test_the_planted_roas_day_and_during(base_url):
    drop = ads_data.planted_anomalies(TODAY)[1]
    rows = rows_of(stream(base_url, f"{SELECT} WHERE segments.date DURING LAST_7_DAYS "
                                    f"AND campaign.id = {drop.campaign_id}"))
    assert [r["segments"]["date"] for r in rows] == [(TODAY - timedelta(days=d)).isoformat() for d in range(7, 0, -1)]
    [row] = [r for r in rows if r["segments"]["date"] == drop.day.isoformat()]
    stats = ads_data.day_stats("google", CUSTOMER, drop.campaign_id, drop.day, TODAY)
    assert Decimal(str(row["metrics"]["conversionsValue"])) == stats.revenue
    yesterday = rows_of(stream(base_url, f"{SELECT} WHERE segments.date DURING YESTERDAY"))
    assert {r["segments"]["date"] for r in yesterday} == {(TODAY - timedelta(days=1)).isoformat()}


def test_filters_order_limit_and_sums_without_the_date(base_url):
    where = "WHERE segments.date >= '2026-11-30' AND segments.date <= '2026-12-01'"
    rows = rows_of(stream(base_url, f"{SELECT} {where} AND metrics.clicks > 1000 AND campaign.status IN "
                                    f"('ENABLED', 'PAUSED') ORDER BY metrics.cost_micros DESC LIMIT 3"))
    costs = [int(r["metrics"]["costMicros"]) for r in rows]
    assert len(rows) == 3 and costs == sorted(costs, reverse=True)
    assert all(int(r["metrics"]["clicks"]) > 1000 for r in rows)
    assert rows_of(stream(base_url, f"{SELECT} {where} AND campaign.status = 'REMOVED'")) == []
    summed = rows_of(stream(base_url, f"SELECT campaign.id, metrics.cost_micros, customer.currency_code "
                                      f"FROM campaign {where}"))
    stats = ads_data.account_stats("google", CUSTOMER, date(2026, 11, 30), date(2026, 12, 1), TODAY)
    assert {r["campaign"]["id"]: int(r["metrics"]["costMicros"]) for r in summed} == {
        c: sum(ads_data.google_micros(s.spend) for s in stats if s.campaign_id == c) for c in {s.campaign_id
                                                                                             for s in stats}}
    assert {r["customer"]["currencyCode"] for r in summed} == {"USD"} and "segments" not in summed[0]


def test_no_rows_is_one_batch_without_results(base_url):
    answer = stream(base_url, f"{SELECT} WHERE segments.date BETWEEN '2027-01-01' AND '2027-01-31'")
    [batch] = answer.json()
    assert "results" not in batch and batch["fieldMask"] and batch["requestId"]


@pytest.mark.parametrize("query, value", [
    (f"{SELECT} WHERE campaign.id = 1", "EXPECTED_FILTERS_ON_DATE_RANGE"),
    ("SELECT campaign.id, metrics.cost_micro FROM campaign WHERE segments.date DURING YESTERDAY",
     "UNRECOGNIZED_FIELD"),
    ("SELECT ad_group.id FROM ad_group", "UNRECOGNIZED_FIELD"),
    ("SELECT campaign.id FROM ad_group WHERE segments.date DURING YESTERDAY", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
    (f"{SELECT} WHERE segments.date DURING LAST_YEAR", "INVALID_VALUE_WITH_DURING_OPERATOR"),
    (f"{SELECT} WHERE segments.date BETWEEN '2026-11-01'", "UNEXPECTED_END_OF_QUERY"),
    (f"{SELECT} WHERE segments.date BETWEEN 'yesterday' AND '2026-11-02'", "QUERY_ERROR"),
    ("SELEKT campaign.id FROM campaign", "QUERY_ERROR"),
])
def test_query_errors(base_url, query, value):
    failure = failure_of(stream(base_url, query), 400)
    assert failure["errorCode"] == {"queryError": value} and failure["message"]


@pytest.mark.parametrize("headers, customer, version, status, code", [
    ({"developer-token": "d"}, CUSTOMER, "v26", 401, {"authenticationError": "OAUTH_TOKEN_HEADER_INVALID"}),
    ({**HEADERS, "Authorization": "Bearer expired-1"}, CUSTOMER, "v26", 401,
     {"authenticationError": "OAUTH_TOKEN_EXPIRED"}),
    ({**HEADERS, "Authorization": "Bearer revoked-1"}, CUSTOMER, "v26", 401,
     {"authenticationError": "OAUTH_TOKEN_REVOKED"}),
    ({**HEADERS, "Authorization": "Bearer invalid-1"}, CUSTOMER, "v26", 401,
     {"authenticationError": "OAUTH_TOKEN_INVALID"}),
    ({**HEADERS, "Authorization": "Bearer noperm-1"}, CUSTOMER, "v26", 403,
     {"authorizationError": "USER_PERMISSION_DENIED"}),
    ({"Authorization": "Bearer t"}, CUSTOMER, "v26", 400, {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}),
    ({**HEADERS, "developer-token": "invalid-d"}, CUSTOMER, "v26", 401,
     {"authenticationError": "DEVELOPER_TOKEN_INVALID"}),
    ({**HEADERS, "developer-token": "unapproved-d"}, CUSTOMER, "v26", 403,
     {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"}),
    ({**HEADERS, "login-customer-id": "123-456-7890"}, CUSTOMER, "v26", 400,
     {"headerError": "INVALID_LOGIN_CUSTOMER_ID"}),
    (HEADERS, "101-000-0001", "v26", 400, {"requestError": "INVALID_CUSTOMER_ID"}),
    (HEADERS, CUSTOMER, "v14", 400, {"requestError": "UNSUPPORTED_VERSION"}),
])
def test_auth_and_request_errors(base_url, headers, customer, version, status, code):
    answer = stream(base_url, f"{SELECT} WHERE segments.date DURING YESTERDAY", customer, version, headers)
    failure = failure_of(answer, status)
    assert failure["errorCode"] == code
    if version == "v26":
        assert answer.json()[0]["error"]["details"][0]["@type"].endswith("googleads.v26.errors.GoogleAdsFailure")


def test_a_login_customer_id_and_a_configured_developer_token(base_url, monkeypatch):
    query = f"{SELECT} WHERE segments.date DURING YESTERDAY"
    assert stream(base_url, query, headers={**HEADERS, "login-customer-id": "9876543210"}).status_code == 200
    monkeypatch.setenv("SANDBOX_GOOGLE_ADS_DEVELOPER_TOKEN", "the-token")
    assert failure_of(stream(base_url, query), 401)["errorCode"] == {"authenticationError": "DEVELOPER_TOKEN_INVALID"}
    assert stream(base_url, query, headers={**HEADERS, "developer-token": "the-token"}).status_code == 200


def test_the_429_switch_answers_resource_exhausted_with_retry_delay(base_url, control):
    control.set_faults("google_ads", status_429=1, retry_after=30)
    answer = stream(base_url, f"{SELECT} WHERE segments.date DURING YESTERDAY")
    failure = failure_of(answer, 429)
    assert answer.json()[0]["error"]["status"] == "RESOURCE_EXHAUSTED" and "Retry-After" not in answer.headers
    assert failure["errorCode"] == {"quotaError": "RESOURCE_EXHAUSTED"}
    assert failure["details"]["quotaErrorDetails"]["retryDelay"] == "30s"
    assert stream(base_url, f"{SELECT} WHERE segments.date DURING YESTERDAY").status_code == 200
    control.set_faults("google_ads", status_5xx=1)
    unavailable = stream(base_url, f"{SELECT} WHERE segments.date DURING YESTERDAY")
    assert unavailable.status_code == 503 and unavailable.json()[0]["error"]["status"] == "UNAVAILABLE"


def test_malformed_results(base_url, control):
    control.set_faults("google_ads", malformed_fraction=0.3)
    query = f"{SELECT} WHERE segments.date BETWEEN '2026-11-20' AND '2026-12-01'"
    rows = rows_of(stream(base_url, query))
    assert rows == rows_of(stream(base_url, query))

    def valid(r):
        try:
            date.fromisoformat(r["segments"]["date"])
            int(r["campaign"]["id"])
            int(r["metrics"]["costMicros"])
            return isinstance(r["metrics"].get("conversions", 0.0), float)
        except (KeyError, TypeError, ValueError):
            return False

    bad = sum(not valid(r) for r in rows)
    assert 0 < bad < len(rows)
    assert [r["malformed"] for r in control.requests("google_ads")] == [bad, bad]


@pytest.mark.parametrize("refresh_token, status", [("revoked-abc", 400), ("invalid-abc", 400), ("good", 200)])
def test_the_refresh_grant_refuses_revoked_refresh_tokens(base_url, refresh_token, status):
    answer = requests.post(f"{base_url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                       "client_id": "c", "client_secret": "s"}, timeout=30)
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"] == "invalid_grant"
    else:
        assert answer.json()["access_token"] and "refresh_token" not in answer.json()
