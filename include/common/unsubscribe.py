"""One-click unsubscribe (RFC 8058) for recurring email: the signed per-recipient link that the
jobs put in the `List-Unsubscribe` header and in the body, and the verifier the product
backend runs when the link is opened or POSTed to. Plain Python (no Airflow, no database).

Since 2024 Gmail and Yahoo require of bulk senders, on every recurring message:

    List-Unsubscribe: <https://social.example.com/unsubscribe?token=...>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

The mailbox provider POSTs `List-Unsubscribe=One-Click` to that URL without any cookie or
login, so the URL itself must say who unsubscribes from what and be unforgeable: its token is

    v1.<base64url(domain "." list "." user id)>.<base64url(HMAC-SHA256(key, "v1." payload))>

The MAC binds the domain (product), the list (e.g. `digest`) and the recipient's user id: a
token of one user, list or product never works for another, and a changed byte is refused.
The key comes from the Airflow connection `unsubscribe_signing` (password; several
comma-separated keys while rotating, newest first: signing uses the first, verifying tries
each) and the URL base per domain from the variable `unsubscribe_base_urls`
(include/orchestration/unsubscribe.py reads both). The product backend holds the same key
and calls `verify(token, keys, domain=...)`; tokens do not expire (an old digest's link keeps
working, as the RFC expects), rotating the key retires them.

Transactional mail (welcome, alerts, health, token-expiry notices) carries no such header:
only messages built with an `unsubscribe_url` do (include/common/outbox.py `OutboxMessage`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

VERSION = "v1"
TOKEN_PARAM = "token"
ONE_CLICK = "List-Unsubscribe=One-Click"  # the List-Unsubscribe-Post value and the POST body (RFC 8058)
MIN_KEY_BYTES = 16
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # domain and list ids
_USER = re.compile(r"[A-Za-z0-9_-]{1,64}")  # user ids: no "." (the payload's separator)
_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?][!#-;=?-~]*)?")  # no space, ", <, >


class InvalidToken(ValueError):
    """The token is malformed, its signature does not match any key, or it is of another domain."""


@dataclass(frozen=True)
class Subscription:
    """What a valid token unsubscribes: `user_id` from `list_id` of `domain`."""

    domain: str
    list_id: str
    user_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise InvalidToken("token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("token is not base64url") from None


def parse_keys(keys: str | bytes | Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Signing keys from a connection password ("k1,k2": newest first) or a list; each at
    least MIN_KEY_BYTES long (a short key is a configuration error, not a weak default)."""
    if isinstance(keys, bytes):
        items: list[str | bytes] = [keys]
    elif isinstance(keys, str):
        items = [part.strip() for part in keys.split(",")]
    else:
        items = list(keys)
    parsed = tuple(k if isinstance(k, bytes) else k.encode() for k in items if k)
    if not parsed:
        raise ValueError("no unsubscribe signing key")
    for key in parsed:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"an unsubscribe signing key is {len(key)} bytes, fewer than {MIN_KEY_BYTES}")
    return parsed


def _check(domain: str, list_id: str, user_id: str) -> None:
    if not _NAME.fullmatch(domain):
        raise ValueError(f"unsubscribe domain {domain!r}: use 1-40 of a-z, 0-9, '_' and '-'")
    if not _NAME.fullmatch(list_id):
        raise ValueError(f"unsubscribe list {list_id!r}: use 1-40 of a-z, 0-9, '_' and '-'")
    if not _USER.fullmatch(user_id):
        raise ValueError(f"unsubscribe user id {user_id!r}: use 1-64 of A-Z, a-z, 0-9, '_' and '-'")


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.digest(key, f"{VERSION}.{payload}".encode(), hashlib.sha256)


def sign(key: bytes, domain: str, list_id: str, user_id: int | str) -> str:
    """The token that unsubscribes `user_id` from `list_id` of `domain`."""
    user = str(user_id)
    _check(domain, list_id, user)
    payload = _b64(f"{domain}.{list_id}.{user}".encode())
    return f"{VERSION}.{payload}.{_b64(_mac(key, payload))}"


def verify(token: str, keys: str | bytes | Sequence[str | bytes], *, domain: str) -> Subscription:
    """The subscription a token of `domain` stands for; InvalidToken when it is malformed,
    signed by none of `keys` (tampered, or made with another key) or of another domain.
    The signature is compared in constant time (hmac.compare_digest) with every key."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidToken("malformed unsubscribe token")
    version, payload, signature = token.split(".")
    if version != VERSION:
        raise InvalidToken(f"unknown unsubscribe token version {version!r}")
    given = _unb64(signature)
    matched = False
    for key in parse_keys(keys):
        matched |= hmac.compare_digest(_mac(key, payload), given)
    if not matched:
        raise InvalidToken("unsubscribe token signature does not match")
    try:
        token_domain, list_id, user_id = _unb64(payload).decode().split(".")
    except (UnicodeDecodeError, ValueError):
        raise InvalidToken("malformed unsubscribe token payload") from None
    if not hmac.compare_digest(token_domain.encode(), domain.encode()):
        raise InvalidToken(f"unsubscribe token is for domain {token_domain!r}, not {domain!r}")
    return Subscription(token_domain, list_id, user_id)


def token_of_url(url: str) -> str:
    """The token of an unsubscribe URL (its `token` query parameter), as the backend reads it."""
    values = [v for k, v in parse_qsl(urlsplit(url).query) if k == TOKEN_PARAM]
    if len(values) != 1:
        raise InvalidToken(f"URL has {len(values)} {TOKEN_PARAM!r} parameters, not one")
    return values[0]


def headers(url: str) -> dict[str, str]:
    """The RFC 8058 headers of a message whose one-click unsubscribe URL is `url`."""
    check_url(url)
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


def check_url(url: str) -> str:
    """`url` if it can be a one-click unsubscribe URL: https (RFC 8058 section 3), a host, no
    characters that would break the header's `<...>` or the line; else ValueError."""
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"unsubscribe URL {url!r} must be an https:// URL (RFC 8058)")
    if not _URL.fullmatch(url):
        raise ValueError(f"unsubscribe URL {url!r}: a host, then printable ASCII without spaces, quotes or "
                         "angle brackets (what a List-Unsubscribe header can carry)")
    return url


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Signs the one-click links of one domain: `url(list_id, user_id)`."""

    domain: str
    base_url: str
    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_url(self.base_url)
        if not self.keys:
            raise ValueError("no unsubscribe signing key")
        _check(self.domain, "list", "0")
        # Tokens are base64url and "." only: appended to the query as they are (no encoding).
        parts = urlsplit(self.base_url)
        query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
        prefix = urlunsplit(parts._replace(query=f"{query}&" if query else "", fragment=""))
        object.__setattr__(self, "_prefix", f"{prefix}{'' if query else '?'}{TOKEN_PARAM}=")

    @classmethod
    def for_domain(cls, domain: str, keys: str | bytes | Sequence[str | bytes],
                   base_urls: Mapping[str, str]) -> UnsubscribeLinks:
        if domain not in base_urls:
            raise ValueError(f"no unsubscribe base URL for domain {domain!r} (have {sorted(base_urls)})")
        return cls(domain, base_urls[domain], parse_keys(keys))

    def token(self, list_id: str, user_id: int | str) -> str:
        return sign(self.keys[0], self.domain, list_id, user_id)

    def url(self, list_id: str, user_id: int | str) -> str:
        """The base URL with `token=<signed token>` added to its query (a fragment dropped)."""
        return self._prefix + self.token(list_id, user_id)
