"""AcrCloudClient: the exact signature of APIS.md §2.3, the status-code mapping, lenient
parsing of candidates, and the signed multipart request against the sandbox's stand-in."""

from __future__ import annotations

import hashlib

import pytest

from include.common.errors import classify
from include.common.http import ApiClient, ApiError, RetryableApiError
from include.music.acrcloud_client import (
    AcrCloudClient,
    AcrCloudError,
    AcrCloudLimitExceeded,
    AcrCloudServiceError,
    form_fields,
    parse_answer,
    sign,
    string_to_sign,
)

API = "acrcloud"
KEY, SECRET = "sandbox-acr-key", "sandbox-acr-secret"


# -- signing ---------------------------------------------------------------------------------

def test_string_to_sign_is_exactly_the_documented_one():
    assert string_to_sign("a1b2c3d4e5", "1705570000") == "POST\n/v1/identify\na1b2c3d4e5\naudio\n1\n1705570000"
    assert not string_to_sign("k", "1").endswith("\n")


def test_signature_matches_a_vector_computed_outside_python():
    # printf 'POST\n/v1/identify\n<key>\naudio\n1\n1705570000' | openssl dgst -sha1 -hmac '<secret>' -binary | base64
    assert sign("a1b2c3d4e5", "secret", "1705570000") == "85ILXcJ9Cb2P96/nkStoKEmGj3Q="
    assert sign(KEY, SECRET, "1705570000") == "QygalUB2ylgTbVic5bju529p7Ck="


def test_form_fields_carry_the_signed_timestamp_byte_identically():
    fields = form_fields(KEY, SECRET, 1234, "1705570000")
    assert fields == {"access_key": KEY, "sample_bytes": "1234", "timestamp": "1705570000",
                      "signature": "QygalUB2ylgTbVic5bju529p7Ck=", "data_type": "audio", "signature_version": "1"}


# -- answers -> results and errors -------------------------------------------------------------

HELLO = {
    "status": {"msg": "Success", "code": 0, "version": "1.0"},
    "result_type": 0,
    "metadata": {"music": [
        {"title": "Weaker", "artists": [{"name": "Someone"}], "score": 71, "acrid": "b"},
        {"title": "Hello", "artists": [{"name": "Adele"}], "album": {"name": "25"},
         "acrid": "6049f11da7095e8bb8266871d4a70873", "release_date": "2015-10-23", "score": "100",
         "external_ids": {"isrc": "GBBKS1500214", "upc": "886445581959"}},
    ]},
}


def test_success_gives_candidates_best_first_with_coerced_types():
    result = parse_answer(HELLO)
    assert result.matched and result.status_code == 0 and result.raw is HELLO
    best = result.best
    assert (best.title, best.artists, best.album, best.isrc, best.score, best.acrid, best.release_date) == (
        "Hello", ("Adele",), "25", "GBBKS1500214", 100, "6049f11da7095e8bb8266871d4a70873", "2015-10-23")
    assert [c.title for c in result.candidates] == ["Hello", "Weaker"]


@pytest.mark.parametrize(("entry", "field", "value"), [
    ({"external_ids": {"isrc": ["USRC17607839", "USRC17607840"]}}, "isrc", "USRC17607839"),  # broadcast shape
    ({"external_ids": {"isrc": []}}, "isrc", None),
    ({}, "isrc", None),
    ({"release_date": "2015"}, "release_date", "2015"),
    ({"release_date": "not a date"}, "release_date", None),
    ({"release_date": None}, "release_date", None),
    ({"score": 95.0}, "score", 95),
    ({}, "artists", ()),
    ({}, "album", None),
])
def test_optional_and_variant_fields_are_read_leniently(entry, field, value):
    music = {"title": "T", "score": 90, **entry}
    best = parse_answer({"status": {"code": 0, "msg": "Success"}, "metadata": {"music": [music]}}).best
    assert getattr(best, field) == value


def test_no_result_is_a_result_without_candidates():
    result = parse_answer({"status": {"msg": "No result", "code": 1001, "version": "1.0"}})
    assert not result.matched and result.best is None and result.status_code == 1001


@pytest.mark.parametrize("code", [3003, 3015])
def test_limits_are_transient(code):
    with pytest.raises(AcrCloudLimitExceeded, match=f"ACRCloud: {code}") as caught:
        parse_answer({"status": {"msg": "limit", "code": code}})
    assert classify(caught.value) == "transient" and caught.value.code == code


def test_service_error_in_the_body_is_transient():
    with pytest.raises(AcrCloudServiceError) as caught:
        parse_answer({"status": {"msg": "Service unavailable", "code": 3000}})
    assert classify(caught.value) == "transient"


@pytest.mark.parametrize("code", [3001, 3002, 3006, 3014, 3999, 2004])
def test_refusals_are_permanent_api_errors(code):
    with pytest.raises(AcrCloudError, match=f"ACRCloud: refused with code {code}") as caught:
        parse_answer({"status": {"msg": "Invalid signature", "code": code}})
    assert isinstance(caught.value, ApiError) and classify(caught.value) == "permanent"
    assert caught.value.code == code


