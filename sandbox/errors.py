"""Error bodies in each provider's own format, so clients parse sandbox errors as real ones."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

# google.rpc.Code names for the HTTP statuses the sandbox answers.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}
OPENAI_TYPE = {400: "invalid_request_error", 401: "invalid_request_error", 404:
               "invalid_request_error", 429: "requests", 500: "server_error", 503: "server_error"}
OAUTH_ERROR = {400: "invalid_request", 401: "invalid_client", 429: "slow_down",
               503: "temporarily_unavailable"}


def google_error(code: int, message: str, details: list[dict] | None = None) -> dict:
    """Google APIs: {"error": {"code", "message", "status", "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message,
                             "status": GOOGLE_STATUS.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


def openai_error(code: int, message: str, param: str | None = None,
                 error_code: str | None = None) -> dict:
    """OpenAI-compatible: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": OPENAI_TYPE.get(code, "api_error"),
                      "param": param, "code": error_code}}


def oauth_error(code: int, message: str, error: str | None = None) -> dict:
    """OAuth 2 token endpoints (RFC 6749 5.2): {"error", "error_description"}."""
    return {"error": error or OAUTH_ERROR.get(code, "server_error"), "error_description": message}


def error_response(status: int, body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)
