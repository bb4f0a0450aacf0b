"""Deterministic corruption of list records for the `malformed_fraction` switch.

A record is picked by a hash of its own content, not its position, so the same record is
bad on every page and every retry, as a genuinely bad upstream record would be."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request

NOT_A_NUMBER = "n/a"


def _digest(salt: str, record: Any) -> int:
    text = salt + json.dumps(record, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def corrupt(record: Any, digest: int, required: Sequence[str] = ()) -> Any:
    """A copy of `record` with a required field removed or a number made non-numeric."""
    if isinstance(record, dict):
        numeric = [k for k, v in record.items() if _is_number(v)]
        if numeric and digest % 2:
            return {**record, numeric[digest // 2 % len(numeric)]: NOT_A_NUMBER}
        present = [k for k in required if k in record] or list(record)[:1]
        return {k: v for k, v in record.items() if k != present[0]}
    if isinstance(record, list):  # report rows such as YouTube Analytics' `rows`
        numeric = [i for i, v in enumerate(record) if _is_number(v)]
        if numeric and digest % 2:
            row = list(record)
            row[numeric[digest // 2 % len(numeric)]] = NOT_A_NUMBER
            return row
        return record[:-1]
    raise TypeError(f"cannot corrupt a {type(record).__name__} record")


def corrupt_records(records: Sequence[Any], fraction: float, salt: str,
                    required: Sequence[str] = ()) -> tuple[list[Any], int]:
    """Corrupt about `fraction` of `records`; return them and how many were corrupted."""
    if fraction <= 0:
        return list(records), 0
    out, count = [], 0
    for record in records:
        digest = _digest(salt, record)
        if digest / 2**64 < fraction:
            out.append(corrupt(record, digest, required))
            count += 1
        else:
            out.append(record)
    return out, count


def malformed_records(request: Request, records: Sequence[Any],
                      required: Sequence[str] = ()) -> list[Any]:
    """Apply the calling API's `malformed_fraction` to a list answer (used by API handlers).

    The count is left on the request so the request log shows how many records were bad."""
    fraction = getattr(request.state, "malformed_fraction", 0.0)
    api = getattr(request.state, "sandbox_api", "")
    out, count = corrupt_records(records, fraction, api, required)
    request.state.malformed_count = getattr(request.state, "malformed_count", 0) + count
    return out


def malformed_with(request: Request, records: Sequence[Any], corruptions: Sequence[Any]) -> list[Any]:
    """Like `malformed_records`, for nested records: each picked record (by a hash of its
    content) gets a deep copy corrupted by one of `corruptions` (functions mutating it)."""
    fraction = getattr(request.state, "malformed_fraction", 0.0)
    if fraction <= 0:
        return list(records)
    api = getattr(request.state, "sandbox_api", "")
    out, count = [], 0
    for record in records:
        digest = _digest(api, record)
        if digest / 2**64 < fraction:
            bad = copy.deepcopy(record)
            corruptions[digest % len(corruptions)](bad)
            out.append(bad)
            count += 1
        else:
            out.append(record)
    request.state.malformed_count = getattr(request.state, "malformed_count", 0) + count
    return out
