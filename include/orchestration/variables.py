"""Tunables from Airflow variables, read inside tasks (never at parse time)."""

from __future__ import annotations

import json
from typing import Any


def get(name: str, default: Any) -> Any:
    """A variable's value (JSON-decoded when `default` is not a string), else `default`."""
    from airflow.sdk import Variable

    raw = Variable.get(name, default=None)
    if raw is None:
        return default
    if isinstance(default, str):
        return raw
    return json.loads(raw) if isinstance(raw, str) else raw


def alert_recipients(domain: str) -> list[str]:
    raw = get(f"{domain}_alert_emails", "")
    return [addr.strip() for addr in raw.split(",") if addr.strip()]
