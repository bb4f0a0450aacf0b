"""ACRCloud identify requests built and signed the way the vendor's own code does, against the
sandbox: the `requests` recipe of acrcloud/webapi_example (IdentifyProtocolV1_1.py: a float
`str(time.time())` timestamp, the sample as an open file) and the hand-built multipart body of
the official SDK (acrcloud_sdk_python recognizer.py: `encode_multipart_formdata` and
`do_recogize`, an int timestamp, posted with urllib). ACRCloud ships no pure-Python client on
PyPI (its SDK wraps a native fingerprint extractor), so the recipes are replicated here; a
request either recipe signs correctly must be accepted (0 or 1001), a wrong signature 3014.

The SDK's timestamp is `int(time.mktime(datetime.utcfromtimestamp(time.time()).timetuple()))`,
which is `int(time.time())` only on a UTC host (elsewhere it is off by the UTC offset); the
replica uses `int(time.time())`, what it computes on a UTC host."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request

import pytest
import requests

from sandbox.apis.acrcloud import DEFAULT_ACCESS_KEY, DEFAULT_ACCESS_SECRET

SAMPLE = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 64  # any bytes: the sandbox hashes them


def webapi_example(url: str, path, access_key: str, access_secret: str) -> dict:
    """IdentifyProtocolV1_1.py, in Python 3 (the example is Python 2: bytes for hmac)."""
    http_method, http_uri, data_type, signature_version = "POST", "/v1/identify", "audio", "1"
    timestamp = time.time()
    string_to_sign = (http_method + "\n" + http_uri + "\n" + access_key + "\n" + data_type + "\n"
                      + signature_version + "\n" + str(timestamp))
    sign = base64.b64encode(hmac.new(access_secret.encode(), string_to_sign.encode(),
                                     digestmod=hashlib.sha1).digest())
    sample_bytes = path.stat().st_size
    with open(path, "rb") as f:
        files = {"sample": f}
        data = {"access_key": access_key, "sample_bytes": sample_bytes, "timestamp": str(timestamp),
                "signature": sign, "data_type": data_type, "signature_version": signature_version}
        r = requests.post(url, files=files, data=data, timeout=10)
    r.encoding = "utf-8"
    assert r.status_code == 200, r.text
    return r.json()


def _sdk_multipart(fields: dict, files: dict) -> tuple[str, bytes]:
    """recognizer.py's encode_multipart_formdata (its %-formatting as f-strings)."""
    boundary = "*****2016.05.27.acrcloud.rec.copyright." + str(time.time()) + "*****"
    crlf = "\r\n"
    lines = []
    for key, value in fields.items():
        lines += ["--" + boundary, f'Content-Disposition: form-data; name="{key}"', "", value]
    body = bytes(crlf.join(lines), encoding="utf-8")
    for key, value in files.items():
        lines = [crlf + "--" + boundary,
                 f'Content-Disposition: form-data; name="{key}"; filename="{key}"',
                 "Content-Type: application/octet-stream", crlf]
        body = body + crlf.join(lines).encode("ascii") + value
    body = body + (crlf + "--" + boundary + "--" + crlf + crlf).encode("ascii")
    return f"multipart/form-data; boundary={boundary}", body


def official_sdk(url: str, sample: bytes, access_key: str, access_secret: str) -> dict:
    """recognizer.py's do_recogize + post_multipart (urllib), data_type audio."""
    http_method, http_url_file, data_type, signature_version = "POST", "/v1/identify", "audio", "1"
    timestamp = int(time.time())
    string_to_sign = (http_method + "\n" + http_url_file + "\n" + access_key + "\n" + data_type + "\n"
                      + signature_version + "\n" + str(timestamp))
    hmac_res = hmac.new(access_secret.encode("ascii"), string_to_sign.encode("ascii"),
                        digestmod=hashlib.sha1).digest()
    sign = base64.b64encode(hmac_res).decode("ascii")
    fields = {"access_key": access_key, "sample_bytes": str(len(sample)), "timestamp": str(timestamp),
              "signature": sign, "data_type": data_type, "signature_version": signature_version}
    content_type, body = _sdk_multipart(fields, {"sample": sample})
    req = urllib.request.Request(url, data=body)
    req.add_header("Content-Type", content_type)
    req.add_header("Referer", url)
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read().decode("utf8"))


@pytest.fixture
def identify_url(sandbox_url) -> str:
    return f"{sandbox_url}/v1/identify"


@pytest.mark.parametrize("sample", [SAMPLE, b"SANDBOX-MATCH" + SAMPLE, b"SANDBOX-NORESULT" + SAMPLE])
def test_webapi_example_recipe_is_accepted(identify_url, tmp_path, sample, sandbox):
    path = tmp_path / "recording.wav"
    path.write_bytes(sample)
    answer = webapi_example(identify_url, path, DEFAULT_ACCESS_KEY, DEFAULT_ACCESS_SECRET)
    assert answer["status"]["code"] in (0, 1001), answer
    if sample.startswith(b"SANDBOX-MATCH"):
        assert answer["status"]["code"] == 0 and answer["metadata"]["music"][0]["title"]
    [logged] = sandbox.requests("acrcloud")
    assert logged["body"]["sample"] == {"filename": "recording.wav", "size": len(sample),
                                        "sha256": hashlib.sha256(sample).hexdigest()}


def test_official_sdk_multipart_is_accepted_and_gives_the_same_result(identify_url, tmp_path):
    path = tmp_path / "sample"
    path.write_bytes(SAMPLE)
    via_sdk = official_sdk(identify_url, SAMPLE, DEFAULT_ACCESS_KEY, DEFAULT_ACCESS_SECRET)
    via_example = webapi_example(identify_url, path, DEFAULT_ACCESS_KEY, DEFAULT_ACCESS_SECRET)
    assert via_sdk["status"]["code"] in (0, 1001)
    for answer in (via_sdk, via_example):
        answer.get("metadata", {}).pop("timestamp_utc", None)
    assert via_sdk == via_example  # the result is a function of the sample bytes


def test_a_wrong_secret_is_an_invalid_signature(identify_url, tmp_path):
    path = tmp_path / "sample"
    path.write_bytes(SAMPLE)
    for answer in (webapi_example(identify_url, path, DEFAULT_ACCESS_KEY, "not-the-secret"),
                   official_sdk(identify_url, SAMPLE, DEFAULT_ACCESS_KEY, "not-the-secret")):
        assert answer == {"status": {"msg": "Invalid signature", "code": 3014, "version": "1.0"}}
