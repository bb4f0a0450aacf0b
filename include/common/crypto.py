"""Encryption at rest for stored credentials (ad accounts' OAuth tokens): Fernet
(AES-128-CBC + HMAC-SHA256, from `cryptography`), with key rotation by MultiFernet.

Plain Python: the keys are passed in, never read from the environment or the code. The
orchestration layer reads them from the Airflow connection `ads_token_key` (password: one
Fernet key, or several comma-separated for rotation, the newest first:
include/orchestration/clients.py `token_cipher`). Encryption always uses the first key;
decryption tries every key, so a token written under an old key stays readable until
`rotate` re-encrypts it under the new one.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from include.common.errors import ConfigurationError, PermanentError


class UndecryptableToken(PermanentError):
    """A stored token that none of the keys opens (a key was dropped too early, or the row
    was not written by us): the account must be reconnected, or the old key put back."""


def parse_keys(value: str | Iterable[str]) -> list[str]:
    """`"k1,k2"` or `["k1", "k2"]` -> the keys, newest first; each must be a Fernet key."""
    keys = [k.strip() for k in (value.split(",") if isinstance(value, str) else value) if k and k.strip()]
    if not keys:
        raise ConfigurationError("no token encryption key given")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(f"token encryption key #{index + 1} is not a Fernet key "
                                     "(32 url-safe base64-encoded bytes)") from None
    return keys


class TokenCipher:
    """`encrypt(token) -> bytes`, `decrypt(blob) -> str`, `rotate(blob) -> bytes` with the given keys."""

    def __init__(self, keys: str | Iterable[str]):
        self._fernet = MultiFernet([Fernet(k) for k in parse_keys(keys)])

    def __repr__(self) -> str:  # never show key material
        return "TokenCipher(<keys>)"

    def encrypt(self, token: str) -> bytes:
        if not isinstance(token, str) or not token:
            raise ValueError("only a non-empty token string can be encrypted")
        return self._fernet.encrypt(token.encode())

    def decrypt(self, blob: bytes | bytearray | memoryview) -> str:
        try:
            return self._fernet.decrypt(bytes(blob)).decode()
        except InvalidToken:
            raise UndecryptableToken("stored token cannot be decrypted with the configured keys") from None

    def rotate(self, blob: bytes | bytearray | memoryview) -> bytes:
        """The same token re-encrypted under the first (newest) key."""
        try:
            return self._fernet.rotate(bytes(blob))
        except InvalidToken:
            raise UndecryptableToken("stored token cannot be decrypted with the configured keys") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
