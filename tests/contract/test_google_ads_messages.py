"""The official `google-ads` package (34.0.0: API versions v23..v26; its client speaks gRPC, so
the REST contract is its messages): every searchStream batch the sandbox answers parses with
protobuf's JSON mapping into v26 SearchGoogleAdsStreamResponse (unknown or mistyped fields
would fail the parse), and the parsed int64/micros/double fields equal the generator's; error
details parse into GoogleAdsFailure, the quota error's retryDelay into a Duration."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import requests
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.types.google_ads_service import SearchGoogleAdsStreamResponse
from google.protobuf import json_format

from include.demo import ads_data

TODAY = date(2026, 12, 2)
CUSTOMER = "1010000001"
QUERY = ("SELECT campaign.id, campaign.name, segments.date, metrics.cost_micros, metrics.impressions, "
         "metrics.clicks, metrics.conversions, metrics.conversions_value FROM campaign "
         "WHERE segments.date BETWEEN '2026-11-20' AND '2026-12-02'")
HEADERS = {"Authorization": "Bearer sandbox-token", "developer-token": "dev", "login-customer-id": "9876543210"}


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    monkeypatch.setenv("SANDBOX_GOOGLE_ADS_BATCH_ROWS", "13")


def search_stream(base_url: str, query: str = QUERY, headers: dict = HEADERS):
    return requests.post(f"{base_url}/v26/customers/{CUSTOMER}/googleAds:searchStream", json={"query": query},
                         headers=headers, timeout=30)


def test_every_batch_parses_and_equals_the_generator(sandbox_url):
    answer = search_stream(sandbox_url)
    assert answer.status_code == 200
    parsed = [json_format.Parse(json.dumps(batch), SearchGoogleAdsStreamResponse.pb()()) for batch in answer.json()]
    assert len(parsed) > 2
    rows = [row for batch in parsed for row in batch.results]
    want = ads_data.account_stats("google", CUSTOMER, date(2026, 11, 20), TODAY, TODAY)
    assert len(rows) == len(want)
    for row, s in zip(rows, want, strict=True):
        assert row.campaign.id == int(s.campaign_id)
        assert row.campaign.resource_name == f"customers/{CUSTOMER}/campaigns/{s.campaign_id}"
        assert row.campaign.name == ads_data.campaign("google", CUSTOMER, s.campaign_id).name
        assert row.segments.date == s.day.isoformat()
        assert row.metrics.cost_micros == ads_data.google_micros(s.spend)
        assert (row.metrics.impressions, row.metrics.clicks) == (s.impressions, s.clicks)
        assert Decimal(str(row.metrics.conversions)) == s.conversions
        assert Decimal(str(row.metrics.conversions_value)) == s.revenue
    assert list(parsed[0].field_mask.paths) == ["campaign.id", "campaign.name", "segments.date", "metrics.cost_micros",
                                                "metrics.impressions", "metrics.clicks", "metrics.conversions",
                                                "metrics.conversions_value"]
    assert parsed[0].request_id == answer.headers["request-id"]
    assert parsed[-1].query_resource_consumption > 0


def test_an_empty_answer_and_summed_rows_parse(sandbox_url):
    empty = search_stream(sandbox_url, QUERY.replace("2026-11-20", "2027-01-01").replace("2026-12-02", "2027-01-02"))
    [batch] = [json_format.Parse(json.dumps(b), SearchGoogleAdsStreamResponse.pb()()) for b in empty.json()]
    assert list(batch.results) == []
    summed = search_stream(sandbox_url, "SELECT campaign.id, metrics.cost_micros, customer.currency_code FROM campaign "
                                        "WHERE segments.date DURING LAST_7_DAYS")
    rows = [r for b in summed.json() for r in json_format.Parse(json.dumps(b), SearchGoogleAdsStreamResponse.pb()())
            .results]
    assert rows and {r.customer.currency_code for r in rows} == {"USD"}


def _failure(answer) -> GoogleAdsFailure:
    [wrapped] = answer.json()
    [detail] = wrapped["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
    return json_format.Parse(json.dumps({k: v for k, v in detail.items() if k != "@type"}), GoogleAdsFailure.pb()())


def test_error_details_parse_as_google_ads_failures(sandbox_url, sandbox):
    expired = _failure(search_stream(sandbox_url, headers={**HEADERS, "Authorization": "Bearer expired-x"}))
    assert expired.errors[0].error_code.authentication_error == 16  # OAUTH_TOKEN_EXPIRED
    query = _failure(search_stream(sandbox_url, QUERY.replace("metrics.clicks", "metrics.clickz")))
    assert query.errors[0].error_code.query_error == 32  # UNRECOGNIZED_FIELD
    sandbox.set_faults("google_ads", status_429=1, retry_after=45)
    throttled = search_stream(sandbox_url)
    assert throttled.status_code == 429
    quota = _failure(throttled).errors[0]
    assert quota.error_code.quota_error == 2  # RESOURCE_EXHAUSTED
    assert quota.details.quota_error_details.retry_delay.seconds == 45
