"""Airflow connections -> ApiClient and the shared limiter (connections and the variable from
AIRFLOW_CONN_* / AIRFLOW_VAR_* environment variables, as in dev and CI)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from include.common.rate_limit import Limit
from include.orchestration.clients import api_client, base_url, rate_limiter


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
    with pytest.raises(ValueError, match="has a password but no extra.auth"):
        api_client("test_vague_api")


def test_base_url_like_httphook():
    assert base_url("api.example.com", None, None) == "https://api.example.com"
    assert base_url("api.example.com", "http", 8080) == "http://api.example.com:8080"
    assert base_url("https://graph.facebook.com/v21.0", "ignored", None) == "https://graph.facebook.com/v21.0"
