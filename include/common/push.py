"""Pushes of the outbox: rendering and sending through Firebase Cloud Messaging HTTP v1.

`POST {base_url}/v1/projects/{project_id}/messages:send` with an OAuth 2 bearer token and
`{"message": {"token", "notification": {"title", "body"}, "data"}}`. Plain Python, no
Airflow; include/orchestration/notify.py builds `FcmSender` from the connection `fcm_api`.

**The HTTP client is the standard library's http.client**, one keep-alive connection per
sender (the outbox runs several senders at once, `clone()`, each in its own thread: see
include/common/delivery.py). Why not requests: on 2 cores it costs ~0.7 ms of client CPU per
POST against ~0.15 ms for http.client on the same keep-alive connection (measured against the
sandbox's FCM: 660/s with 8 requests sessions, 2,270/s with 4 http.client connections), and
the CPU, not the network, is what bounds a Python deliverer. The OAuth token endpoints (once
an hour) still use requests. A proxy from `https_proxy` / `http_proxy` is honoured with a
CONNECT tunnel (HTTPS) or an absolute URL (HTTP).

The sender does not retry by itself, with one exception: a request on a **reused** keep-alive
connection that the server had already closed (the send fails, or the connection ends
before any byte of the answer) is sent once more on a fresh connection, as browsers and
urllib3 do; anything else (`messages:send` has no idempotency key, so a POST retried after a
timeout could show the same notification twice) is left to the outbox, which retries with
the attempt recorded and backoff (and `Retry-After` when FCM gives one).
"""

from __future__ import annotations

import abc
import copy
import http.client
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from include.common import templates
from include.common.messages import OutboxRow
from include.common.products import product_name

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


def render_push(domain: str, template: str, context: dict) -> RenderedPush:
    """Title and body of `template` (`<template>.title.j2`, `<template>.body.j2`). The FCM
    `data` map is `context["data"]` when given, values as strings (FCM requires strings)."""
    ctx = {**context, "product": product_name(domain), "domain": domain}
    data = context.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError(f"push context 'data' must be a dict, got {type(data).__name__}")
    return RenderedPush(
        title=templates.one_line(templates.render(f"{template}.title.j2", ctx)),
        body=templates.render(f"{template}.body.j2", ctx).strip(),
        data={str(k): str(v) for k, v in data.items()},
    )


class PushFailed(Exception):
    """A push did not go out.

    `permanent`: FCM refused this message for good (token unregistered, invalid argument,
    sender mismatch): the outbox marks it dead at once. `channel_down`: FCM or its token
    endpoint is unavailable or throttling (429, 503, connection refused, bad credentials):
    the rest of the batch is not tried. `retry_after`: seconds FCM asked us to wait.
    `unreachable`: no server answered (connection refused or dropped, token endpoint
    unreachable): the outbox sends it as soon as FCM answers again, not after its backoff.
    """

    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False,
                 retry_after: float | None = None, status: int | None = None, error_code: str | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down
        self.unreachable = unreachable
        self.retry_after = retry_after
        self.status = status
        self.error_code = error_code


# -- OAuth 2 access tokens -------------------------------------------------------------------

