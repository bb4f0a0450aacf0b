"""The request log, and the registry's guard against two APIs serving one path."""

from __future__ import annotations

import pytest
import requests

from sandbox.app import create_app
from sandbox.errors import google_error
from sandbox.registry import SandboxApi, load_apis
from sandbox.state import SandboxState


def test_requests_are_recorded_per_api(base_url, control):
    requests.post(f"{base_url}/v1/projects/p/messages:send?validate_only=false",
                  json={"message": {"token": "device-1"}},
                  headers={"Authorization": "Bearer t", "X-Request-Tag": "abc", "Cookie": "c"},
                  timeout=10)
    requests.get(f"{base_url}/v1/models", timeout=10)  # no auth: recorded with its 401

    [fcm] = control.requests("fcm")
    assert fcm["api"] == "fcm" and fcm["method"] == "POST"
    assert fcm["path"] == "/v1/projects/p/messages:send"
    assert fcm["query"] == {"validate_only": "false"}
    assert fcm["headers"]["authorization"] == "Bearer t"
    assert fcm["headers"]["x-request-tag"] == "abc"
    assert "cookie" not in fcm["headers"]
    assert fcm["body"] == {"message": {"token": "device-1"}}
    assert fcm["status"] == 200 and fcm["time"]
    assert [r["status"] for r in control.requests("llm")] == [401]
    assert len(control.requests()) == 2

    control.clear_requests()
    assert control.requests() == []


def test_control_routes_are_not_recorded(base_url, control):
    control.pushes()
    control.emails()
    assert control.requests() == []


def ok() -> dict:
    return {"ok": True}


def test_two_apis_on_one_path_fail_at_start_up(tmp_path):
    one, two = SandboxApi("one", google_error), SandboxApi("two", google_error)
    for api in (one, two):
        api.router.add_api_route("/v1/same", ok, methods=["GET"])
    state = SandboxState.create(tmp_path, ["one", "two"])
    with pytest.raises(ValueError, match="GET /v1/same"):
        create_app(state, [one, two])


def test_registered_apis():
    assert [api.name for api in load_apis()] == ["google_oauth", "fcm", "llm", "youtube_analytics", "adsense",
                                                 "soundcharts", "acrcloud", "meta_ads", "tiktok_ads", "google_ads"]
