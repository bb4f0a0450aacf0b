"""Airflow connection ids -> HTTP API clients, their validated settings, and the shared rate limiter.

**This is the one way a task gets an external API.** `api(conn_id, Settings)` reads the
connection once and returns a configured ApiClient plus the connection's API-specific extras
as a frozen settings dataclass (`AdSenseSettings`, `YouTubeSettings`, `LlmSettings`,
`AcrCloudSettings`; music, ads and fitness add theirs here, each with a `from_extra(extra)`
classmethod that raises ValueError naming the field, or `from_connection(extra, login,
password)` when the settings hold the credentials, as ACRCloud's signing key).
`api_connection(...)` gives the same without building the client, for a task that needs
several clients (one per thread) or whose connection is optional (`optional=True` -> None
when it is not defined). DAG files never call `BaseHook`.
A missing connection or a missing or bad field fails the task at once, without retries
(`ConnectionConfigError`, an AirflowFailException), naming the connection and the field.

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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import redis

from include.common.http import ApiClient
from include.common.rate_limit import SOCKET_TIMEOUTS, RedisRateLimiter, limit_for
from include.orchestration import variables
from include.orchestration.connections import ConnectionConfigError

REDIS_CONN_ID = "redis_default"
RATE_LIMITS_VARIABLE = "rate_limits"
YOUTUBE_MAX_PAGE_SIZE = 10_000  # rows per report page; the default is 5,000, more is one very large response


# -- settings: the API-specific extras of a connection, validated -------------------------------

def _required_text(extra: Mapping[str, Any], key: str, hint: str = "") -> str:
    value = extra.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"extra.{key} is required{f' ({hint})' if hint else ''}, got {value!r}")
    return value.strip()


def _integer(extra: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = extra.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():  # the connection form stores text
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"extra.{key} must be an integer {low}..{high}, got {value!r}")
    return value


@dataclass(frozen=True)
class AdSenseSettings:
    """`adsense_api`: extra `account_id` (pub-..., required), `currency_code` (ISO 4217, optional)."""

    account_id: str
    currency_code: str | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> AdSenseSettings:
        from include.videos.adsense_client import account_name

        account_id = _required_text(extra, "account_id", "pub-1234567890123456")
        try:
            account_name(account_id)
        except ValueError as exc:
            raise ValueError(f"extra.account_id: {exc}") from None
        currency = extra.get("currency_code")
        if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
            raise ValueError(f"extra.currency_code must be a 3-letter ISO 4217 code such as USD, got {currency!r}")
        return cls(account_id, currency)


@dataclass(frozen=True)
class YouTubeSettings:
    """`videos_analytics_api`: extra `ids` (default `channel==MINE`), `page_size` (1..10,000, default 5,000)."""

    ids: str
    page_size: int

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> YouTubeSettings:
        from include.videos.youtube_client import DEFAULT_PAGE_SIZE

        ids = extra.get("ids", "channel==MINE")
        if not isinstance(ids, str) or not re.fullmatch(r"(channel|contentOwner)==\S+", ids):
            raise ValueError(f"extra.ids must be channel==MINE, channel==<id> or contentOwner==<id>, got {ids!r}")
        return cls(ids, _integer(extra, "page_size", DEFAULT_PAGE_SIZE, 1, YOUTUBE_MAX_PAGE_SIZE))


@dataclass(frozen=True)
class LlmSettings:
    """`llm_default`: extra `model` (required), the chat-completions model name."""

    model: str

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> LlmSettings:
        return cls(_required_text(extra, "model", "the chat-completions model name"))


@dataclass(frozen=True)
class AcrCloudSettings:
    """`acrcloud_api`: host = the project's identify host (`https://identify-eu-west-1.acrcloud.com`),
    login = access key, password = access secret (it signs each request and is never sent);
    extra `sample_seconds` (10..15, default 12), the length of the sample sent."""

    # The connection's password is a signing key, not a credential to send: the client gets
    # no auth headers (extra.auth defaults to "none"), and from_connection reads login/password.
    signs_requests: ClassVar[bool] = True

    access_key: str
    access_secret: str = field(repr=False)
    sample_seconds: int = 12

    @classmethod
    def from_connection(cls, extra: Mapping[str, Any], login: str | None, password: str | None) -> AcrCloudSettings:
        if not (login or "").strip():
            raise ValueError("login (the ACRCloud access key) is required")
        if not password:
            raise ValueError("password (the ACRCloud access secret) is required")
        return cls(login.strip(), password, _integer(extra, "sample_seconds", 12, 10, 15))


@dataclass(frozen=True)
class MetaSettings:
    """`meta_ads_api`: host = the Graph API (`https://graph.facebook.com`), login = app id,
    password = app secret (debug_token's app token and the fb_exchange_token exchange; never
    a header: each account's own token authorizes its calls); extra `api_version` (`v25.0`),
    `conversion_action_type` (the `actions` entry counted as conversions, default
    `offsite_conversion.fb_pixel_purchase`), `page_size` (1..500, default 100)."""

    signs_requests: ClassVar[bool] = True  # the password is an app secret, no auth header

    app_id: str
    app_secret: str = field(repr=False)
    api_version: str = "v25.0"
    conversion_action_type: str = "offsite_conversion.fb_pixel_purchase"
    page_size: int = 100

    @classmethod
    def from_connection(cls, extra: Mapping[str, Any], login: str | None, password: str | None) -> MetaSettings:
        if not (login or "").strip().isdigit():
            raise ValueError(f"login (the Meta app id, digits) is required, got {login!r}")
        if not password:
            raise ValueError("password (the Meta app secret) is required")
        version = extra.get("api_version", "v25.0")
        if not isinstance(version, str) or not re.fullmatch(r"v\d{2}\.0", version):
            raise ValueError(f"extra.api_version must look like v25.0, got {version!r}")
        action = extra.get("conversion_action_type", "offsite_conversion.fb_pixel_purchase")
        if not isinstance(action, str) or not action.strip():
            raise ValueError(f"extra.conversion_action_type must be an action type, got {action!r}")
        return cls(login.strip(), password, version, action.strip(), _integer(extra, "page_size", 100, 1, 500))


@dataclass(frozen=True)
class TikTokSettings:
    """`tiktok_ads_api`: host = the Business API (`https://business-api.tiktok.com`), login =
    app id, password = app secret (each advertiser's own token authorizes its calls); extra
    `api_version` (`v1.3`), `page_size` (1..1000, default 1000)."""

    signs_requests: ClassVar[bool] = True  # the password is an app secret, no auth header

    app_id: str
    app_secret: str = field(repr=False)
    api_version: str = "v1.3"
    page_size: int = 1000

    @classmethod
    def from_connection(cls, extra: Mapping[str, Any], login: str | None, password: str | None) -> TikTokSettings:
        if not (login or "").strip():
            raise ValueError("login (the TikTok app id) is required")
        if not password:
            raise ValueError("password (the TikTok app secret) is required")
        version = extra.get("api_version", "v1.3")
        if not isinstance(version, str) or not re.fullmatch(r"v\d+\.\d+", version):
            raise ValueError(f"extra.api_version must look like v1.3, got {version!r}")
        return cls(login.strip(), password, version, _integer(extra, "page_size", 1000, 1, 1000))


@dataclass(frozen=True)
class GoogleAdsSettings:
    """`google_ads_api`: host = the Google Ads API (`https://googleads.googleapis.com`), login =
    OAuth client id, password = OAuth client secret; extra `developer_token` (required),
    `login_customer_id` (the manager account, 10 digits, optional), `token_uri` (default
    `https://oauth2.googleapis.com/token`), `api_version` (`v21`)."""

    signs_requests: ClassVar[bool] = True  # the password is the OAuth client secret, no auth header

    client_id: str
    client_secret: str = field(repr=False)
    developer_token: str = field(repr=False)
    login_customer_id: str | None = None
    token_uri: str = "https://oauth2.googleapis.com/token"
    api_version: str = "v21"

    @classmethod
    def from_connection(cls, extra: Mapping[str, Any], login: str | None,
                        password: str | None) -> GoogleAdsSettings:
        if not (login or "").strip():
            raise ValueError("login (the OAuth client id) is required")
        if not password:
            raise ValueError("password (the OAuth client secret) is required")
        developer_token = _required_text(extra, "developer_token", "the Google Ads developer token")
        manager = extra.get("login_customer_id")
        if manager is not None:
            manager = str(manager).replace("-", "").strip()
            if not re.fullmatch(r"\d{10}", manager):
                raise ValueError(f"extra.login_customer_id must be 10 digits, got {extra.get('login_customer_id')!r}")
        token_uri = extra.get("token_uri", "https://oauth2.googleapis.com/token")
        if not isinstance(token_uri, str) or not re.fullmatch(r"https?://\S+", token_uri):
            raise ValueError(f"extra.token_uri must be an http(s) URL, got {token_uri!r}")
        version = extra.get("api_version", "v21")
        if not isinstance(version, str) or not re.fullmatch(r"v\d{2}", version):
            raise ValueError(f"extra.api_version must look like v21, got {version!r}")
        return cls(login.strip(), password, developer_token, manager, token_uri, version)


ADS_TOKEN_KEY_CONN_ID = "ads_token_key"
ADS_API_CONN_IDS = {"meta": "meta_ads_api", "tiktok": "tiktok_ads_api", "google": "google_ads_api"}


def ads_client(platform: str, **kwargs: Any) -> Any:
    """The ads platform's client (`MetaClient`, `TikTokClient`, `GoogleAdsClient`) on its
    connection (`meta_ads_api`, `tiktok_ads_api`, `google_ads_api`) and settings."""
    from include.ads.google_ads_client import GoogleAdsClient
    from include.ads.meta_client import MetaClient
    from include.ads.tiktok_client import TikTokClient

    kinds = {"meta": (MetaSettings, MetaClient), "tiktok": (TikTokSettings, TikTokClient),
             "google": (GoogleAdsSettings, GoogleAdsClient)}
    if platform not in kinds:
        raise ValueError(f"unknown ads platform {platform!r}; one of {sorted(kinds)}")
    settings_class, client_class = kinds[platform]
    api_client_, settings = api(ADS_API_CONN_IDS[platform], settings_class, **kwargs)
    return client_class.from_settings(api_client_, settings)


T = TypeVar("T")


def secret_from_password(conn_id: str, purpose: str, parse: Callable[[str], T]) -> T:
    """`parse(password)` of a connection that holds a key in its password (e.g. a Fernet or
    HMAC key, several comma-separated while keys rotate). A missing connection or a password
    `parse` rejects (ValueError) fails at once, naming the connection and what it is for."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConnectionConfigError(f"connection {conn_id!r} is not defined (password: {purpose})") from None
    try:
        return parse(conn.password or "")
    except ValueError as exc:
        raise ConnectionConfigError(f"connection {conn_id!r}: password: {exc}") from None


def token_cipher(conn_id: str = ADS_TOKEN_KEY_CONN_ID):
    """The TokenCipher of the ads accounts' stored tokens: the connection's password is the
    Fernet key, or several comma-separated (newest first) while keys rotate."""
    from include.common.crypto import TokenCipher

    return secret_from_password(conn_id, "the Fernet key of the stored ad account tokens", TokenCipher)


S = TypeVar("S")


# -- the connection -> client ----------------------------------------------------------------

@dataclass(frozen=True)
class ApiConnection(Generic[S]):
    """An API connection read once: its settings, and `client()` to build ApiClients from it."""

    conn_id: str
    base_url: str
    settings: S
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    rate_limit: str | None = None

    def client(self, **kwargs: Any) -> ApiClient:
        """A new ApiClient (one per thread: its session is not thread-safe); `kwargs` override
        the connection (e.g. `auth=` a signing AuthBase, `sleep=`)."""
        settings = dict(self.client_kwargs)
        if self.rate_limit and "rate_limiter" not in kwargs:
            settings["rate_limiter"] = rate_limiter(self.rate_limit)
        settings.update(kwargs)
        return ApiClient(self.base_url, **settings)


def base_url(host: str | None, schema: str | None, port: int | None) -> str:
    """The base URL of an HTTP connection, read the way HttpHook reads it, except that the
    default scheme is https (HttpHook's is http): every external API here is HTTPS."""
    if not host:
        raise ValueError("an HTTP API connection needs a host")
    url = host if "://" in host else f"{schema or 'https'}://{host}"
    return f"{url}:{port}" if port else url


def auth_settings(extra: dict[str, Any], login: str | None, password: str | None,
                  conn_id: str) -> dict[str, Any]:
    """ApiClient `headers`/`auth` for a connection's `extra.auth` (see the module docstring).
    Raises ConnectionConfigError (a ValueError that fails the task without retries)."""
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
        raise ConnectionConfigError(f"connection {conn_id!r} has a password but no extra.auth "
                                    "(bearer, api_key or basic)")
    elif mode != "none":
        raise ConnectionConfigError(f"connection {conn_id!r}: extra.auth must be bearer, api_key, basic or "
                                    f"none, got {mode!r}")
    return {"headers": headers}


def _seconds(extra: Mapping[str, Any], key: str, default: float) -> float:
    value = extra.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not seconds > 0:
        raise ValueError(f"extra.{key} must be a positive number of seconds, got {value!r}")
    return seconds


def api_connection(conn_id: str, settings: type[S] | None = None, *,
                   optional: bool = False) -> ApiConnection[S] | None:
    """The API connection `conn_id`, read and validated once, with `settings.from_extra(extra)`
    (None without a settings class). A connection that is not defined is None when `optional`,
    else fails the task."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if optional:
            return None
        raise ConnectionConfigError(f"connection {conn_id!r} is not defined") from None
    extra = conn.extra_dejson
    if getattr(settings, "signs_requests", False):  # the password signs requests, nothing sends it as is
        extra = {"auth": "none", **extra}
    try:
        client_kwargs: dict[str, Any] = {
            **auth_settings(extra, conn.login, conn.password, conn_id),
            "timeout": (_seconds(extra, "connect_timeout", 5), _seconds(extra, "read_timeout", 30)),
        }
        if "max_attempts" in extra:
            client_kwargs["max_attempts"] = _integer(extra, "max_attempts", 5, 1, 20)
        if "max_retry_after" in extra:
            client_kwargs["max_retry_after"] = _seconds(extra, "max_retry_after", 300)
        url = base_url(conn.host, conn.schema, conn.port)
        if settings is not None and hasattr(settings, "from_connection"):  # needs login/password too
            parsed = settings.from_connection(extra, conn.login, conn.password)
        else:
            parsed = settings.from_extra(extra) if settings is not None else None
    except ConnectionConfigError:
        raise
    except ValueError as exc:
        raise ConnectionConfigError(f"connection {conn_id!r}: {exc}") from None
    return ApiConnection(conn_id, url, parsed, client_kwargs, extra.get("rate_limit") or None)


def api(conn_id: str, settings: type[S] | None = None, **kwargs: Any) -> tuple[ApiClient, S]:
    """A configured ApiClient of `conn_id` and its validated settings (see the module docstring);
    `kwargs` override the connection's client options."""
    connection = api_connection(conn_id, settings)
    return connection.client(**kwargs), connection.settings


def api_client(conn_id: str, **kwargs: Any) -> ApiClient:
    """An ApiClient configured by the Airflow connection `conn_id` (no API-specific settings)."""
    return api(conn_id, **kwargs)[0]


def redis_client(conn_id: str = REDIS_CONN_ID) -> redis.Redis:
    """The Redis client of `conn_id`, as the redis provider's RedisHook builds it (host, port,
    login, password, extra db and ssl*), with the limiter's socket timeouts."""
    from airflow.providers.redis.hooks.redis import RedisHook

    client = RedisHook(redis_conn_id=conn_id).get_conn()
    if not isinstance(client, redis.Redis):
        raise ConnectionConfigError(f"connection {conn_id!r}: extra.cluster is not supported for rate limits "
                                    "(the buckets live on one Redis); point it at a single Redis")
    # RedisHook.get_conn() takes no socket timeouts, and without them a limiter call on a hung
    # Redis blocks the task. Its pool opens connections lazily from connection_kwargs, so setting
    # them before the first command gives every connection the limiter's timeouts.
    client.connection_pool.connection_kwargs.update(SOCKET_TIMEOUTS)
    return client


def rate_limiter(api: str, *, conn_id: str = REDIS_CONN_ID, **kwargs: Any) -> RedisRateLimiter:
    """The shared limiter of `api` on the Redis of `conn_id`, with limits from the
    `rate_limits` variable (JSON, optional) over the defaults."""
    limits = variables.get_json(RATE_LIMITS_VARIABLE, {})
    return RedisRateLimiter(redis_client(conn_id), api, limit_for(api, limits), **kwargs)
