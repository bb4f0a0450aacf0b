"""Inactive-user reminders: users with no workout in the 7 days before the run get a push,
never two within 7 days, across reruns, retries and backfills.

Rules (taken at the run's day and time, never at `now()`):
- `day` is the run's local day D and `until` the run's instant (its data interval's end): a
  user is inactive with no workout started in [midnight of D-7, until) — a workout logged
  this morning, before the run, counts as activity;
- a recipient is an active user (`is_active`) who existed at `until` (`created_at`), has not
  opted out of pushes (`push_opt_out`) and has an active device (no device: no reminder, and
  none is logged, so they get one once they have a device);
- at most one reminder in any 7 days: a user gets one on D only if `fitness.reminder_log`
  has no entry within 6 days either side of D (either side, because a backfill may run D-3
  after D), and (user, D) is logged by the same statement, in the transaction that queues
  the pushes: logged if and only if queued. An advisory lock serialises concurrent runs;
- one push per active device, dedupe key `reminder:<user_id>:<day>:<device_id>`; the text
  differs for users who never worked out (`never`) and the others (`days_inactive`: whole
  days from their last workout to the run);
- FCM `data`: {"type": "inactivity_reminder", "never_worked_out": "true"|"false",
  "days_inactive": "<n>" (absent when never)}.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import psycopg

from include.common.outbox import enqueue
from include.common.time_budget import TimeBudget, run_batches
from include.fitness.daily_summaries import key_ranges
from include.fitness.devices import fan_out
from include.fitness.repository import inactive_reminders as repository

TEMPLATE = "fitness/inactive_reminder"
INACTIVE_DAYS = 7
SPACING_DAYS = 7  # never two reminders to a user within this many days


def event_key(user_id: int, day: date) -> str:
    return f"reminder:{user_id}:{day.isoformat()}"


def _context(row: dict) -> dict:
    never = row["last_workout_at"] is None
    data = {"type": "inactivity_reminder", "never_worked_out": "true" if never else "false"}
    if not never:
        data["days_inactive"] = row["days_inactive"]
    return {"name": row["name"].strip(), "never": never, "days_inactive": row["days_inactive"], "data": data}


def queue_inactive_reminders(conn: psycopg.Connection, day: date, since: datetime, until: datetime, *,
                             batch_size: int = 5000, budget: TimeBudget | None = None) -> dict:
    """Log and queue the reminders of `day` (inactive: no workout in [since, until); the
    caller passes since = midnight of day - 7), committing after each batch. Returns
    {"day", "reminded", "never_worked_out", "devices", "queued", "batches"}; a rerun finds
    the users already logged and reminds nobody twice."""
    if since.tzinfo is None or until.tzinfo is None or not since < until:
        raise ValueError(f"not an aware, non-empty window: [{since!r}, {until!r})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    bounds = repository.user_id_bounds(conn)
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    totals = {"day": day.isoformat(), "reminded": 0, "never_worked_out": 0, "devices": 0, "queued": 0,
              "batches": 0}
    return run_batches(_batches(conn, ranges, day, since, until), budget, result=totals, total=len(ranges))


def _batches(conn: psycopg.Connection, ranges: list[tuple[int, int]], day: date, since: datetime,
             until: datetime) -> Iterator[dict]:
    for lo, hi in ranges:
        rows = repository.pick_and_log(conn, lo, hi, day, since, until, SPACING_DAYS)
        messages = [m for r in rows for m in fan_out(event_key(r["user_id"], day), r["devices"], TEMPLATE,
                                                     _context(r))]
        queued = enqueue(conn, messages)
        conn.commit()
        yield {"reminded": len(rows), "never_worked_out": sum(r["last_workout_at"] is None for r in rows),
               "devices": len(messages), "queued": queued, "batches": 1}
