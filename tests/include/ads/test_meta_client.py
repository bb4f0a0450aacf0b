"""MetaClient against the sandbox's Marketing API: insights paged by cursor to the last page,
exact money, the 400-class throttle waited out as its usage header says, 190 never retried,
malformed rows counted and skipped, and the token operations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from include.ads.meta_client import MetaClient
from include.ads.platforms import TokenRevoked
from include.common.http import RetryableApiError
from include.common.validation import BatchReport
from tests.include.ads.clients_support import generated, parsed, sandbox_api, zero_revenue_as

ACCOUNT = "101000000000001"
START, END = date(2026, 3, 1), date(2026, 3, 20)
TODAY = date(2026, 4, 1)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def meta(sandbox, session_env, sleeps, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())  # the in-process sandbox reads it per call
    sandbox.reset_faults()
    sandbox.clear_requests()
    with MetaClient(sandbox_api(session_env, sleeps), app_id="1234567890123456", app_secret="s3cret",
                    page_size=25) as client:
        yield client
    sandbox.reset_faults()


def test_insights_page_to_the_last_page_with_exact_money(meta, sandbox):
    report = BatchReport()
    rows = meta.daily_stats(f"act_{ACCOUNT}", "system-test", START, END, report)
    expected = zero_revenue_as(generated("meta", ACCOUNT, START, END, TODAY), Decimal(0))
    assert parsed(rows) == expected
    assert all(type(r.spend) is Decimal for r in rows)
    assert sum(r.spend for r in rows) == sum(v[0] for v in expected.values())  # to the cent, no float drift
    calls = sandbox.requests("meta_ads")
    assert len(calls) == -(-len(expected) // 25) > 1  # every page, the last one without paging.next
    assert calls[0]["path"] == f"/v25.0/act_{ACCOUNT}/insights"
    assert calls[0]["query"]["time_increment"] == "1" and calls[0]["query"]["level"] == "campaign"
    assert "after" in calls[-1]["query"]
    assert (report.fetched, report.malformed) == (len(expected), 0)


def test_throttle_is_waited_out_as_the_usage_header_says(meta, sandbox, sleeps):
    sandbox.set_faults("meta_ads", status_429=2, retry_after=120)  # 400 code 80000, regain in 2 minutes
    rows = meta.daily_stats(ACCOUNT, "system-test", START, START, BatchReport())
    assert rows and sleeps == [120.0, 120.0]


def test_a_throttle_longer_than_the_max_wait_fails_the_try_transiently(sandbox, session_env, sleeps, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    sandbox.set_faults("meta_ads", status_429=1, retry_after=600)
    client = MetaClient(sandbox_api(session_env, sleeps, max_retry_after=300), app_id="1", app_secret="s")
    with pytest.raises(RetryableApiError, match="asked to wait 600"):
        client.daily_stats(ACCOUNT, "system-test", START, START, BatchReport())
    assert sleeps == []
    sandbox.reset_faults()


@pytest.mark.parametrize("token", ["revoked-user", "expired-user"])
def test_a_rejected_token_raises_token_revoked_without_retrying(meta, sandbox, sleeps, token):
    with pytest.raises(TokenRevoked) as caught:
        meta.daily_stats(ACCOUNT, token, START, END, BatchReport())
    assert caught.value.platform == "meta" and str(caught.value.code).startswith("190")
    assert len(sandbox.requests("meta_ads")) == 1 and sleeps == []


def test_malformed_rows_are_counted_and_skipped(meta, sandbox):
    sandbox.set_faults("meta_ads", malformed_fraction=0.2)
    report = BatchReport()
    rows = meta.daily_stats(ACCOUNT, "system-test", START, END, report)
    bad = sum(call["malformed"] for call in sandbox.requests("meta_ads"))
    assert bad > 0
    assert report.malformed == bad and report.fetched == len(rows) + bad
    expected = zero_revenue_as(generated("meta", ACCOUNT, START, END, TODAY), Decimal(0))
    assert all(expected[key] == value for key, value in parsed(rows).items())  # the good ones are exact


def test_debug_token_and_exchange(meta):
    now = datetime.now(UTC)
    assert meta.debug_token("system-x", now=now).expires_at is None
    expiring = meta.debug_token("expiring-x", now=now)
    assert expiring.is_valid and expiring.expires_at < now + timedelta(hours=24)
    token, expires = meta.exchange("expiring-x", now=now)
    assert token.startswith("long-") and expires > now + timedelta(days=59)
    assert meta.debug_token(token, now=now).expires_at > now + timedelta(days=59)
    revoked = meta.debug_token("revoked-x", now=now)
    assert not revoked.is_valid and "invalidated" in revoked.error
    with pytest.raises(TokenRevoked):
        meta.exchange("revoked-x", now=now)