@pytest.mark.parametrize(("body", "why"), [
    ([1, 2], "not a JSON object"),
    ("Success", "not a JSON object"),
    ({}, "no integer status.code"),
    ({"status": "ok"}, "no integer status.code"),
    ({"status": {"code": "zero"}}, "no integer status.code"),
    ({"status": {"code": "0"}, "metadata": {"music": [{"title": "T", "score": 90}]}}, "no integer status.code"),
    ({"status": {"code": True}}, "no integer status.code"),
    ({"status": {"code": 0}}, "without a metadata.music list"),
    ({"status": {"code": 0}, "metadata": {"music": {"title": "T", "score": 90}}}, "without a metadata.music list"),
    ({"status": {"code": 0}, "metadata": {"music": [{"score": 90}]}}, r"music\[0\] is malformed \(title"),
    ({"status": {"code": 0}, "metadata": {"music": [{"title": "T", "score": "high"}]}}, "score"),
    ({"status": {"code": 0}, "metadata": {"music": [{"title": "T", "score": 90, "artists": "Adele"}]}}, "artists"),
    ({"status": {"code": 0}, "metadata": {"music": ["Hello"]}}, "must be an object"),
])
def test_malformed_answers_are_permanent_errors_naming_acrcloud(body, why):
    with pytest.raises(AcrCloudError, match=why) as caught:
        parse_answer(body)
    assert str(caught.value).startswith("POST /v1/identify: ACRCloud: ")
    assert classify(caught.value) == "permanent"


# -- against the sandbox -------------------------------------------------------------------------

@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def base_url(sandbox, session_env):
    sandbox.reset_faults()
    sandbox.clear_requests()
    yield f"http://127.0.0.1:{session_env['http_port']}"
    sandbox.reset_faults()


@pytest.fixture
def client(base_url, sleeps):
    with ApiClient(base_url, sleep=sleeps.append) as api:
        yield AcrCloudClient(api, KEY, SECRET)


def test_a_signed_request_is_identified_by_the_stand_in(client, sandbox):
    result = client.identify(b"SANDBOX-MATCH " + bytes(range(256)) * 40)
    assert result.matched and result.best.title and result.best.artists and 70 <= result.best.score <= 100
    assert result.best.isrc  # the stand-in's catalogue has ISRCs for every song
    [call] = sandbox.requests(API)
    assert call["method"] == "POST" and call["path"] == "/v1/identify"
    form = call["body"]
    assert form["access_key"] == KEY and form["data_type"] == "audio" and form["signature_version"] == "1"
    assert form["timestamp"].isdigit()  # an int string, as the official SDK sends
    assert form["signature"] == sign(KEY, SECRET, form["timestamp"])
    assert form["sample_bytes"] == str(14 + 256 * 40)


def test_no_result_from_the_stand_in(client):
    result = client.identify(b"SANDBOX-NORESULT and some audio")
    assert not result.matched and result.status_code == 1001


def test_a_wrong_secret_is_refused_as_a_bad_signature(base_url):
    with ApiClient(base_url) as api:
        with pytest.raises(AcrCloudError, match="code 3014") as caught:
            AcrCloudClient(api, KEY, "not-the-secret").identify(b"SANDBOX-MATCH audio")
    assert classify(caught.value) == "permanent"


def test_a_wrong_key_is_refused(base_url):
    with ApiClient(base_url) as api:
        with pytest.raises(AcrCloudError, match="code 3001"):
            AcrCloudClient(api, "someone-else", SECRET).identify(b"SANDBOX-MATCH audio")


def test_qps_limit_3015_is_transient(client, sandbox):
    sandbox.set_faults(API, status_429=1)
    with pytest.raises(AcrCloudLimitExceeded, match="3015"):
        client.identify(b"SANDBOX-MATCH audio")
    assert client.identify(b"SANDBOX-MATCH audio").matched  # the next call gets through


def test_5xx_is_retried_by_the_http_client_then_succeeds(client, sandbox, sleeps):
    sandbox.set_faults(API, status_5xx=2)
    assert client.identify(b"SANDBOX-MATCH audio").matched
    assert len(sleeps) == 2  # two backoffs, then the third attempt (each re-signed at send)
    stamps = [c["body"]["timestamp"] for c in sandbox.requests(API)]
    assert len(stamps) == 3 and all(s.isdigit() for s in stamps)


def test_5xx_storm_ends_transient(base_url, sandbox, sleeps):
    sandbox.set_faults(API, status_5xx=3)
    with ApiClient(base_url, max_attempts=3, sleep=sleeps.append) as api:
        with pytest.raises(RetryableApiError) as caught:
            AcrCloudClient(api, KEY, SECRET).identify(b"SANDBOX-MATCH audio")
    assert classify(caught.value) == "transient"


def test_malformed_success_is_an_error_not_a_result(client, sandbox):
    sandbox.set_faults(API, malformed_fraction=1.0)
    kinds = set()
    for i in range(24):
        sample = b"SANDBOX-MATCH malformed %d" % i
        kind = hashlib.sha512(sample).digest()[30] % 6  # the field the stand-in breaks (sandbox/apis/acrcloud.py)
        kinds.add(kind)
        if kind == 1:  # duration_ms, which we do not read: no reason to refuse the answer
            assert client.identify(sample).matched
            continue
        with pytest.raises(AcrCloudError) as caught:
            client.identify(sample)
        assert classify(caught.value) == "permanent"
    assert kinds == set(range(6))


def test_bad_samples_are_refused_before_sending(client, sandbox):
    with pytest.raises(ValueError, match="empty"):
        client.identify(b"")
    with pytest.raises(ValueError, match="exceeds"):
        client.identify(b"x" * (5 * 1024 * 1024 + 1))
    assert sandbox.requests(API) == []
