"""Airflow connections -> ApiClient, the API settings and the shared limiter (connections and
the variable from AIRFLOW_CONN_* / AIRFLOW_VAR_* environment variables, as in dev and CI)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.common.rate_limit import SOCKET_TIMEOUTS, Limit
from include.orchestration.clients import (
    AdSenseSettings,
    LlmSettings,
    YouTubeSettings,
    api,
    api_client,
    api_connection,
    base_url,
    rate_limiter,
    redis_client,
)


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **fields}))


def test_bearer_connection_with_timeouts(api_server, monkeypatch):
    parts = urlsplit(api_server.url)
    set_conn(monkeypatch, "test_bearer_api", host=parts.hostname, schema="http", port=parts.port,
             password="token-abc-123", extra={"auth": "bearer", "connect_timeout": 2, "read_timeout": 9,
                                              "max_attempts": 2, "headers": {"Accept-Language": "en"}})
    api = api_client("test_bearer_api")
    assert (api.base_url, api.timeout, api.max_attempts) == (api_server.url, (2.0, 9.0), 2)
    api.get("/ok")
    assert api_server.requests[0].headers["Authorization"] == "Bearer token-abc-123"
    assert api_server.requests[0].headers["Accept-Language"] == "en"


def test_api_key_headers_and_a_shared_limit(api_server, monkeypatch, redis_url, key_prefix):
    set_conn(monkeypatch, "test_key_api", host=api_server.url, login="app-id-7", password="key-xyz-789",
             extra={"auth": "api_key", "login_header": "x-app-id", "rate_limit": "soundcharts"})
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", json.dumps({
        "conn_type": "redis", "host": urlsplit(redis_url).hostname, "port": urlsplit(redis_url).port or 6379,
        "extra": {"db": int(urlsplit(redis_url).path.strip("/") or 0)}}))
    monkeypatch.setenv("AIRFLOW_VAR_RATE_LIMITS", json.dumps({"soundcharts": [5, 1]}))
    api = api_client("test_key_api")
    assert api.rate_limiter.limit == Limit(5, 1) and api.rate_limiter.key == "jobyard:ratelimit:soundcharts"
    api.rate_limiter.key = f"{key_prefix}soundcharts"  # keep the test off the real key
    api.get("/ok")
    headers = api_server.requests[0].headers
    assert headers["x-api-key"] == "key-xyz-789" and headers["x-app-id"] == "app-id-7"
    assert rate_limiter("acrcloud").limit == Limit(1, 60.0, guard=1.0)


def test_a_password_without_an_auth_mode_is_refused(monkeypatch):
    set_conn(monkeypatch, "test_vague_api", host="api.example.com", password="secret-123")
    with pytest.raises(AirflowFailException, match="has a password but no extra.auth"):
        api_client("test_vague_api")
    set_conn(monkeypatch, "test_vague_api", host="api.example.com", password="secret-123", extra={"auth": "token"})
    with pytest.raises(AirflowFailException, match="extra.auth must be bearer, api_key, basic or none"):
        api_client("test_vague_api")


def test_base_url_like_httphook():
    assert base_url("api.example.com", None, None) == "https://api.example.com"
    assert base_url("api.example.com", "http", 8080) == "http://api.example.com:8080"
    assert base_url("https://graph.facebook.com/v21.0", "ignored", None) == "https://graph.facebook.com/v21.0"


def test_settings_come_with_the_client(api_server, monkeypatch):
    set_conn(monkeypatch, "test_adsense_api", host=api_server.url, password="tok",
             extra={"auth": "bearer", "account_id": "pub-7052138940016523", "currency_code": "EUR"})
    client, adsense = api("test_adsense_api", AdSenseSettings)
    with client:
        assert adsense == AdSenseSettings("pub-7052138940016523", "EUR")
        client.get("/ok")
    assert api_server.requests[0].headers["Authorization"] == "Bearer tok"
    set_conn(monkeypatch, "test_youtube_api", host=api_server.url, password="tok",
             extra={"auth": "bearer", "page_size": "200"})  # the connection form stores text
    assert api("test_youtube_api", YouTubeSettings)[1] == YouTubeSettings("channel==MINE", 200)


@pytest.mark.parametrize(("settings", "extra", "message"), [
    (AdSenseSettings, {}, r"connection 'test_bad_api': extra.account_id is required \(pub-"),
    (AdSenseSettings, {"account_id": "1234"}, r"extra.account_id: AdSense account id must look like pub-"),
    (AdSenseSettings, {"account_id": "pub-1", "currency_code": "usd"}, r"extra.currency_code must be a 3-letter"),
    (YouTubeSettings, {"page_size": 0}, r"extra.page_size must be an integer 1..10000, got 0"),
    (YouTubeSettings, {"page_size": "lots"}, r"extra.page_size must be an integer 1..10000, got 'lots'"),
    (YouTubeSettings, {"page_size": 50.5}, r"extra.page_size must be an integer"),
    (YouTubeSettings, {"ids": "MINE"}, r"extra.ids must be channel==MINE"),
    (LlmSettings, {"model": " "}, r"connection 'test_bad_api': extra.model is required"),
    (None, {"read_timeout": "soon"}, r"extra.read_timeout must be a positive number of seconds"),
    (None, {"max_attempts": 0}, r"extra.max_attempts must be an integer 1..20"),
])
def test_a_bad_extra_fails_at_once_naming_connection_and_field(monkeypatch, settings, extra, message):
    set_conn(monkeypatch, "test_bad_api", host="api.example.com", password="tok", extra={"auth": "bearer", **extra})
    with pytest.raises(AirflowFailException, match=message):
        api_connection("test_bad_api", settings)


def test_a_missing_connection_fails_unless_optional(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TEST_ABSENT_API", raising=False)
    assert api_connection("test_absent_api", LlmSettings, optional=True) is None
    with pytest.raises(AirflowFailException, match="connection 'test_absent_api' is not defined"):
        api_connection("test_absent_api", LlmSettings)


def test_one_read_many_clients(api_server, monkeypatch):
    set_conn(monkeypatch, "test_llm_api", host=api_server.url, password="key", extra={"auth": "bearer", "model": "m1"})
    llm = api_connection("test_llm_api", LlmSettings)
    monkeypatch.delenv("AIRFLOW_CONN_TEST_LLM_API")  # clients are built from what was read
    first, second = llm.client(), llm.client()
    assert first is not second and llm.settings.model == "m1"
    assert first.session.headers["Authorization"] == second.session.headers["Authorization"] == "Bearer key"


def test_the_limiter_client_comes_from_redishook_with_socket_timeouts(monkeypatch, redis_url):
    parts = urlsplit(redis_url)
    monkeypatch.setenv("AIRFLOW_CONN_TEST_REDIS", json.dumps({
        "conn_type": "redis", "host": parts.hostname, "port": parts.port or 6379, "password": "none",
        "extra": {"db": int(parts.path.strip("/") or 0)}}))
    client = redis_client("test_redis")
    assert client.ping()
    connection = client.connection_pool.get_connection()
    try:
        assert (connection.socket_connect_timeout, connection.socket_timeout) == (
            SOCKET_TIMEOUTS["socket_connect_timeout"], SOCKET_TIMEOUTS["socket_timeout"])
        assert connection.password is None  # RedisHook's reading: "none" means no password
    finally:
        client.connection_pool.release(connection)
