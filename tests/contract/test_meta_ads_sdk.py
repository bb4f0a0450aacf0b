"""The official Meta Business SDK (`facebook-business` 26.0.3) against the sandbox: its only
base URL is `FacebookSession.GRAPH` (an attribute, set on our session instance), the version
segment comes from `FacebookAdsApi(session, api_version)`. `AdAccount.get_insights` builds
the call our client makes (fields joined by commas, time_range JSON-encoded, the token and
appsecret_proof as query parameters) and its Cursor pages by `paging.cursors.after` while
`paging.next` is present; Meta's errors come back as FacebookRequestError with the code,
subcode, transient flag and headers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from include.demo import ads_data

TODAY = date(2026, 12, 2)
ACCOUNT = "101000000000001"
PURCHASE = "offsite_conversion.fb_pixel_purchase"
FIELDS = [AdsInsights.Field.campaign_id, AdsInsights.Field.campaign_name, AdsInsights.Field.spend,
          AdsInsights.Field.impressions, AdsInsights.Field.clicks, AdsInsights.Field.actions,
          AdsInsights.Field.action_values, AdsInsights.Field.date_start, AdsInsights.Field.date_stop]
PARAMS = {"level": "campaign", "time_increment": 1, "limit": 6,
          "time_range": {"since": "2026-11-20", "until": "2026-12-02"}}


@pytest.fixture(autouse=True)
def app(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    monkeypatch.setenv("SANDBOX_META_APP_ID", "1234")
    monkeypatch.setenv("SANDBOX_META_APP_SECRET", "app-secret")


def graph_api(base_url: str, token: str = "user-token", version: str = "v21.0") -> FacebookAdsApi:
    session = FacebookSession(app_id="1234", app_secret="app-secret", access_token=token)
    session.GRAPH = base_url  # the SDK's base URL, https://graph.facebook.com by default
    return FacebookAdsApi(session, api_version=version)


def test_get_insights_cursor_iterates_every_page(sandbox_url, sandbox):
    account = AdAccount(f"act_{ACCOUNT}", api=graph_api(sandbox_url))
    rows = [row.export_all_data() for row in account.get_insights(fields=FIELDS, params=PARAMS)]
    want = ads_data.account_stats("meta", ACCOUNT, date(2026, 11, 20), TODAY, TODAY)
    assert len(rows) == len(want)
    for row, s in zip(rows, want, strict=True):
        assert (row["campaign_id"], row["date_start"], row["date_stop"]) == (s.campaign_id, s.day.isoformat(),
                                                                            s.day.isoformat())
        assert Decimal(row["spend"]) == s.spend and int(row["impressions"]) == s.impressions
        assert int(row["clicks"]) == s.clicks
        assert {a["action_type"]: Decimal(a["value"]) for a in row["actions"]}[PURCHASE] == s.conversions
        assert {a["action_type"]: Decimal(a["value"]) for a in row["action_values"]}[PURCHASE] == s.revenue
    calls = sandbox.requests("meta_ads")
    assert len(calls) == -(-len(want) // 6) and {c["status"] for c in calls} == {200}
    first = calls[0]["query"]
    assert first["fields"] == ",".join(FIELDS) and json.loads(first["time_range"]) == PARAMS["time_range"]
    assert first["access_token"] == "user-token" and first["appsecret_proof"] and "after" not in first
    assert all("after" in c["query"] for c in calls[1:])
    assert calls[0]["path"] == f"/v21.0/act_{ACCOUNT}/insights"


def test_throttling_surfaces_as_a_transient_request_error(sandbox_url, sandbox):
    sandbox.set_faults("meta_ads", status_429=1, retry_after=60)
    account = AdAccount(f"act_{ACCOUNT}", api=graph_api(sandbox_url))
    with pytest.raises(FacebookRequestError) as caught:
        list(account.get_insights(fields=FIELDS, params=PARAMS))
    error = caught.value
    assert error.http_status() == 400 and error.api_error_code() == 80000 and error.api_transient_error() is True
    usage = json.loads(error.http_headers()["X-Business-Use-Case-Usage"])
    assert usage[ACCOUNT][0]["estimated_time_to_regain_access"] == 1
    assert len(list(account.get_insights(fields=FIELDS, params=PARAMS))) > 0


@pytest.mark.parametrize("token, subcode", [("expired-t", 463), ("revoked-t", 460)])
def test_dead_tokens_surface_as_code_190(sandbox_url, token, subcode):
    account = AdAccount(f"act_{ACCOUNT}", api=graph_api(sandbox_url, token))
    with pytest.raises(FacebookRequestError) as caught:
        list(account.get_insights(fields=FIELDS, params=PARAMS))
    assert (caught.value.api_error_code(), caught.value.api_error_subcode()) == (190, subcode)
    assert caught.value.api_error_type() == "OAuthException"


def test_token_exchange_and_debug_token_through_the_sdks_call(sandbox_url):
    api = graph_api(sandbox_url, "1234|app-secret")  # the app token debug_token is called with
    exchanged = api.call("GET", ("oauth", "access_token"), params={
        "grant_type": "fb_exchange_token", "client_id": "1234", "client_secret": "app-secret",
        "fb_exchange_token": "expiring-user"}).json()
    assert exchanged["token_type"] == "bearer" and exchanged["expires_in"] == 60 * 86400
    data = api.call("GET", ("debug_token",), params={"input_token": exchanged["access_token"]}).json()["data"]
    assert data["is_valid"] is True and data["type"] == "USER" and data["app_id"] == "1234"
    revoked = api.call("GET", ("debug_token",), params={"input_token": "revoked-user"}).json()["data"]
    assert revoked["is_valid"] is False and revoked["error"]["code"] == 190
