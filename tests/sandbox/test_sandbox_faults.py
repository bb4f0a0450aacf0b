"""Fault switches: 429 with Retry-After, 503, delay, malformed records, presets."""

from __future__ import annotations

import time

import pytest
import requests
from pydantic import ValidationError

from sandbox.client import SandboxControl
from sandbox.faults import parse_preset
from sandbox.malformed import NOT_A_NUMBER, corrupt_records

AUTH = {"Authorization": "Bearer sandbox-token"}
PUSH = {"message": {"token": "device-1"}}


def push(base_url: str):
    return requests.post(f"{base_url}/v1/projects/p/messages:send", json=PUSH, headers=AUTH,
                         timeout=10)


def test_429_for_exactly_n_calls_then_200(base_url, control):
    control.set_faults("fcm", status_429=2, retry_after=7)

    for _ in range(2):
        answer = push(base_url)
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "7"
        assert answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert push(base_url).status_code == 200
    assert [r["status"] for r in control.requests("fcm")] == [429, 429, 200]
    assert [r["fault"] for r in control.requests("fcm")] == ["status_429", "status_429", None]
    assert len(control.pushes()) == 1


def test_5xx_switch_answers_503_with_json_error(base_url, control):
    control.set_faults("fcm", status_5xx=1)
    answer = push(base_url)
    assert answer.status_code == 503
    assert answer.json()["error"]["status"] == "UNAVAILABLE"
    assert push(base_url).status_code == 200


def test_429_comes_before_5xx_and_other_apis_are_untouched(base_url, control):
    control.set_faults("fcm", status_5xx=1)
    control.set_faults("fcm", status_429=1)  # merges: the 5xx count is kept
    assert control.faults()["fcm"]["status_5xx"] == 1
    models = requests.get(f"{base_url}/v1/models", headers=AUTH, timeout=10)
    assert models.status_code == 200
    assert [push(base_url).status_code for _ in range(3)] == [429, 503, 200]


def test_errors_use_the_api_s_own_format(base_url, control):
    control.set_faults("llm", status_429=1)
    answer = requests.get(f"{base_url}/v1/models", headers=AUTH, timeout=10)
    assert answer.status_code == 429
    assert answer.json()["error"]["type"] == "requests"  # OpenAI shape, not Google's


def test_delay(base_url, control):
    control.set_faults("fcm", delay=0.5)
    started = time.monotonic()
    assert push(base_url).status_code == 200
    assert time.monotonic() - started >= 0.5
    control.reset_faults()
    started = time.monotonic()
    push(base_url)
    assert time.monotonic() - started < 0.5


def test_malformed_fraction_is_deterministic(base_url, control):
    control.set_faults("llm", malformed_fraction=1.0)
    first = requests.get(f"{base_url}/v1/models", headers=AUTH, timeout=10).json()["data"]
    again = requests.get(f"{base_url}/v1/models", headers=AUTH, timeout=10).json()["data"]
    assert first == again
    assert all("id" not in m or m["created"] == NOT_A_NUMBER for m in first)
    assert control.requests("llm")[0]["malformed"] == len(first)


def test_corrupt_records_picks_a_stable_share():
    records = [{"id": f"r{i}", "views": i} for i in range(1000)]
    out, count = corrupt_records(records, 0.1, "videos", required=("id",))
    assert 50 < count < 150
    assert corrupt_records(records, 0.1, "videos", required=("id",)) == (out, count)
    assert corrupt_records(records[:500], 0.1, "videos", ("id",))[0] == out[:500]  # per record
    bad = [r for r in out if "id" not in r or r["views"] == NOT_A_NUMBER]
    assert len(bad) == count
    rows, row_count = corrupt_records([["2025-01-01", 5, 7]] * 3, 1.0, "yt")
    assert row_count == 3 and all(len(r) == 2 or NOT_A_NUMBER in r for r in rows)


def test_switch_validation(base_url, control):
    unknown_api = requests.post(f"{base_url}/_sandbox/faults/nope", json={"status_429": 1},
                                timeout=10)
    assert unknown_api.status_code == 404
    unknown_switch = requests.post(f"{base_url}/_sandbox/faults/fcm", json={"status_4xx": 1},
                                   timeout=10)
    assert unknown_switch.status_code == 422
    assert requests.post(f"{base_url}/_sandbox/faults/fcm", json={"malformed_fraction": 2},
                         timeout=10).status_code == 422


def test_faults_preset_at_start_up(start_sandbox, tmp_path):
    preset = parse_preset('{"fcm": {"status_5xx": 2}}')
    handle = start_sandbox(tmp_path, faults=preset)
    assert SandboxControl(handle.base_url).faults()["fcm"]["status_5xx"] == 2
    assert [push(handle.base_url).status_code for _ in range(3)] == [503, 503, 200]


def test_parse_preset_rejects_mistakes():
    assert parse_preset("") == {}
    with pytest.raises(ValidationError):
        parse_preset('{"fcm": {"status_5xxx": 2}}')
    with pytest.raises(ValueError):
        parse_preset('{"fcm": 2}')
