"""The daily activity summary push: every user with a workout on a day gets, on each of
their active devices, that day's workouts, minutes and calories.

Rules (taken at the day given, never at `now()`):
- the day is a whole local calendar day [start, end) (the caller passes `bounds(day)`: 23 or
  25 hours on DST days); a workout belongs to the day it started in;
- a recipient is an active user (`is_active`) who has not opted out of pushes
  (`push_opt_out`), has at least one active device and at least one workout that day;
- one push per active device (include/fitness/devices.py: why per device), dedupe key
  `daily:<user_id>:<day>:<device_id>`, so a rerun or backfill of the day queues nothing new;
- FCM `data`: {"type": "daily_summary", "day", "workouts", "minutes", "calories"}, strings.

Set-based: users in key ranges of ids, one statement per range, queued in that range's
transaction and committed range by range.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import psycopg

from include.common.outbox import enqueue, existing_keys
from include.common.time_budget import TimeBudget, run_batches
from include.fitness.devices import device_key, fan_out
from include.fitness.repository import daily_summaries as repository

TEMPLATE = "fitness/daily_summary"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


def event_key(user_id: int, day: date) -> str:
    return f"daily:{user_id}:{day.isoformat()}"


def _context(row: dict, day: date) -> dict:
    return {
        "name": row["name"].strip(), "day": day.isoformat(), "weekday": f"{day:%A}",
        "workouts": row["workouts"], "minutes": row["minutes"], "calories": row["calories"],
        "data": {"type": "daily_summary", "day": day.isoformat(), "workouts": row["workouts"],
                 "minutes": row["minutes"], "calories": row["calories"]},
    }


def queue_daily_summaries(conn: psycopg.Connection, day: date, start: datetime, end: datetime, *,
                          batch_size: int = 5000, budget: TimeBudget | None = None) -> dict:
    """Queue the summaries of `day` ([start, end), its local midnights), committing after
    each batch of users. Returns {"day", "users", "devices", "queued", "skipped_already_queued",
    "batches"}: users with a summary, their devices (pushes due), the pushes new in the
    outbox, those queued by an earlier run. A budget that runs out raises
    SoftTimeLimitExceeded after the finished batches were committed (a rerun continues)."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError(f"not an aware, non-empty day: [{start!r}, {end!r})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    bounds = repository.user_id_bounds(conn)
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    totals = {"day": day.isoformat(), "users": 0, "devices": 0, "queued": 0, "skipped_already_queued": 0,
              "batches": 0}
    return run_batches(_batches(conn, ranges, day, start, end), budget, result=totals, total=len(ranges))


def _batches(conn: psycopg.Connection, ranges: list[tuple[int, int]], day: date, start: datetime,
             end: datetime) -> Iterator[dict]:
    for lo, hi in ranges:
        rows = repository.summaries(conn, lo, hi, start, end)
        keys = [device_key(event_key(r["user_id"], day), d["id"]) for r in rows for d in r["devices"]]
        done = existing_keys(conn, keys)  # a rerun renders only what is not queued yet
        messages = [m for r in rows for m in fan_out(event_key(r["user_id"], day), r["devices"], TEMPLATE,
                                                     _context(r, day))
                    if m.dedupe_key not in done]
        queued = enqueue(conn, messages)
        conn.commit()
        yield {"users": len(rows), "devices": len(keys), "queued": queued,
               "skipped_already_queued": len(keys) - queued, "batches": 1}
