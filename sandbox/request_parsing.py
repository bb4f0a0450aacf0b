"""Small request readers shared by the API modules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request


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
