"""SQL of the health check (include/platform/health.py): `platform.health_readings` and
`platform.health_state`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import psycopg
from psycopg.rows import dict_row


class Reading(Protocol):
    """What is stored of a reading: the fields of include/platform/health.py `Reading`,
    spelled out here so that the repository does not import its service."""

    check_name: str
    target: str
    ok: bool
    value: float | None
    unit: str
    detail: str


def upsert_readings(conn: psycopg.Connection, checked_at: datetime, readings: Sequence[Reading]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO platform.health_readings (checked_at, check_name, target, ok, value, unit, detail)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (checked_at, check_name, target) DO UPDATE
               SET ok = EXCLUDED.ok, value = EXCLUDED.value, unit = EXCLUDED.unit,
                   detail = EXCLUDED.detail, recorded_at = now()
            """,
            [(checked_at, r.check_name, r.target, r.ok, r.value, r.unit, r.detail) for r in readings],
        )


def apply_transitions(conn: psycopg.Connection, checked_at: datetime) -> list[dict]:
    """Move `health_state` to the readings of `checked_at`, in one statement, and return the
    checks that changed. A first reading that is bad counts as a change (to bad); a first
    good one does not. Readings older than the state's are ignored (backfills)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            WITH changed AS (
                SELECT r.check_name, r.target, r.ok, r.detail, r.value, r.unit
                  FROM platform.health_readings r
                  LEFT JOIN platform.health_state s USING (check_name, target)
                 WHERE r.checked_at = %(at)s
                   AND (s.check_name IS NULL OR (s.ok IS DISTINCT FROM r.ok AND s.since < %(at)s))
            ), upserted AS (
                INSERT INTO platform.health_state (check_name, target, ok, since, detail)
                SELECT check_name, target, ok, %(at)s, detail FROM changed
                ON CONFLICT (check_name, target) DO UPDATE
                   SET ok = EXCLUDED.ok, since = EXCLUDED.since, detail = EXCLUDED.detail
                RETURNING check_name, target, ok, since, (xmax <> 0) AS existed
            )
            SELECT u.check_name, u.target, u.ok, u.since, c.detail, c.value, c.unit
              FROM upserted u JOIN changed c USING (check_name, target)
             WHERE u.existed OR NOT u.ok
             ORDER BY u.check_name, u.target
            """,
            {"at": checked_at},
        )
        return cur.fetchall()
