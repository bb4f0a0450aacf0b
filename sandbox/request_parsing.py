"""Small request readers shared by the API modules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import QueryParams


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or None when it is absent or not JSON (callers answer 400)."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


async def google_get_params(request: Request) -> QueryParams | None:
    """The parameters of a call to a Google GET method, or None for a POST that is not one.

    Google's front ends also take a GET as `POST` with `X-HTTP-Method-Override: GET` and the
    query string as a form body, and google-api-python-client sends exactly that once a URL
    passes 2048 characters (googleapiclient/http.py, MAX_URI_LENGTH): a YouTube Analytics
    filter of 500 video ids always does."""
    if request.method == "GET":
        return request.query_params
    if request.headers.get("x-http-method-override", "").upper() != "GET":
        return None
    body = (await request.body()).decode("utf-8", errors="replace")
    return QueryParams("&".join(part for part in (request.url.query, body) if part))
