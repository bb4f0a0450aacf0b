"""Pushes of the outbox: rendering and sending through Firebase Cloud Messaging HTTP v1.

`POST {base_url}/v1/projects/{project_id}/messages:send` with an OAuth 2 bearer token and
`{"message": {"token", "notification": {"title", "body"}, "data"}}`. Plain Python (requests,
no Airflow); include/orchestration/notify.py builds `FcmSender` from the connection `fcm_api`.

The sender does not retry by itself: `messages:send` has no idempotency key, so a POST
retried after a timeout could show the same notification twice. The outbox retries instead,
with the attempt recorded and backoff (and `Retry-After` when FCM gives one).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

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
    """

    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False,
                 retry_after: float | None = None, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down
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
                                     channel_down=True) from exc
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


class FcmSender:
    """Sends outbox push rows with FCM HTTP v1 `messages:send`, one keep-alive session."""

    def __init__(self, base_url: str, project_id: str, token_provider: Callable[[], str],
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, session: requests.Session | None = None):
        if not base_url or not project_id:
            raise ValueError("FCM needs a base URL and a project id")
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.token_provider = token_provider
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"FcmSender({self.url})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> FcmSender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
        body = self.body(row)
        for refreshed in (False, True):
            resp = self._post(body)
            if resp.status_code == 401 and not refreshed and hasattr(self.token_provider, "invalidate"):
                self.token_provider.invalidate()  # expired or revoked token: not delivered, retry once
                continue
            break
        if resp.status_code == 200:
            return resp.json().get("name", "")
        raise self._error(resp)

    def _post(self, body: dict) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token_provider()}"}
        try:
            return self._session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.ConnectionError as exc:  # refused, reset, connect timeout
            raise PushFailed(f"FCM {self.url} unreachable: {exc!r}", channel_down=True) from exc
        except requests.Timeout as exc:  # the request went out; FCM may have taken it
            raise PushFailed(f"FCM {self.url} timed out (outcome unknown): {exc!r}") from exc
        except requests.RequestException as exc:
            raise PushFailed(f"FCM request failed: {exc!r}") from exc

    @staticmethod
    def _error(resp: requests.Response) -> PushFailed:
        status, code, text = resp.status_code, None, resp.text[:300]
        try:
            err = resp.json().get("error", {})
        except ValueError:
            err = {}
        if isinstance(err, dict):
            text = err.get("message") or text
            code = err.get("status")
            for detail in err.get("details") or []:
                if isinstance(detail, dict) and detail.get("errorCode"):
                    code = detail["errorCode"]
        retry_after = _retry_after(resp.headers.get("Retry-After"))
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
