"""An HTTP client for external APIs: timeouts, retries, Retry-After, API errors, pagination.

Plain Python on `requests` (the repo's one HTTP library); the orchestration layer builds a
client from an Airflow connection (include/orchestration/clients.py). We don't use the http
provider's HttpHook here: include/common must not import Airflow, and the hook retries only
connection errors and does not honour Retry-After.

Retry policy, per request:
- connection errors, timeouts and 5xx: exponential backoff with full jitter, up to max_attempts;
- 429 (and a 503 that says Retry-After): wait as told (seconds or HTTP date), bounded by
  `max_retry_after`; without the header, the backoff;
- any other 4xx: `ApiError` at once with the API's own message (retrying can't fix it);
- out of attempts: `RetryableApiError`, so Airflow's task retry (minutes later) takes over.
One client per thread: a `requests.Session` is not thread-safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, Self
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from include.common.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiError(PermanentError):
    """The API refused the request (or answered something we cannot read); `status` is None
    when no answer came. Permanent: the same request gets the same refusal."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", url: str = ""):
        self.status, self.message, self.method, self.url = status, message, method, url
        where = f"{method} {url}".strip()
        super().__init__(f"{where} -> {status}: {message}" if status else f"{where}: {message}")


class RetryableApiError(TransientError, ApiError):
    """A transient failure that outlasted our retries: a later task retry may succeed
    (TransientError comes first, so the error policy sees it as transient)."""


class RateLimiter(Protocol):
    def acquire(self) -> Any: ...


def _redact(url: str) -> str:
    """The URL without its query string, which may carry tokens (Meta's next links do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _never_sent(exc: Exception) -> bool:
    """The connection was never made (timeout, refused, DNS), so the server saw nothing."""
    return isinstance(exc, requests.ConnectTimeout) or isinstance(
        getattr(exc.args[0] if exc.args else None, "reason", None), NewConnectionError)


def _describe(exc: requests.RequestException) -> str:
    """The error text without the query string urllib3 puts in it (API keys, tokens)."""
    text = str(exc)
    query = urlsplit(exc.request.url).query if exc.request is not None and exc.request.url else ""
    return f"{type(exc).__name__}: {text.replace(query, '<query>') if query else text}"


def dig(obj: Any, path: str | None) -> Any:
    """`dig(page, "paging.cursors.after")`: a dotted path into nested dicts, None if absent."""
    for key in path.split(".") if path else ():
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def error_message(response: requests.Response) -> str:
    """The API's own error text: {"error": {"message"}} (Google, Meta), {"error": "..."},
    {"errors": [{"message"}]} (Soundcharts), {"message"} (TikTok, most others),
    {"error_description"} (OAuth), else the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body:  # streaming endpoints (Google Ads searchStream) answer a list
        body = body[0]
    if isinstance(body, Mapping):
        err = body.get("error")
        errors = body.get("errors")  # Soundcharts: {"errors": [{"key", "code", "message"}]}
        first = errors[0] if isinstance(errors, list) and errors else None
        for candidate in (dig(err, "message"), err, dig(first, "message"), body.get("message"),
                          body.get("error_description")):
            if isinstance(candidate, str) and candidate:
                return candidate
    return (response.text or response.reason or "").strip()[:500]


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.warning("ignoring unparsable Retry-After %r", value)
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


