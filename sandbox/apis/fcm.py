"""Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project_id}/messages:send.

Validates like the real API (OAuth bearer, a target token, string-only `data` values) and
answers a token starting with `invalid-` as an unregistered device. Sent pushes are kept
for tests at /_sandbox/pushes, and how many times each token got one at
/_sandbox/pushes/tokens. `PUT /_sandbox/pushes/keep {"bodies": false}` stops keeping the
pushes themselves (the token counts go on): a million pushes would otherwise hold ~2 GB
and a 1 GB answer; `DELETE /_sandbox/pushes` clears both, not the setting."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import JSONResponse

from sandbox.errors import error_response, google_error
from sandbox.registry import SandboxApi
from sandbox.request_parsing import bearer_token, json_body

api = SandboxApi(name="fcm", error_body=google_error)

PUSHES = "fcm_pushes"
TOKENS = "fcm_push_tokens"
KEEP_BODIES = "fcm_keep_bodies"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_sequence = itertools.count(1)


def _invalid(message: str, field: str):
    return error_response(400, google_error(400, message, [
        {"@type": BAD_REQUEST, "fieldViolations": [{"field": field, "description": message}]},
        {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
    ]))


def _validation_error(body) -> tuple[str, str] | None:
    """(message, field) of the first problem in a send request, or None."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return "Invalid JSON payload received. Missing required field: message.", "message"
    if not isinstance(message.get("token"), str) or not message["token"]:
        return "Recipient of the message is not set.", "message.token"
    data = message.get("data", {})
    if not isinstance(data, dict):
        return "Invalid value at 'message.data' (map<string, string>)", "message.data"
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):  # the real API rejects non-string data values too
            field = f"message.data[{index}].value"
            return f"Invalid value at '{field}' (TYPE_STRING), {value!r} for key {key!r}", field
    notification = message.get("notification", {})
    if not isinstance(notification, dict) or not all(
            isinstance(notification.get(k, ""), str) for k in ("title", "body")):
        return "Invalid value at 'message.notification'", "message.notification"
    return None


@api.router.post("/v1/projects/{project_id}/messages:send")
async def send_message(project_id: str, request: Request):
    if bearer_token(request) is None:
        return error_response(401, google_error(
            401, "Request is missing required authentication credential. "
                 "Expected OAuth 2 access token, login cookie or other valid authentication "
                 "credential."))
    body = await json_body(request)
    problem = _validation_error(body)
    if problem:
        return _invalid(*problem)
    message = body["message"]
    if message["token"].startswith("invalid-"):
        return error_response(404, google_error(
            404, "Requested entity was not found.",
            [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}]))
    name = f"projects/{project_id}/messages/0:{time.time_ns() // 1000}%{next(_sequence):016x}"
    state = request.app.state.sandbox
    state.counter(TOKENS).add(message["token"])
    if not state.settings.get(KEEP_BODIES, True):
        return {"name": name}
    state.collection(PUSHES).append({
        "name": name,
        "project_id": project_id,
        "token": message["token"],
        "notification": message.get("notification"),
        "data": message.get("data"),
        "message": message,
        "received_at": datetime.now(UTC).isoformat(),
    })
    return {"name": name}


@api.control.get("/pushes")
def list_pushes(request: Request) -> list[dict]:
    return request.app.state.sandbox.collection(PUSHES).items()


@api.control.get("/pushes/tokens")
def push_tokens(request: Request) -> JSONResponse:
    """{token: pushes received} since the last clear, kept bodies or not."""
    return JSONResponse(request.app.state.sandbox.counter(TOKENS).counts())  # no jsonable_encoder pass


@api.control.put("/pushes/keep")
async def keep_pushes(request: Request):
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("bodies"), bool):
        return JSONResponse({"error": 'expected {"bodies": true|false}'}, status_code=400)
    request.app.state.sandbox.settings[KEEP_BODIES] = body["bodies"]
    return {"bodies": body["bodies"]}


@api.control.delete("/pushes")
def clear_pushes(request: Request) -> dict:
    request.app.state.sandbox.collection(PUSHES).clear()
    request.app.state.sandbox.counter(TOKENS).clear()
    return {"ok": True}
