"""One-click unsubscribe (RFC 8058): the signer the jobs use and the verifier a product backend
runs on the link's token: round trip, tampering, another domain/list/key, key rotation, and
the URL and header shapes."""

from __future__ import annotations

import base64

import pytest

from include.common.unsubscribe import (
    ONE_CLICK,
    InvalidToken,
    Subscription,
    UnsubscribeLinks,
    check_url,
    headers,
    parse_keys,
    sign,
    token_of_url,
    verify,
)

KEY = "unit-test-signing-key-0123456789"
OLD_KEY = "the-key-before-the-rotation-0000"
BASES = {"social": "https://social.example.test/email/unsubscribe",
         "ads": "https://ads.example.test/u?source=email"}


def links(domain: str = "social", keys: str = KEY) -> UnsubscribeLinks:
    return UnsubscribeLinks.for_domain(domain, keys, BASES)


def test_a_signed_link_verifies_to_its_domain_list_and_user():
    url = links().url("digest", 42)
    assert url.startswith("https://social.example.test/email/unsubscribe?token=v1.")
    token = token_of_url(url)
    assert verify(token, KEY, domain="social") == Subscription("social", "digest", "42")
    # the same recipient always gets the same link (a rerun renders the same email)
    assert links().url("digest", 42) == url
    assert links().url("digest", 43) != url and links().url("weekly", 42) != url


def test_a_base_url_with_a_query_keeps_it():
    url = links("ads").url("daily_report", 7)
    assert url.startswith("https://ads.example.test/u?source=email&token=v1.")
    assert verify(token_of_url(url), KEY, domain="ads").user_id == "7"


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


def test_a_tampered_token_is_refused():
    token = links().token("digest", 42)
    version, payload, signature = token.split(".")
    for i in range(len(payload)):  # every character of the payload
        with pytest.raises(InvalidToken):
            verify(f"{version}.{_flip(payload, i)}.{signature}", KEY, domain="social")
    for i in range(len(signature)):
        with pytest.raises(InvalidToken):
            verify(f"{version}.{payload}.{_flip(signature, i)}", KEY, domain="social")
    # another user's id put in the payload, the signature kept
    other = base64.urlsafe_b64encode(b"social.digest.43").rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="signature"):
        verify(f"{version}.{other}.{signature}", KEY, domain="social")
    for bad in ("", "v1", "v1.a.b.c", f"v2.{payload}.{signature}", f"{version}.{payload}.{signature}=",
                f"{version}.{payload}.", "v1.@@.##"):
        with pytest.raises(InvalidToken):
            verify(bad, KEY, domain="social")


def test_a_token_of_another_domain_or_key_is_refused():
    token = links().token("digest", 42)
    with pytest.raises(InvalidToken, match="for domain 'social', not 'ads'"):
        verify(token, KEY, domain="ads")
    ads_token = links("ads").token("daily_report", 42)
    with pytest.raises(InvalidToken, match="not 'social'"):
        verify(ads_token, KEY, domain="social")
    with pytest.raises(InvalidToken, match="signature"):
        verify(token, "another-key-of-another-install-00", domain="social")


def test_rotation_signs_with_the_newest_key_and_verifies_with_each():
    old = UnsubscribeLinks.for_domain("social", OLD_KEY, BASES).token("digest", 1)
    rotated = links(keys=f"{KEY},{OLD_KEY}")
    new = rotated.token("digest", 1)
    assert new == sign(KEY.encode(), "social", "digest", 1) != old
    for token in (old, new):
        assert verify(token, f"{KEY},{OLD_KEY}", domain="social").user_id == "1"
    with pytest.raises(InvalidToken):
        verify(old, KEY, domain="social")  # the old key retired: its links stop working


def test_bad_settings_and_ids_are_refused():
    with pytest.raises(ValueError, match="fewer than 16"):
        parse_keys("short")
    with pytest.raises(ValueError, match="no unsubscribe signing key"):
        parse_keys(" , ")
    with pytest.raises(ValueError, match="no unsubscribe base URL for domain 'music'"):
        UnsubscribeLinks.for_domain("music", KEY, BASES)
    with pytest.raises(ValueError, match="https"):
        UnsubscribeLinks.for_domain("social", KEY, {"social": "http://social.example.test/u"})
    with pytest.raises(ValueError, match="user id"):
        links().url("digest", "4.2")  # "." would let one id pose as another list
    with pytest.raises(ValueError, match="list"):
        links().url("Digest List", 1)


def test_headers_and_urls_a_header_can_carry():
    url = links().url("digest", 42)
    assert headers(url) == {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert ONE_CLICK == "List-Unsubscribe=One-Click"
    assert check_url("https://a.example/u?token=v1.x_-") == "https://a.example/u?token=v1.x_-"
    for bad in ("http://a.example/u", "https://a.example/u v", "https://a.example/<u>", 'https://a.example/"',
                "https://a.example/u\r\nBcc: x@y", "mailto:u@a.example", "https:///u"):
        with pytest.raises(ValueError):
            check_url(bad)
    with pytest.raises(InvalidToken, match="2 'token' parameters"):
        token_of_url(f"{url}&token=v1.a.b")
