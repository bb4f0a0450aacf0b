"""Token upkeep against the sandbox and a real database: each platform's cases, one alert per
failure episode across reruns, a new episode only after a recovery, one account's failure
never stopping the others, and no plaintext token at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from airflow.sdk.definitions.retry_policy import RetryAction

from include.ads.google_ads_client import GoogleAdsClient
from include.ads.meta_client import MetaClient
from include.ads.tiktok_client import TikTokClient
from include.ads.token_upkeep import TokenChecksInterrupted, check_tokens
from include.common.crypto import TokenCipher, generate_key
from include.orchestration.errors import ERROR_POLICY
from tests.include.ads.clients_support import sandbox_api
from tests.include.ads.token_support import account_row, add_account, alerts, episodes, set_token
from tools import devenv


@pytest.fixture(scope="module")
def db(session_env):
    with devenv.scratch_database("jobyard_test_ads_tokens", session_env["server"]) as url:
        yield url


@pytest.fixture
def conn(db):
    with psycopg.connect(db) as connection:
        connection.execute("TRUNCATE ads.users, platform.outbox RESTART IDENTITY CASCADE")
        connection.commit()
        yield connection


@pytest.fixture(scope="module")
def cipher():
    return TokenCipher(generate_key())


@pytest.fixture
def sleeps(sandbox):
    sandbox.reset_faults()
    yield []
    sandbox.reset_faults()


def meta(session_env, sleeps, **kwargs):
    return MetaClient(sandbox_api(session_env, sleeps, **kwargs), app_id="1234567890123456", app_secret="s")


def test_meta_tokens_each_get_what_they_need(conn, cipher, session_env, sleeps):
    now = datetime.now(UTC)
    system = add_account(conn, cipher, "meta", "act_1", "system-a")
    expiring = add_account(conn, cipher, "meta", "act_2", "expiring-b")
    stale = add_account(conn, cipher, "meta", "act_3", "stale-c")
    revoked = add_account(conn, cipher, "meta", "act_4", "revoked-d")
    result = check_tokens(conn, "meta", meta(session_env, sleeps), cipher, now=now)
    assert (result["valid"], result["extended"], sorted(result["needs_reauth"]), result["alerts_queued"]) == \
        (1, 1, ["meta:act_3", "meta:act_4"], 2)
    assert account_row(conn, system)["status"] == "active" and account_row(conn, system)["token_expires_at"] is None
    extended = account_row(conn, expiring)
    assert extended["status"] == "active" and extended["token_expires_at"] > now + timedelta(days=59)
    assert extended["last_refreshed_at"] == now
    stored = conn.execute("SELECT access_token_enc FROM ads.ad_account_tokens WHERE account_id = %s",
                          (expiring,)).fetchone()[0]
    assert cipher.decrypt(stored).startswith("long-")
    for account_id, words in ((stale, "cannot extend"), (revoked, "invalid")):
        row = account_row(conn, account_id)
        assert row["status"] == "needs_reauth" and words in row["last_error"]
        [(key, recipient, subject)] = alerts(conn, account_id)
        assert key == f"ads-token:{account_id}:1" and recipient.endswith("@ads.test") and "Reconnect" in subject


def test_one_alert_per_episode_across_reruns_and_a_new_one_after_recovery(conn, cipher, session_env, sleeps):
    account_id = add_account(conn, cipher, "meta", "act_9", "revoked-x")
    client = meta(session_env, sleeps)
    for day in range(3):  # three nightly runs of the same failure
        check_tokens(conn, "meta", client, cipher, now=datetime.now(UTC) + timedelta(days=day))
    assert len(alerts(conn, account_id)) == 1 and episodes(conn, account_id) == [(1, False)]
    set_token(conn, cipher, account_id, "system-reconnected")  # the user reconnects
    result = check_tokens(conn, "meta", client, cipher, now=datetime.now(UTC))
    assert result["recovered"] == 1 and account_row(conn, account_id)["status"] == "active"
    assert account_row(conn, account_id)["last_error"] is None and episodes(conn, account_id) == [(1, True)]
    set_token(conn, cipher, account_id, "revoked-again")
    check_tokens(conn, "meta", client, cipher, now=datetime.now(UTC))
    check_tokens(conn, "meta", client, cipher, now=datetime.now(UTC))
    assert [a[0] for a in alerts(conn, account_id)] == [f"ads-token:{account_id}:1", f"ads-token:{account_id}:2"]
    assert episodes(conn, account_id) == [(1, True), (2, False)]


def test_google_refresh_tokens_are_proven_by_a_refresh(conn, cipher, session_env, sleeps):
    base = f"http://127.0.0.1:{session_env['http_port']}"
    good = add_account(conn, cipher, "google", "1010000001", "ya29.old", refresh_token="demo-refresh")
    revoked = add_account(conn, cipher, "google", "1010000002", "ya29.old", refresh_token="revoked-refresh")
    client = GoogleAdsClient(sandbox_api(session_env, sleeps), client_id="c", client_secret="s", developer_token="d",
                             token_uri=f"{base}/token")
    result = check_tokens(conn, "google", client, cipher, now=datetime.now(UTC))
    assert (result["refreshed"], result["needs_reauth"]) == (1, ["google:1010000002"])
    stored = conn.execute("SELECT access_token_enc FROM ads.ad_account_tokens WHERE account_id = %s",
                          (good,)).fetchone()[0]
    assert cipher.decrypt(stored) != "ya29.old" and account_row(conn, good)["status"] == "active"
    assert "invalid_grant" in account_row(conn, revoked)["last_error"] and len(alerts(conn, revoked)) == 1


def test_tiktok_tokens_are_validated_by_an_authenticated_call(conn, cipher, session_env, sleeps):
    good = add_account(conn, cipher, "tiktok", "7100000000000000001", "act.good")
    revoked = add_account(conn, cipher, "tiktok", "7100000000000000002", "revoked-token")
    result = check_tokens(conn, "tiktok", TikTokClient(sandbox_api(session_env, sleeps)), cipher, now=datetime.now(UTC))
    assert (result["valid"], result["needs_reauth"]) == (1, ["tiktok:7100000000000000002"])
    assert account_row(conn, good)["token_expires_at"] is None
    assert "40105" in account_row(conn, revoked)["last_error"] and len(alerts(conn, revoked)) == 1


def test_a_platform_outage_marks_no_account_and_fails_transiently_after_checking_the_rest(conn, cipher, session_env,
                                                                                          sleeps, sandbox):
    first = add_account(conn, cipher, "meta", "act_11", "system-a")
    second = add_account(conn, cipher, "meta", "act_12", "system-b")
    sandbox.set_faults("meta_ads", status_5xx=2)  # both tries of the first account's debug_token
    with pytest.raises(TokenChecksInterrupted) as caught:
        check_tokens(conn, "meta", meta(session_env, sleeps, max_attempts=2), cipher, now=datetime.now(UTC))
    assert list(caught.value.result["errors"]) == ["meta:act_11"] and caught.value.result["valid"] == 1
    outage = account_row(conn, first)
    assert outage["status"] == "active" and "RetryableApiError" in outage["last_error"]
    assert account_row(conn, second)["last_error"] is None and alerts(conn, first) == []
    assert ERROR_POLICY.evaluate(caught.value, 1, 4).action == RetryAction.RETRY  # transient: Airflow retries


def test_no_token_is_stored_in_plaintext(conn, cipher):
    tokens = ["system-secret-1", "expiring-secret-2", "demo-refresh-secret-3"]
    add_account(conn, cipher, "meta", "act_21", tokens[0])
    add_account(conn, cipher, "google", "1010000021", tokens[1], refresh_token=tokens[2])
    raw = conn.execute("SELECT access_token_enc, refresh_token_enc FROM ads.ad_account_tokens").fetchall()
    blobs = [bytes(b) for row in raw for b in row if b is not None]
    assert len(blobs) == 3
    assert not any(t.encode() in blob for t in tokens for blob in blobs)
    dump = conn.execute("SELECT string_agg(t::text, ' ') FROM ads.ad_account_tokens t").fetchone()[0]
    assert not any(t in dump for t in tokens)
    assert sorted(cipher.decrypt(b) for b in blobs) == sorted(tokens)
