"""ACRCloud identify stand-in: the HMAC-SHA1 form signature, status codes (0, 1001, 3001, 3002,
3003, 3006, 3014, 3015, 3000), results that are a function of the sample's bytes and match the
Soundcharts catalogue, faults in ACRCloud's protocol, malformed bodies, and a request log that
keeps sample sizes and hashes but never the bytes."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
import requests

from include.demo import music_data
from sandbox.apis.acrcloud import DEFAULT_ACCESS_KEY, DEFAULT_ACCESS_SECRET, signature


def identify(base_url: str, sample: bytes, *, key: str = DEFAULT_ACCESS_KEY, secret: str = DEFAULT_ACCESS_SECRET,
             timestamp: str | None = None, data_type: str = "audio", sample_bytes: str | None = None,
             sign: str | None = None) -> requests.Response:
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    fields = {"access_key": key, "data_type": data_type, "signature_version": "1", "timestamp": timestamp,
              "signature": sign if sign is not None else signature(secret, key, data_type, "1", timestamp),
              "sample_bytes": str(len(sample)) if sample_bytes is None else sample_bytes}
    return requests.post(f"{base_url}/v1/identify", data=fields, timeout=10,
                         files={"sample": ("sample", sample, "application/octet-stream")})


def code(answer: requests.Response) -> int:
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]["code"]


def well_typed(body: dict) -> bool:
    """What a client must check before storing a match."""
    music = body.get("metadata", {}).get("music")
    if body["status"]["code"] != 0 or not isinstance(music, list) or not music:
        return False
    return all(isinstance(m.get("title"), str) and isinstance(m.get("score"), int)
               and isinstance(m.get("duration_ms"), int) and isinstance(m.get("artists"), list)
               for m in music)


def test_a_signed_request_gets_a_match_from_the_catalogue(base_url, control):
    sample = b"SANDBOX-MATCH" + bytes(range(256)) * 40
    answer = identify(base_url, sample)
    body = answer.json()
    assert body["status"] == {"msg": "Success", "code": 0, "version": "1.0"}
    assert body["result_type"] == 0 and isinstance(body["cost_time"], float)
    assert well_typed(body)
    music = body["metadata"]["music"]
    assert 1 <= len(music) <= 2 and music == sorted(music, key=lambda m: -m["score"])
    best = music[0]
    assert 70 <= best["score"] <= 100 and len(best["acrid"]) == 32
    assert 0 < best["play_offset_ms"] < best["duration_ms"]
    songs = {music_data.song(u)["isrc"]["value"]: music_data.song(u) for u in music_data.song_uuids()}
    song = songs[best["external_ids"]["isrc"]]  # the same song as in the Soundcharts stand-in
    assert best["title"] == song["name"] and [a["name"] for a in best["artists"]] == [
        a["name"] for a in song["artists"]]
    if "external_metadata" in best:
        assert best["external_metadata"]["spotify"]["track"]["id"] == music_data.platform_id(song["uuid"], "spotify")
    # Deterministic: the same sample gives the same result (the clock field aside).
    again = identify(base_url, sample).json()
    for b in (body, again):
        b["metadata"].pop("timestamp_utc")
    assert again == body

    [first, _] = control.requests("acrcloud")
    assert first["body"]["sample"] == {"filename": "sample", "size": len(sample),
                                       "sha256": hashlib.sha256(sample).hexdigest()}
    assert first["body"]["access_key"] == DEFAULT_ACCESS_KEY and first["status"] == 200
    assert "SANDBOX-MATCH" not in str(first)  # the bytes are not logged


def test_unforced_samples_match_about_the_known_share(base_url):
    rng = random.Random(7)
    codes = [code(identify(base_url, rng.randbytes(64))) for _ in range(120)]
    assert set(codes) == {0, 1001}
    assert 0.65 <= codes.count(0) / len(codes) <= 0.92


def test_no_result_has_no_metadata(base_url):
    body = identify(base_url, b"SANDBOX-NORESULT and then some audio").json()
    assert body == {"status": {"msg": "No result", "code": 1001, "version": "1.0"}}


@pytest.mark.parametrize("kwargs, expected", [
    ({"sign": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, 3014),
    ({"sign": ""}, 3014),
    ({"secret": "not-the-secret"}, 3014),
    ({"timestamp": str(int(time.time()) - 3600)}, 3014),  # outside the skew window
    ({"timestamp": "soon"}, 3014),
    ({"key": "unknown-key"}, 3001),
    ({"key": ""}, 3001),
    ({"sample_bytes": "12"}, 3006),
    ({"data_type": "video"}, 3006),
])
def test_rejections(base_url, kwargs, expected):
    answer = identify(base_url, b"SANDBOX-MATCH some audio", **kwargs)
    assert code(answer) == expected
    assert "metadata" not in answer.json()
    if expected == 3014:
        assert answer.json()["status"] == {"msg": "Invalid signature", "code": 3014, "version": "1.0"}


def test_float_timestamps_of_the_webapi_example_are_accepted(base_url):
    assert code(identify(base_url, b"SANDBOX-MATCH x", timestamp=str(time.time()))) == 0


def test_skew_window_is_configurable(base_url, monkeypatch):
    old = str(int(time.time()) - 3600)
    monkeypatch.setenv("SANDBOX_ACRCLOUD_MAX_SKEW", "0")  # off
    assert code(identify(base_url, b"SANDBOX-MATCH x", timestamp=old)) == 0
    monkeypatch.setenv("SANDBOX_ACRCLOUD_MAX_SKEW", "7200")
    assert code(identify(base_url, b"SANDBOX-MATCH x", timestamp=old)) == 0
    monkeypatch.setenv("SANDBOX_ACRCLOUD_MAX_SKEW", "60")
    assert code(identify(base_url, b"SANDBOX-MATCH x", timestamp=old)) == 3014


def test_configured_credentials(base_url, monkeypatch):
    monkeypatch.setenv("SANDBOX_ACRCLOUD_ACCESS_KEY", "project-key")
    monkeypatch.setenv("SANDBOX_ACRCLOUD_ACCESS_SECRET", "project-secret")
    assert code(identify(base_url, b"SANDBOX-MATCH x")) == 3001
    assert code(identify(base_url, b"SANDBOX-MATCH x", key="project-key")) == 3014
    assert code(identify(base_url, b"SANDBOX-MATCH x", key="project-key", secret="project-secret")) == 0


def test_bodies_that_are_not_a_valid_form(base_url):
    assert code(requests.post(f"{base_url}/v1/identify", json={"sample": "x"}, timeout=10)) == 3002
    fields = {"access_key": DEFAULT_ACCESS_KEY, "data_type": "audio", "signature_version": "1",
              "timestamp": "1", "signature": "x", "sample_bytes": "0"}
    ts = str(int(time.time()))
    fields.update(timestamp=ts, signature=signature(DEFAULT_ACCESS_SECRET, DEFAULT_ACCESS_KEY, "audio", "1", ts))
    no_file = requests.post(f"{base_url}/v1/identify", files={"x": (None, "y")}, data=fields, timeout=10)
    assert code(no_file) == 3006
    assert code(identify(base_url, b"")) == 3006


def test_forced_quota_and_qps_codes(base_url):
    assert code(identify(base_url, b"SANDBOX-QUOTA x")) == 3003
    assert code(identify(base_url, b"SANDBOX-QPS x")) == 3015


def test_fault_switches_in_acrclouds_protocol(base_url, control):
    control.set_faults("acrcloud", status_429=1, status_5xx=1)
    throttled = identify(base_url, b"SANDBOX-MATCH x")
    assert throttled.status_code == 200 and throttled.json()["status"]["code"] == 3015
    assert "Retry-After" not in throttled.headers
    down = identify(base_url, b"SANDBOX-MATCH x")
    assert down.status_code == 503 and down.json()["status"]["code"] == 3000
    assert code(identify(base_url, b"SANDBOX-MATCH x")) == 0
    log = control.requests("acrcloud")
    assert [(r["status"], r["fault"]) for r in log] == [(200, "status_429"), (503, "status_503"), (200, None)]
    assert all(r["body"]["sample"]["size"] == 15 for r in log)  # summarised even when faulted


def test_malformed_success_bodies(base_url, control):
    control.set_faults("acrcloud", malformed_fraction=1.0)
    bodies = [identify(base_url, b"SANDBOX-MATCH %d" % n).json() for n in range(12)]
    assert not any(well_typed(b) for b in bodies)
    assert all(r["malformed"] == 1 for r in control.requests("acrcloud"))
    # No-result answers have nothing to corrupt.
    assert identify(base_url, b"SANDBOX-NORESULT").json()["status"]["code"] == 1001
