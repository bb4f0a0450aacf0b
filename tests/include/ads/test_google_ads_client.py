"""GoogleAdsClient against the sandbox's Google Ads REST API and OAuth token endpoint: the
searchStream batches read to the last one, micros as exact Decimals, 429 retryDelay waited
out, 401 and invalid_grant never retried, malformed rows counted and skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from include.ads.google_ads_client import GoogleAdsClient
from include.ads.platforms import TokenRevoked
from include.common.http import ApiError
from include.common.validation import BatchReport
from tests.include.ads.clients_support import generated, parsed, sandbox_api

CUSTOMER = "1010000001"
START, END = date(2026, 2, 1), date(2026, 3, 31)
TODAY = date(2026, 4, 1)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def google(sandbox, session_env, sleeps, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    monkeypatch.setenv("SANDBOX_GOOGLE_ADS_BATCH_ROWS", "50")  # several batches in the stream
    sandbox.reset_faults()
    sandbox.clear_requests()
    base = f"http://127.0.0.1:{session_env['http_port']}"
    with GoogleAdsClient(sandbox_api(session_env, sleeps), client_id="cid", client_secret="csecret",
                         developer_token="dev-token", login_customer_id="9876543210",
                         token_uri=f"{base}/token") as client:
        yield client
    sandbox.reset_faults()


def test_refresh_then_stream_every_batch_with_exact_micros(google, sandbox):
    access, expires = google.refresh("demo-refresh", now=datetime.now(UTC))
    assert access and expires is not None
    report = BatchReport()
    rows = google.daily_stats(CUSTOMER, access, START, END, report)
    expected = generated("google", CUSTOMER, START, END, TODAY)
    assert parsed(rows) == {k: (*v[:4], v[4] if v[4] is not None else Decimal(0)) for k, v in expected.items()}
    assert any(r.spend.as_tuple().exponent == -6 and r.spend != r.spend.quantize(Decimal("0.01")) for r in rows)
    assert sum(r.spend for r in rows) == sum(v[0] for v in expected.values())
    [call] = sandbox.requests("google_ads")
    assert call["path"] == f"/v21/customers/{CUSTOMER}/googleAds:searchStream"
    assert report.fetched == len(expected) > 50 and report.malformed == 0


def test_429_is_waited_out_for_its_retry_delay(google, sandbox, sleeps):
    sandbox.set_faults("google_ads", status_429=2, retry_after=7)
    rows = google.daily_stats(CUSTOMER, "ya29.ok", END, END, BatchReport())
    assert rows and sleeps == [7.0, 7.0]


@pytest.mark.parametrize("token", ["revoked-x", "expired-x"])
def test_a_rejected_access_token_raises_token_revoked_without_retrying(google, sandbox, sleeps, token):
    with pytest.raises(TokenRevoked) as caught:
        google.daily_stats(CUSTOMER, token, START, END, BatchReport())
    assert caught.value.platform == "google" and caught.value.status == 401
    assert len(sandbox.requests("google_ads")) == 1 and sleeps == []


@pytest.mark.parametrize("refresh_token", ["revoked-x", "invalid-x"])
def test_invalid_grant_raises_token_revoked(google, sleeps, refresh_token):
    with pytest.raises(TokenRevoked) as caught:
        google.refresh(refresh_token, now=datetime.now(UTC))
    assert caught.value.code == "invalid_grant" and sleeps == []


def test_a_bad_developer_token_is_a_configuration_error_not_a_revoked_grant(google):
    google._developer_token = "invalid-dev"
    with pytest.raises(ApiError) as caught:
        google.daily_stats(CUSTOMER, "ya29.ok", END, END, BatchReport())
    assert not isinstance(caught.value, TokenRevoked) and "DEVELOPER_TOKEN_INVALID" in str(caught.value)


def test_malformed_rows_are_counted_and_skipped(google, sandbox):
    sandbox.set_faults("google_ads", malformed_fraction=0.2)
    report = BatchReport()
    rows = google.daily_stats(CUSTOMER, "ya29.ok", START, END, report)
    bad = sum(call["malformed"] for call in sandbox.requests("google_ads"))
    assert bad > 0 and report.malformed == bad and report.fetched == len(rows) + bad
