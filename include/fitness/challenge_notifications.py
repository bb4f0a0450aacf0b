"""Challenge start and end notifications: the participants of every challenge that starts
or ends on a day (the caller's "tomorrow") get one push each, "starting" or "ending".

Rules:
- `day` is the local date the challenge starts (`start_date`) or ends (`end_date`) on; a
  challenge of that single day gives both kinds;
- a recipient is a participant (`fitness.challenge_participants`) who is an active user
  (`is_active`), has not opted out of pushes (`push_opt_out`) and has an active device;
- exactly once per user, challenge and kind: one push per active device (see
  include/fitness/devices.py), dedupe key `challenge:<challenge_id>:<kind>:<user_id>:<device_id>`;
- FCM `data`: {"type": "challenge_<kind>", "challenge_id", "day"}, strings.

Set-based: participants in key ranges of user ids, one statement per range, queued in that
range's transaction and committed range by range.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import psycopg

from include.common.outbox import enqueue, existing_keys
from include.common.time_budget import TimeBudget, run_batches
from include.fitness.daily_summaries import key_ranges
from include.fitness.devices import device_key, fan_out
from include.fitness.repository import challenge_notifications as repository

TEMPLATES = {"starting": "fitness/challenge_starting", "ending": "fitness/challenge_ending"}


def event_key(challenge_id: int, kind: str, user_id: int) -> str:
    if kind not in TEMPLATES:
        raise ValueError(f"unknown challenge notice kind {kind!r}; one of {sorted(TEMPLATES)}")
    return f"challenge:{challenge_id}:{kind}:{user_id}"


def _context(row: dict, day: date) -> dict:
    return {
        "name": row["name"].strip(), "title": row["title"], "kind": row["kind"], "day": day.isoformat(),
        "start_date": row["start_date"].isoformat(), "end_date": row["end_date"].isoformat(),
        "data": {"type": f"challenge_{row['kind']}", "challenge_id": row["challenge_id"], "day": day.isoformat()},
    }


def queue_challenge_notifications(conn: psycopg.Connection, day: date, *, batch_size: int = 5000,
                                  budget: TimeBudget | None = None) -> dict:
    """Queue the notices of the challenges starting or ending on `day`, committing after
    each batch. Returns {"day", "notices" (participant x kind), "starting", "ending",
    "devices", "queued", "skipped_already_queued", "batches"}."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    bounds = repository.participant_id_bounds(conn, day)
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    totals = {"day": day.isoformat(), "notices": 0, "starting": 0, "ending": 0, "devices": 0, "queued": 0,
              "skipped_already_queued": 0, "batches": 0}
    return run_batches(_batches(conn, ranges, day), budget, result=totals, total=len(ranges))


def _batches(conn: psycopg.Connection, ranges: list[tuple[int, int]], day: date) -> Iterator[dict]:
    for lo, hi in ranges:
        rows = repository.notices(conn, lo, hi, day)
        events = [(r, event_key(r["challenge_id"], r["kind"], r["user_id"])) for r in rows]
        keys = [device_key(key, d["id"]) for r, key in events for d in r["devices"]]
        done = existing_keys(conn, keys)
        messages = [m for r, key in events for m in fan_out(key, r["devices"], TEMPLATES[r["kind"]],
                                                            _context(r, day))
                    if m.dedupe_key not in done]
        queued = enqueue(conn, messages)
        conn.commit()
        yield {"notices": len(rows), "starting": sum(r["kind"] == "starting" for r in rows),
               "ending": sum(r["kind"] == "ending" for r in rows), "devices": len(keys), "queued": queued,
               "skipped_already_queued": len(keys) - queued, "batches": 1}
