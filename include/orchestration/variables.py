"""Tunables from Airflow variables, read inside tasks (never at parse time): THE way to read one.

`get_int(name, default, minimum=, maximum=)`, `get_float`, `get_bool`, `get_str`, `get_list`
and `get_json` validate as they read: a value of the wrong type or outside its range fails
the task at once with `AirflowFailException` (a configuration error cannot heal by retrying),
naming the variable and what is allowed. Services re-check their own arguments with
ValueError (they are called from tests and benchmarks too); the task reads and validates here.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def _raw(name: str) -> Any:
    from airflow.sdk import Variable

    return Variable.get(name, default=None)


def _bad(name: str, raw: Any, wanted: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"variable {name!r} must be {wanted}, got {raw!r}")


def _decoded(name: str, raw: Any, wanted: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise _bad(name, raw, wanted) from None


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def get_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    wanted = "an integer" + _range(minimum, maximum)
    value = _decoded(name, raw, wanted)
    if type(value) is not int or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _bad(name, raw, wanted)
    return value


def get_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    wanted = "a number" + _range(minimum, maximum)
    value = _decoded(name, raw, wanted)
    if type(value) not in (int, float) or (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum):
        raise _bad(name, raw, wanted)
    return float(value)


def get_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    value = _decoded(name, raw.lower() if isinstance(raw, str) else raw, "true or false")
    if type(value) is not bool:
        raise _bad(name, raw, "true or false")
    return value


def get_str(name: str, default: str, *, choices: tuple[str, ...] | None = None) -> str:
    raw = _raw(name)
    if raw is None:
        return default
    value = str(raw).strip()
    if not value or (choices is not None and value not in choices):
        raise _bad(name, raw, f"one of {', '.join(choices)}" if choices else "a non-empty string")
    return value


def get_list(name: str, default: list, *, item: type = str, min_items: int = 0) -> list:
    """A JSON list whose items are all of type `item`."""
    raw = _raw(name)
    if raw is None:
        return list(default)
    wanted = f"a JSON list of {item.__name__} (at least {min_items})"
    value = _decoded(name, raw, wanted)
    if not isinstance(value, list) or len(value) < min_items or not all(type(v) is item for v in value):
        raise _bad(name, raw, wanted)
    return value


def get_json(name: str, default: Any, *, kind: type = dict) -> Any:
    """A JSON value of type `kind` (object by default); its fields are the caller's to check."""
    raw = _raw(name)
    if raw is None:
        return default
    value = _decoded(name, raw, f"a JSON {kind.__name__}")
    if not isinstance(value, kind):
        raise _bad(name, raw, f"a JSON {kind.__name__}")
    return value


def alert_recipients(domain: str) -> list[str]:
    """The comma-separated `<domain>_alert_emails` (none when unset or empty)."""
    raw = _raw(f"{domain}_alert_emails") or ""
    return [addr.strip() for addr in str(raw).split(",") if addr.strip()]