class StaticToken:
    """A fixed bearer token (the sandbox, or a token minted elsewhere)."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("empty bearer token")
        self._token = token

    def __call__(self) -> str:
        return self._token

    def invalidate(self) -> None:  # nothing to refresh
        pass


class _CachedToken(abc.ABC):
    """Caches an access token until a minute before it expires; thread-safe."""

    def __init__(self, token_uri: str, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None):
        self.token_uri = token_uri
        self.timeout = timeout
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __getstate__(self) -> dict:  # a helper process fetches its own token, with its own session
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_session", "_token", "_expires_at")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._session, self._lock = requests.Session(), threading.Lock()
        self._token, self._expires_at = None, 0.0

    @abc.abstractmethod
    def _grant(self) -> dict[str, str]:
        """The form fields of this token grant."""

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                try:
                    resp = self._session.post(self.token_uri, data=self._grant(), timeout=self.timeout)
                except requests.RequestException as exc:
                    raise PushFailed(f"OAuth token endpoint {self.token_uri} unreachable: {exc!r}",
                                     channel_down=True, unreachable=True) from exc
                if resp.status_code != 200:
                    raise PushFailed(f"OAuth token endpoint {self.token_uri} answered {resp.status_code}: "
                                     f"{resp.text[:300]}", channel_down=True, status=resp.status_code)
                body = resp.json()
                if "access_token" not in body:
                    raise PushFailed(f"OAuth token endpoint {self.token_uri} returned no access_token",
                                     channel_down=True)
                self._token = body["access_token"]
                self._expires_at = time.monotonic() + max(int(body.get("expires_in", 3600)) - 60, 0)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


class RefreshTokenGrant(_CachedToken):
    """OAuth 2 refresh-token grant (Google user credentials: client id, secret, refresh token)."""

    def __init__(self, token_uri: str, client_id: str, client_secret: str, refresh_token: str, **kwargs: Any):
        super().__init__(token_uri, **kwargs)
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self.refresh_token}


class ServiceAccountToken(_CachedToken):
    """Google service-account grant (what real FCM needs): a JWT signed RS256 with the
    account's private key, exchanged at `token_uri` (RFC 7523 jwt-bearer)."""

    def __init__(self, service_account: dict, scope: str = FCM_SCOPE, token_uri: str | None = None, **kwargs: Any):
        missing = {"client_email", "private_key"} - set(service_account)
        if missing:
            raise ValueError(f"service account info lacks {sorted(missing)}")
        super().__init__(token_uri or service_account.get("token_uri") or GOOGLE_TOKEN_URI, **kwargs)
        self.info, self.scope = service_account, scope

    def _grant(self) -> dict[str, str]:
        import jwt  # PyJWT (with cryptography for RS256), an Airflow dependency

        now = int(time.time())
        claims = {"iss": self.info["client_email"], "scope": self.scope, "aud": self.token_uri,
                  "iat": now, "exp": now + 3600}
        headers = {"kid": self.info["private_key_id"]} if self.info.get("private_key_id") else None
        assertion = jwt.encode(claims, self.info["private_key"], algorithm="RS256", headers=headers)
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


# -- sending -----------------------------------------------------------------------------------

# FCM v1 error codes (details[].errorCode) after which this message can never be delivered.
PERMANENT_ERRORS = {"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"}


