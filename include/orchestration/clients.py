"""Airflow connection ids -> HTTP API clients and the shared rate limiter.

Connections and variables are read inside these functions, i.e. at task run time, never at
DAG parse time.

HTTP API connections (conn_type http) use:
- host: a full base URL (`https://api.soundcharts.com`, may carry a path such as `/v2`), or a
  bare host name with `schema` as the URL scheme (default https) — as the http provider's
  HttpHook reads them; `port` is appended when set. (HttpHook itself is not used: its retries
  don't honour Retry-After, see include/common/http.py.)
- password: the secret (token or key); login: the user or app id where the API has one.
- extra (JSON), all optional:
  - `auth`: how the secret is sent — "bearer" (`Authorization: Bearer <password>`),
    "api_key" (header `api_key_header`, default `x-api-key`, = password; with `login_header`
    the login goes in that header too, e.g. Soundcharts' `x-app-id`), "basic" (login and
    password), or "none". Required when a password is set, so a secret is never sent in a
    way nobody chose.
  - `headers`: static headers sent on every call (e.g. `{"Accept-Language": "en"}`).
  - `connect_timeout` / `read_timeout` (seconds, default 5 / 30), `max_attempts` (5),
    `max_retry_after` (300 s: a longer 429 wait fails the try, Airflow retries later).
  - `rate_limit`: the API name of a shared limit (`soundcharts`) to take a token from
    before every request.
"""

from __future__ import annotations

from typing import Any

import redis

from include.common.http import ApiClient
from include.common.rate_limit import SOCKET_TIMEOUTS, RedisRateLimiter, limit_for
from include.orchestration import variables

REDIS_CONN_ID = "redis_default"
RATE_LIMITS_VARIABLE = "rate_limits"
_REDIS_SSL_EXTRAS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")


def base_url(host: str | None, schema: str | None, port: int | None) -> str:
    """The base URL of an HTTP connection, read the way HttpHook reads it, except that the
    default scheme is https (HttpHook's is http): every external API here is HTTPS."""
    if not host:
        raise ValueError("an HTTP API connection needs a host")
    url = host if "://" in host else f"{schema or 'https'}://{host}"
    return f"{url}:{port}" if port else url


def auth_settings(extra: dict[str, Any], login: str | None, password: str | None,
                  conn_id: str) -> dict[str, Any]:
    """ApiClient `headers`/`auth` for a connection's `extra.auth` (see the module docstring)."""
    mode = extra.get("auth", "none" if not password else None)
    headers: dict[str, str] = dict(extra.get("headers") or {})
    if mode == "bearer":
        headers["Authorization"] = f"Bearer {password}"
    elif mode == "api_key":
        headers[extra.get("api_key_header", "x-api-key")] = password or ""
        if extra.get("login_header"):
            headers[extra["login_header"]] = login or ""
    elif mode == "basic":
        return {"headers": headers, "auth": (login or "", password or "")}
    elif mode is None:
        raise ValueError(f"connection {conn_id!r} has a password but no extra.auth "
                         "(bearer, api_key or basic)")
    elif mode != "none":
        raise ValueError(f"connection {conn_id!r}: extra.auth must be bearer, api_key, basic or "
                         f"none, got {mode!r}")
    return {"headers": headers}


def api_client(conn_id: str, **kwargs: Any) -> ApiClient:
    """An ApiClient configured by the Airflow connection `conn_id`; `kwargs` override it
    (e.g. `auth=` a signing AuthBase, `sleep=`)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    settings: dict[str, Any] = {
        **auth_settings(extra, conn.login, conn.password, conn_id),
        "timeout": (float(extra.get("connect_timeout", 5)), float(extra.get("read_timeout", 30))),
    }
    for key in ("max_attempts", "max_retry_after"):
        if key in extra:
            settings[key] = extra[key]
    if extra.get("rate_limit") and "rate_limiter" not in kwargs:
        settings["rate_limiter"] = rate_limiter(extra["rate_limit"])
    settings.update(kwargs)
    return ApiClient(base_url(conn.host, conn.schema, conn.port), **settings)


def rate_limiter(api: str, *, conn_id: str = REDIS_CONN_ID, **kwargs: Any) -> RedisRateLimiter:
    """The shared limiter of `api` on the Redis of `conn_id` (fields as the redis provider's
    RedisHook reads them: host, port, login, password, extra db and ssl*), with limits from
    the `rate_limits` variable (JSON, optional) over the defaults."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    password = None if str(conn.password).lower() in ("none", "false", "") else conn.password
    ssl = {k: extra[k] for k in _REDIS_SSL_EXTRAS if k in extra}
    client = redis.Redis(host=conn.host or "localhost", port=conn.port or 6379, db=int(extra.get("db") or 0),
                         username=conn.login or None, password=password, **ssl, **SOCKET_TIMEOUTS)
    limits = variables.get(RATE_LIMITS_VARIABLE, {})
    return RedisRateLimiter(client, api, limit_for(api, limits), **kwargs)
