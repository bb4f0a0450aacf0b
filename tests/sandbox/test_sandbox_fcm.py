"""FCM HTTP v1 stand-in and the Google OAuth token endpoint."""

from __future__ import annotations

import requests

SEND = "/v1/projects/demo-project/messages:send"


def send(base_url: str, message: dict | None, token: str | None = "sandbox-token"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"message": message} if message is not None else {}
    return requests.post(base_url + SEND, json=body, headers=headers, timeout=10)


def test_token_endpoint_issues_a_bearer_token(base_url, control):
    answer = requests.post(f"{base_url}/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b.c"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"]

    refresh = requests.post(f"{base_url}/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": "r", "client_id": "c"})
    assert refresh.status_code == 200
    [first, _] = control.requests("google_oauth")
    assert first["body"]["grant_type"].endswith("jwt-bearer")


def test_token_endpoint_rejects_bad_grants(base_url):
    unsupported = requests.post(f"{base_url}/token", data={"grant_type": "password"}, timeout=10)
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    rejected = requests.post(f"{base_url}/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": "invalid-revoked"})
    assert rejected.status_code == 400 and rejected.json()["error"] == "invalid_grant"


def test_send_succeeds_and_stores_the_push(base_url, control):
    message = {"token": "device-1", "notification": {"title": "Hi", "body": "42 new views"},
               "data": {"video_id": "v1"}}
    answer = send(base_url, message)
    assert answer.status_code == 200
    name = answer.json()["name"]
    assert name.startswith("projects/demo-project/messages/")
    assert send(base_url, message).json()["name"] != name  # unique per send

    pushes = control.pushes()
    assert pushes[0]["name"] == name
    assert pushes[0]["token"] == "device-1"
    assert pushes[0]["notification"] == {"title": "Hi", "body": "42 new views"}
    assert pushes[0]["data"] == {"video_id": "v1"}
    control.clear_pushes()
    assert control.pushes() == []


def test_token_counts_with_and_without_bodies(base_url, control):
    control.clear_pushes()
    assert send(base_url, {"token": "device-1"}).status_code == 200
    control.keep_push_bodies(False)
    try:
        for token in ("device-1", "device-2"):
            assert send(base_url, {"token": token}).status_code == 200
        assert [p["token"] for p in control.pushes()] == ["device-1"]  # only the one sent while kept
        assert control.push_tokens() == {"device-1": 2, "device-2": 1}
        assert requests.put(f"{base_url}/_sandbox/pushes/keep", json={"bodies": "no"}, timeout=10).status_code == 400
        control.clear_pushes()
        assert control.push_tokens() == {} and control.pushes() == []
        assert send(base_url, {"token": "device-3"}).status_code == 200
        assert control.pushes() == [] and control.push_tokens() == {"device-3": 1}  # the setting outlives a clear
    finally:
        control.reset()
    assert send(base_url, {"token": "device-4"}).status_code == 200
    assert [p["token"] for p in control.pushes()] == ["device-4"]


def test_send_without_bearer_is_unauthenticated(base_url, control):
    answer = send(base_url, {"token": "device-1"}, token=None)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]
    assert control.pushes() == []


def test_send_validates_the_message(base_url):
    for message in (None, {"notification": {"title": "no token"}}):
        answer = send(base_url, message)
        assert answer.status_code == 400
        assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"

    non_string_data = send(base_url, {"token": "device-1", "data": {"count": 12}})
    assert non_string_data.status_code == 400
    violations = non_string_data.json()["error"]["details"][0]["fieldViolations"]
    assert violations[0]["field"] == "message.data[0].value"


def test_unregistered_token(base_url, control):
    answer = send(base_url, {"token": "invalid-stale-device"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["status"] == "NOT_FOUND"
    assert error["details"] == [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                 "errorCode": "UNREGISTERED"}]
    assert control.pushes() == []
