"""Meta insights stand-in: the generator's numbers as strings, cursor paging to a last page
without `next`, throttling as HTTP 400 + code 80000/4/17/613 with the usage header, code 190
by token prefix, malformed rows, and the token exchange / debug_token cases by prefix."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests

from include.demo import ads_data

TODAY = date(2026, 12, 2)
ACCOUNT = "101000000000001"
FIELDS = "campaign_id,campaign_name,spend,impressions,clicks,actions,action_values,date_start,date_stop"
PURCHASE = "offsite_conversion.fb_pixel_purchase"


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())


def insights(base_url, token="user-token", account=ACCOUNT, version="v21.0", **params):
    query = {"level": "campaign", "fields": FIELDS, "time_increment": "1",
             "time_range": json.dumps({"since": "2026-11-26", "until": "2026-12-02"}), **params}
    if token is not None:
        query["access_token"] = token
    return requests.get(f"{base_url}/{version}/act_{account}/insights", params=query, timeout=30)


def graph(base_url, path, **params):
    return requests.get(f"{base_url}/v21.0/{path}", params=params, timeout=30)


def error_of(answer, status=400) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == "OAuthException" and error["fbtrace_id"] and error["message"]
    return error


def test_pages_by_next_to_the_last_page_with_the_generators_numbers(base_url):
    pages, url = [], None
    first = insights(base_url, limit=7)
    assert first.status_code == 200
    body = first.json()
    while True:
        pages.append(body)
        url = body["paging"].get("next")
        if url is None:
            break
        assert url.startswith(base_url + "/v21.0/act_101000000000001/insights?") and "access_token=user-token" in url
        body = requests.get(url, timeout=30).json()
    last = pages[-1]["paging"]
    assert "next" not in last and last["cursors"]["after"] and "previous" in last
    rows = [r for p in pages for r in p["data"]]
    want = ads_data.account_stats("meta", ACCOUNT, date(2026, 11, 26), TODAY, TODAY)
    assert len(pages) == -(-len(want) // 7) > 2
    assert [(r["date_start"], r["campaign_id"]) for r in rows] == [(s.day.isoformat(), s.campaign_id) for s in want]
    for row, s in zip(rows, want, strict=True):
        assert row["date_stop"] == row["date_start"]
        assert all(isinstance(row[k], str) for k in ("spend", "impressions", "clicks", "campaign_id"))
        assert Decimal(row["spend"]) == s.spend and int(row["impressions"]) == s.impressions
        assert int(row["clicks"]) == s.clicks
        actions = {a["action_type"]: a["value"] for a in row["actions"]}
        assert set(actions) == {"link_click", PURCHASE} and Decimal(actions[PURCHASE]) == s.conversions
        [value] = row["action_values"]
        assert value["action_type"] == PURCHASE and Decimal(value["value"]) == s.revenue
        assert isinstance(value["value"], str)
        assert "." not in row["spend"] or not row["spend"].endswith("0")  # Meta drops trailing zeros


def test_paging_by_after_cursor_and_the_planted_cpa_day(base_url):
    first = insights(base_url, limit=3).json()
    second = insights(base_url, limit=3, after=first["paging"]["cursors"]["after"]).json()
    assert second["data"] == insights(base_url, limit=6).json()["data"][3:]
    spike = ads_data.planted_anomalies(TODAY)[0]
    yesterday = insights(base_url, time_range=json.dumps({"since": "2026-12-01", "until": "2026-12-01"})).json()
    [row] = [r for r in yesterday["data"] if r["campaign_id"] == spike.campaign_id]
    stats = ads_data.day_stats("meta", ACCOUNT, spike.campaign_id, spike.day, TODAY)
    assert {a["action_type"]: Decimal(a["value"]) for a in row["actions"]}[PURCHASE] == stats.conversions


def test_bearer_header_all_days_and_an_empty_range(base_url):
    answer = requests.get(f"{base_url}/v25.0/act_{ACCOUNT}/insights", headers={"Authorization": "Bearer tok"},
                          params={"level": "campaign", "fields": "campaign_id,spend", "time_increment": "all_days",
                                  "time_range": json.dumps({"since": "2026-11-26", "until": "2026-12-02"})},
                          timeout=30)
    rows = answer.json()["data"]
    want = ads_data.account_stats("meta", ACCOUNT, date(2026, 11, 26), TODAY, TODAY)
    assert {r["campaign_id"]: Decimal(r["spend"]) for r in rows} == {
        c: sum(s.spend for s in want if s.campaign_id == c) for c in {s.campaign_id for s in want}}
    assert {(r["date_start"], r["date_stop"]) for r in rows} == {("2026-11-26", "2026-12-02")}
    future = insights(base_url, time_range=json.dumps({"since": "2027-01-01", "until": "2027-01-02"}))
    assert future.json() == {"data": []}


@pytest.mark.parametrize("token, code, subcode", [
    (None, 104, None), ("expired-x", 190, 463), ("revoked-x", 190, 460), ("noapp-x", 190, 458),
    (f"long-{int(time.time()) - 10}-abc", 190, 463), ("noperm-x", 200, None), ("123|secret", 200, None),
])
def test_token_errors(base_url, token, code, subcode):
    error = error_of(insights(base_url, token=token))
    assert error["code"] == code and error.get("error_subcode") == subcode


@pytest.mark.parametrize("params, message", [
    ({"level": "ad"}, "level=campaign"), ({"fields": "campaign_id,cpp"}, "cpp is not valid for fields param"),
    ({"time_range": "2026-11-01"}, "time_range"), ({"time_increment": "7"}, "time_increment"),
    ({"limit": "0"}, "limit"), ({"after": "!!"}, "cursor"), ({"breakdowns": '["age"]'}, "breakdowns"),
])
def test_bad_parameters_answer_code_100(base_url, params, message):
    error = error_of(insights(base_url, **params))
    assert error["code"] == 100 and message in error["message"]


def test_bad_account_and_version(base_url, monkeypatch):
    assert error_of(insights(base_url, account="abc"))["error_subcode"] == 33
    assert error_of(insights(base_url, version="latest"))["code"] == 2500
    monkeypatch.setenv("SANDBOX_META_VERSIONS", "v24.0,v25.0")
    assert error_of(insights(base_url, version="v21.0"))["code"] == 2635
    assert insights(base_url, version="v25.0").status_code == 200


@pytest.mark.parametrize("code", [None, "4", "17", "613"])
def test_the_429_switch_throttles_as_meta_does(base_url, control, monkeypatch, code):
    if code:
        monkeypatch.setenv("SANDBOX_META_THROTTLE_CODE", code)
    control.set_faults("meta_ads", status_429=1, retry_after=150)
    throttled = insights(base_url)
    error = error_of(throttled)
    assert error["code"] == int(code or 80000) and error["is_transient"] is True and error["error_subcode"]
    assert "Retry-After" not in throttled.headers
    [usage] = json.loads(throttled.headers["X-Business-Use-Case-Usage"])[ACCOUNT]
    assert usage["type"] == "ads_insights" and usage["estimated_time_to_regain_access"] == 3
    assert usage["call_count"] == 100 and json.loads(throttled.headers["X-App-Usage"])["call_count"] == 100
    fine = insights(base_url)
    assert fine.status_code == 200
    assert json.loads(fine.headers["X-Business-Use-Case-Usage"])[ACCOUNT][0]["estimated_time_to_regain_access"] == 0
    assert [(r["status"], r["fault"]) for r in control.requests("meta_ads")] == [(400, "status_429"), (200, None)]


def test_the_5xx_switch_answers_a_transient_code_2(base_url, control):
    control.set_faults("meta_ads", status_5xx=1)
    error = error_of(insights(base_url), 500)
    assert error["code"] == 2 and error["is_transient"] is True
    assert insights(base_url).status_code == 200


def test_malformed_rows_are_the_same_on_every_call(base_url, control):
    control.set_faults("meta_ads", malformed_fraction=0.3)
    first, again = insights(base_url, limit=100).json()["data"], insights(base_url, limit=100).json()["data"]
    assert first == again
    clean = [r for r in first if _valid(r)]
    assert 0 < len(first) - len(clean) < len(first)
    assert [r["malformed"] for r in control.requests("meta_ads")] == [len(first) - len(clean)] * 2


def _valid(row: dict) -> bool:
    try:
        date.fromisoformat(row["date_start"])
        Decimal(row["spend"])
        int(row["impressions"])
        return "campaign_id" in row and all(Decimal(a["value"]) >= 0 for a in row.get("actions", []))
    except (KeyError, TypeError, ArithmeticError, ValueError):
        return False


# --- tokens -------------------------------------------------------------------------------------

def exchange(base_url, token, client_id="1234", client_secret="app-secret"):
    return graph(base_url, "oauth/access_token", grant_type="fb_exchange_token", client_id=client_id,
                 client_secret=client_secret, fb_exchange_token=token)


def debug(base_url, token, access_token="1234|app-secret"):
    return graph(base_url, "debug_token", input_token=token, access_token=access_token)


def test_an_expiring_token_is_extended_by_the_exchange(base_url):
    before = debug(base_url, "expiring-abc").json()["data"]
    now = time.time()
    assert before["is_valid"] is True and before["type"] == "USER" and before["app_id"] == "1234"
    assert now < before["expires_at"] <= now + 12 * 3600 and "ads_read" in before["scopes"]
    answer = exchange(base_url, "expiring-abc").json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 60 * 86400
    assert answer["access_token"].startswith("long-") and answer["access_token"] != "expiring-abc"
    after = debug(base_url, answer["access_token"]).json()["data"]
    assert after["is_valid"] is True and abs(after["expires_at"] - (now + 60 * 86400)) < 5
    assert insights(base_url, token=answer["access_token"]).status_code == 200


def test_a_stale_token_keeps_its_expiry_and_a_system_token_never_expires(base_url):
    stale = exchange(base_url, "stale-abc").json()
    expires_at = debug(base_url, "stale-abc").json()["data"]["expires_at"]
    assert stale["access_token"] == "stale-abc" and abs(time.time() + stale["expires_in"] - expires_at) < 5
    assert stale["expires_in"] <= 12 * 3600
    system = exchange(base_url, "system-abc").json()
    assert system == {"access_token": "system-abc", "token_type": "bearer"}
    data = debug(base_url, "system-abc").json()["data"]
    assert data["type"] == "SYSTEM_USER" and data["expires_at"] == 0 and data["is_valid"] is True


@pytest.mark.parametrize("token, subcode", [("revoked-abc", 460), ("expired-abc", 463), ("noapp-abc", 458)])
def test_dead_tokens_in_debug_token_and_the_exchange(base_url, token, subcode):
    data = debug(base_url, token).json()["data"]
    assert data["is_valid"] is False and data["error"]["code"] == 190 and data["error"]["subcode"] == subcode
    error = error_of(exchange(base_url, token))
    assert (error["code"], error["error_subcode"]) == (190, subcode)


def test_app_credentials_are_checked_when_configured(base_url, monkeypatch):
    monkeypatch.setenv("SANDBOX_META_APP_ID", "1234")
    monkeypatch.setenv("SANDBOX_META_APP_SECRET", "app-secret")
    assert exchange(base_url, "user-x").status_code == 200
    assert error_of(exchange(base_url, "user-x", client_secret="wrong"))["code"] == 1
    assert error_of(exchange(base_url, "user-x", client_id="999"))["code"] == 101
    assert error_of(debug(base_url, "user-x", access_token="1234|wrong"))["code"] == 1
    assert error_of(graph(base_url, "debug_token", input_token="x"))["code"] == 104
    assert error_of(graph(base_url, "oauth/access_token", grant_type="client_credentials"))["code"] == 100
    proof = hmac.new(b"app-secret", b"user-x", hashlib.sha256).hexdigest()
    assert insights(base_url, token="user-x", appsecret_proof=proof).status_code == 200
    assert error_of(insights(base_url, token="user-x", appsecret_proof="00"))["code"] == 100


def test_a_day_past_today_has_no_rows(base_url):
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert insights(base_url, time_range=json.dumps({"since": tomorrow, "until": tomorrow})).json() == {"data": []}
