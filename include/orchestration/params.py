"""Typed `Param`s of manual DAGs, bounded by the column they end up in.

A value the database would reject ("bigint out of range") must be rejected by the trigger
form, the CLI and the REST API before a run exists: every integer Param has a `maximum` from
its column's type. Use `id_param` for row ids; pass `maximum=` for other integers.
"""

from __future__ import annotations

from typing import Any

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint (our id columns)
INTEGER_MAX = 2**31 - 1  # PostgreSQL integer


def id_param(description: str, *, column: str = "bigint") -> Any:
    """A required positive id of a `bigint` (default) or `integer` column."""
    from airflow.sdk import Param

    maximum = {"bigint": BIGINT_MAX, "integer": INTEGER_MAX}[column]
    return Param(type="integer", minimum=1, maximum=maximum, description=description)