class ApiClient:
    """JSON over HTTP with one retry policy (see the module docstring).

    `headers`/`auth`/`params` are sent on every call (bearer token, API-key headers, a
    requests AuthBase for signed or refreshed auth); `timeout` is (connect, read) seconds;
    `rate_limiter.acquire()` is called before every attempt, retries included.
    """

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None,
                 auth: Any = None, params: Mapping[str, Any] | None = None,
                 timeout: tuple[float, float] = (5.0, 30.0), max_attempts: int = 5,
                 backoff_base: float = 1.0, backoff_cap: float = 30.0, max_retry_after: float = 300.0,
                 rate_limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, session: requests.Session | None = None,
                 response_hook: Callable[[requests.Response], float | None] | None = None):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.max_retry_after = max_retry_after
        self.rate_limiter = rate_limiter
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "jobyard", "Accept": "application/json"})
        self.session.headers.update(headers or {})
        self.session.auth = auth
        self.session.params = dict(params or {})
        # An API whose throttle is not HTTP 429 (Meta's 400 + error code, TikTok's 200 + code
        # 40100, Google Ads' retryDelay) translates it here: the hook sees every response and
        # returns the seconds the API asks to wait (retried under this client's attempts and
        # max wait), None to carry on as usual, or raises its own error (e.g. a revoked token).
        self.response_hook = response_hook

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        """An absolute URL as is (next links), else the path under the base URL."""
        if urlsplit(path).scheme:
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], so retrying workers spread."""
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def request(self, method: str, path: str, *, idempotent: bool | None = None,
                **kwargs: Any) -> requests.Response:
        """Send with the retry policy; returns a response with status < 400.

        `idempotent=False` (the default for POST/PATCH) retries only what certainly was not
        processed (no connection made, 429, 503 with Retry-After): a read timeout, a reset or
        a 5xx after a send is ambiguous and raises RetryableApiError instead of sending a second copy.
        """
        method = method.upper()
        url = self.url(path)
        shown = _redact(url)
        if idempotent is None:
            idempotent = method not in ("POST", "PATCH")
        kwargs.setdefault("timeout", self.timeout)
        attempt = 0
        while True:
            attempt += 1
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            try:
                response = self.session.request(method, url, **kwargs)
            except _TRANSIENT as exc:
                reason, delay = _describe(exc), self.backoff(attempt)
                if not idempotent and not _never_sent(exc):
                    raise RetryableApiError(f"{reason} (not retried: the request may have been "
                                            "processed)", method=method, url=shown) from exc
            else:
                status = response.status_code
                told = self.response_hook(response) if self.response_hook is not None else None
                if told is not None:  # the API's own throttle signal, with its wait
                    reason = f"{status} {error_message(response)} (throttled)"
                    if told > self.max_retry_after or attempt == self.max_attempts:
                        raise RetryableApiError(f"{reason}: asked to wait {told:.0f} s after attempt {attempt} "
                                                f"(max wait {self.max_retry_after:.0f} s, {self.max_attempts} "
                                                "attempts)", status=status, method=method, url=shown)
                    log.warning("%s %s: %s; retry %d of %d in %.2f s", method, shown, reason, attempt,
                                self.max_attempts - 1, told)
                    self._sleep(told)
                    continue
                if status < 400:
                    return response
                message = error_message(response)
                if status < 500 and status not in (408, 429):  # 408: the server gave up waiting, retry
                    raise ApiError(message, status=status, method=method, url=shown)
                reason = f"{status} {message}"
                told = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429 or (status == 503 and told is not None):
                    if told is not None and told > self.max_retry_after:
                        raise RetryableApiError(f"{message}; Retry-After {told:.0f} s exceeds the "
                                                f"{self.max_retry_after:.0f} s max wait",
                                                status=status, method=method, url=shown)
                    delay = self.backoff(attempt) if told is None else told
                elif not idempotent:
                    raise RetryableApiError(f"{message} (not retried: the request may have been "
                                            "processed)", status=status, method=method, url=shown)
                else:
                    delay = self.backoff(attempt)
            if attempt == self.max_attempts:
                raise RetryableApiError(f"gave up after {attempt} attempts, last: {reason}",
                                        method=method, url=shown)
            log.warning("%s %s: %s; retry %d of %d in %.2f s", method, shown, reason, attempt,
                        self.max_attempts - 1, delay)
            self._sleep(delay)

    def _json(self, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"answer is not JSON: {response.text[:200]!r}", status=response.status_code,
                           method=response.request.method or "", url=_redact(response.url)) from exc

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._json(self.request("GET", path, params=params, **kwargs))

    def post(self, path: str, *, json: Any = None, **kwargs: Any) -> Any:
        return self._json(self.request("POST", path, json=json, **kwargs))

    # Pagination: each yields pages (parsed JSON), or with `items="data"` the records of each page.

    def paginate_cursor(self, path: str, *, params: Mapping[str, Any] | None = None,
                        items: str | None = None, cursor_path: str = "paging.cursors.after",
                        next_path: str = "paging.next", cursor_param: str = "after") -> Iterator[Any]:
        """Meta Graph API style: ask for `after=<paging.cursors.after>` while `paging.next` exists."""
        params, seen = dict(params or {}), set()
        while True:
            page = self.get(path, params=params)
            yield from _emit(page, items)
            if not dig(page, next_path):
                return
            cursor = dig(page, cursor_path)
            if not cursor:  # a next link without cursors: follow the link itself
                yield from self.paginate_next_link(dig(page, next_path), items=items, next_path=next_path)
                return
            _check_progress(seen, cursor, path)
            params[cursor_param] = cursor

    def paginate_token(self, path: str, *, params: Mapping[str, Any] | None = None,
                       json: dict[str, Any] | None = None, items: str | None = None,
                       token_path: str = "nextPageToken", token_param: str = "pageToken") -> Iterator[Any]:
        """Google APIs style: resend with `pageToken=<nextPageToken>` until none comes back.
        With `json` the call is a POST and the token goes in the body (Google Ads search)."""
        params, body, seen = dict(params or {}), None if json is None else dict(json), set()
        while True:
            if body is None:
                page = self.get(path, params=params)
            else:
                page = self._json(self.request("POST", path, params=params, json=body, idempotent=True))
            yield from _emit(page, items)
            token = dig(page, token_path)
            if not token:
                return
            _check_progress(seen, token, path)
            (params if body is None else body)[token_param] = token

    def paginate_next_link(self, path: str, *, params: Mapping[str, Any] | None = None,
                           items: str | None = None, next_path: str = "next") -> Iterator[Any]:
        """Follow the `next` URL each page gives until it is empty; it must stay on the API's
        host, since every call carries our credentials."""
        url, query, seen = path, dict(params or {}), set()
        origin = urlsplit(self.base_url).netloc
        while True:
            page = self.get(url, params=query)
            yield from _emit(page, items)
            link = dig(page, next_path)
            if not link:
                return
            url, query = urljoin(self.url(url), link), {}  # the link carries the query
            if urlsplit(url).netloc != origin:
                raise ApiError(f"next link leaves {origin}: {_redact(url)}")
            _check_progress(seen, url, path)

    def paginate_offset(self, path: str, *, params: Mapping[str, Any] | None = None, items: str = "items",
                        limit: int = 100, total_path: str = "page.total", offset_param: str = "offset",
                        limit_param: str = "limit") -> Iterator[Any]:
        """Soundcharts style: `offset`/`limit` until `offset >= page.total` (the total of the
        first page bounds the walk, so a list that grows while it is read cannot page forever).
        Yields each page; a page without its total or items list is the API's error."""
        params, offset, total = dict(params or {}), 0, None
        while total is None or offset < total:
            params.update({offset_param: offset, limit_param: limit})
            page = self.get(path, params=params)
            found = dig(page, total_path)
            rows = dig(page, items)
            if type(found) is not int or found < 0 or not isinstance(rows, list):
                raise ApiError(f"page at offset {offset} of {path} has no integer {total_path} or no {items} list")
            total = found if total is None else total
            yield page
            if not rows:  # the list shrank under us: nothing more to read
                return
            offset += len(rows)

    def paginate_pages(self, path: str, *, params: Mapping[str, Any] | None = None,
                       items: str | None = None, page_size: int = 100, first_page: int = 1,
                       page_param: str = "page", size_param: str = "page_size",
                       total_pages_path: str = "data.page_info.total_page") -> Iterator[Any]:
        """TikTok Business API style: `page`/`page_size` up to `page_info.total_page`; a page
        without that total ends the listing when its `items` come back short."""
        params, page_no = dict(params or {}), first_page
        while True:
            params.update({page_param: page_no, size_param: page_size})
            page = self.get(path, params=params)
            yield from _emit(page, items)
            total = dig(page, total_pages_path)
            if total is None and items is None:
                raise ApiError(f"page {page_no} of {path} has no {total_pages_path}; pass items= "
                               "so a short page can end the listing")
            last = page_no >= int(total) if total is not None else len(dig(page, items) or ()) < page_size
            if last:
                return
            page_no += 1


def _emit(page: Any, items: str | None) -> Iterator[Any]:
    # Google APIs omit an empty list's key entirely, so a missing path means no records.
    if items is None:
        yield page
    else:
        yield from dig(page, items) or ()


def _check_progress(seen: set[str], marker: str, path: str) -> None:
    """An API that hands back a cursor twice would page forever: fail loudly instead."""
    if marker in seen:
        raise ApiError(f"pagination of {path} repeats a cursor/token/link; stopping")
    seen.add(marker)
