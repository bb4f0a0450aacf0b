"""SQL of the daily activity summaries: for a key range of users, each eligible user's
workouts, minutes and calories of one day and their active devices, in one statement."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from include.fitness.repository.devices import ACTIVE_DEVICES

# Who may get a push at all: an active account that has not opted out of pushes.
ELIGIBLE = "u.is_active AND NOT u.push_opt_out"


def user_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    """(lowest, highest) id of the users who may get a push, or None."""
    row = conn.execute(f"SELECT min(u.id), max(u.id) FROM fitness.users u WHERE {ELIGIBLE}").fetchone()
    return None if row[0] is None else (row[0], row[1])


_SUMMARIES = f"""
    SELECT u.id AS user_id, u.name, a.workouts, a.minutes, a.calories, {ACTIVE_DEVICES} AS devices
      FROM fitness.users u
      JOIN (SELECT w.user_id, count(*) AS workouts, sum(w.duration_minutes) AS minutes,
                   sum(w.calories) AS calories
              FROM fitness.workouts w
             WHERE w.user_id >= %(lo)s AND w.user_id < %(hi)s
               AND w.started_at >= %(start)s AND w.started_at < %(end)s
             GROUP BY w.user_id) a ON a.user_id = u.id
     WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {ELIGIBLE}
       AND EXISTS (SELECT 1 FROM fitness.devices d WHERE d.user_id = u.id AND d.is_active)
     ORDER BY u.id
"""


def summaries(conn: psycopg.Connection, lo: int, hi: int, start: datetime, end: datetime) -> list[dict]:
    """[{"user_id", "name", "workouts", "minutes", "calories", "devices": [{"id", "token"}]}]
    of the eligible users in [lo, hi) with a workout started in [start, end)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_SUMMARIES, {"lo": lo, "hi": hi, "start": start, "end": end}).fetchall()
