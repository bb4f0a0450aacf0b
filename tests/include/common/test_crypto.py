"""Token encryption at rest: Fernet ciphertext only, rotation by MultiFernet, keys passed in."""

from __future__ import annotations

import pytest

from include.common.crypto import TokenCipher, UndecryptableToken, generate_key, parse_keys
from include.common.errors import ConfigurationError, classify


def test_round_trip_without_plaintext_and_a_fresh_nonce_each_time():
    cipher = TokenCipher(generate_key())
    first, second = cipher.encrypt("EAAB-secret-token"), cipher.encrypt("EAAB-secret-token")
    assert first != second and b"secret" not in first
    assert cipher.decrypt(first) == cipher.decrypt(memoryview(second)) == "EAAB-secret-token"


def test_rotation_reads_old_tokens_and_rewrites_them_under_the_newest_key():
    old, new = generate_key(), generate_key()
    blob = TokenCipher(old).encrypt("token")
    both = TokenCipher(f"{new}, {old}")
    assert both.decrypt(blob) == "token"
    assert TokenCipher(new).decrypt(both.rotate(blob)) == "token"
    assert TokenCipher(new).decrypt(both.encrypt("t2")) == "t2"  # encryption uses the first key


def test_a_token_no_key_opens_is_permanent_and_shows_no_key():
    blob = TokenCipher(generate_key()).encrypt("token")
    with pytest.raises(UndecryptableToken) as caught:
        TokenCipher(generate_key()).decrypt(blob)
    assert classify(caught.value) == "permanent"
    assert repr(TokenCipher(generate_key())) == "TokenCipher(<keys>)"


@pytest.mark.parametrize("keys", ["", " , ", "not-a-fernet-key", []])
def test_bad_keys_fail_naming_the_problem(keys):
    with pytest.raises(ConfigurationError):
        parse_keys(keys)
    with pytest.raises(ValueError):
        TokenCipher(generate_key()).encrypt("")
