"""The log of API calls the sandbox answered, so tests can assert what a client sent."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import json
import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

# Headers worth asserting on (auth, content, provider-specific keys); the rest is noise.
LOGGED_HEADERS = frozenset({
    "authorization", "content-type", "accept", "user-agent", "idempotency-key",
    "developer-token", "login-customer-id", "access-token",
})
MAX_TEXT_BODY = 4096
MAX_ENTRIES = 10_000  # bounded: a long dev session must not grow without limit


def logged_headers(headers: Any) -> dict[str, str]:
    """The subset of request headers kept in the log (plus every `x-*` header)."""
    return {k: v for k, v in headers.items() if k in LOGGED_HEADERS or k.startswith("x-")}


def logged_body(content_type: str, raw: bytes) -> Any:
    """JSON bodies parsed, forms as dicts, anything else as (truncated) text."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text[:MAX_TEXT_BODY]
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    if content_type.startswith("multipart/form-data"):
        return multipart_summary(content_type, raw)
    return text[:MAX_TEXT_BODY]


def multipart_summary(content_type: str, raw: bytes) -> dict:
    """Form fields as text, file parts as their name, size and SHA-256: uploads (audio samples)
    are never kept in the log."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict = {}
    for part in message.iter_parts():
        data = part.get_payload(decode=True) or b""
        name = part.get_param("name", header="content-disposition") or ""
        if part.get_filename() is None:
            fields[name] = data.decode("utf-8", errors="replace")[:MAX_TEXT_BODY]
        else:
            fields[name] = {"filename": part.get_filename(), "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
    return fields


class RequestLog:
    """Thread-safe, bounded, in-memory list of recorded calls (oldest first)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._entries: deque[dict] = deque(maxlen=max_entries)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, entry: dict) -> None:
        with self._lock:
            self._entries.append({"id": next(self._ids), **entry})

    def list(self, api: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self._entries if api is None or e["api"] == api]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