@dataclass(frozen=True)
class FcmResponse:
    """What the sender keeps of an HTTP answer."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


# Failures of a reused keep-alive connection that mean the server had closed it before our
# request: nothing was processed, so sending again on a fresh connection is safe.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class FcmSender:
    """Sends outbox push rows with FCM HTTP v1 `messages:send` over one keep-alive
    connection (http.client), used by one thread at a time; `clone()` makes another."""

    def __init__(self, base_url: str, project_id: str, token_provider: Callable[[], str],
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT):
        if not base_url or not project_id:
            raise ValueError("FCM needs a base URL and a project id")
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FCM base URL must be http(s)://host[:port], got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._path = parts.path
        self.token_provider = token_provider
        self.connect_timeout, self.read_timeout = (timeout, timeout) if isinstance(timeout, (int, float)) \
            else (float(timeout[0]), float(timeout[1]))
        self._conn: http.client.HTTPConnection | None = None
        self._via_proxy = False

    def __repr__(self) -> str:
        return f"FcmSender({self.url})"

    def clone(self) -> FcmSender:
        """A sender with the same settings and token source, and a connection of its own."""
        twin = copy.copy(self)
        twin._conn = None
        return twin

    def __getstate__(self) -> dict:  # handed to a helper process without its connection
        return {**self.__dict__, "_conn": None}

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> FcmSender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------------

    def _new_connection(self) -> http.client.HTTPConnection:
        proxy = urllib.request.getproxies().get("https" if self._https else "http")
        if proxy and urllib.request.proxy_bypass(self._host):
            proxy = None
        target_host, target_port = self._host, self._port
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            target_host, target_port = p.hostname or "", p.port or 8080
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                target_host, target_port, timeout=self.connect_timeout, context=ssl.create_default_context())
            if proxy:
                conn.set_tunnel(self._host, self._port)
        else:
            conn = http.client.HTTPConnection(target_host, target_port, timeout=self.connect_timeout)
        self._via_proxy = bool(proxy) and not self._https  # plain HTTP via a proxy: absolute URL
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise PushFailed(f"FCM {self.url} unreachable: {exc!r}", channel_down=True, unreachable=True) from exc
        conn.sock.settimeout(self.read_timeout)
        return conn

    def probe(self) -> None:
        """Raise `PushFailed` unless FCM can be reached: an access token, and a connection
        (kept for the next send). Sends nothing."""
        self.token_provider()
        if self._conn is None:
            self._conn = self._new_connection()

    # -- sending ---------------------------------------------------------------------------

    @staticmethod
    def body(row: OutboxRow) -> dict:
        message: dict[str, Any] = {
            "token": row.recipient,
            "notification": {"title": row.subject or "", "body": row.body_text or ""},
        }
        data = (row.payload or {}).get("data")
        if data:
            message["data"] = data
        return {"message": message}

    def send(self, row: OutboxRow) -> str:
        """Send one row; returns FCM's message name. Raises `PushFailed` (see its flags)."""
        body = json.dumps(self.body(row), separators=(",", ":")).encode()
        for refreshed in (False, True):
            resp = self._post(body)
            if resp.status == 401 and not refreshed and hasattr(self.token_provider, "invalidate"):
                self.token_provider.invalidate()  # expired or revoked token: not delivered, retry once
                continue
            break
        if resp.status == 200:
            try:
                return resp.json().get("name", "")
            except ValueError:
                return ""
        raise self._error(resp)

    def _post(self, body: bytes) -> FcmResponse:
        headers = {"Authorization": f"Bearer {self.token_provider()}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        for fresh in (self._conn is None, True):
            if self._conn is None:
                self._conn = self._new_connection()
            conn = self._conn
            try:
                conn.request("POST", self.url if self._via_proxy else self._path, body=body, headers=headers)
                answer = conn.getresponse()
                resp = FcmResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
            except _STALE as exc:
                self.close()
                if fresh:
                    raise PushFailed(f"FCM {self.url} dropped the connection (outcome unknown): {exc!r}",
                                     channel_down=True) from exc
                continue  # the server had closed the idle keep-alive connection: nothing was sent
            except TimeoutError as exc:  # the request went out; FCM may have taken it
                self.close()
                raise PushFailed(f"FCM {self.url} timed out (outcome unknown): {exc!r}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise PushFailed(f"FCM request failed: {exc!r}") from exc
            if answer.will_close:
                self.close()
            return resp
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _error(resp: FcmResponse) -> PushFailed:
        status, code, text = resp.status, None, resp.text[:300]
        try:
            err = resp.json().get("error", {})
        except (ValueError, AttributeError):
            err = {}
        if isinstance(err, dict):
            text = err.get("message") or text
            code = err.get("status")
            for detail in err.get("details") or []:
                if isinstance(detail, dict) and detail.get("errorCode"):
                    code = detail["errorCode"]
        retry_after = _retry_after(resp.headers.get("retry-after"))
        reason = f"FCM {status} {code or ''}: {text}".replace("  ", " ")
        if status == 404 or code in PERMANENT_ERRORS or (status == 400 and code is None):
            return PushFailed(reason, permanent=True, status=status, error_code=code)
        if status in (401, 403, 429, 503):
            return PushFailed(reason, channel_down=True, retry_after=retry_after, status=status, error_code=code)
        return PushFailed(reason, retry_after=retry_after, status=status, error_code=code)


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
