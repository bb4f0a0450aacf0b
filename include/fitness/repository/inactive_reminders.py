"""SQL of the inactive-user reminders: for a key range of users, pick the inactive ones not
reminded within 6 days either side of the run's day and log their reminder, in one statement."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from include.fitness.repository.daily_summaries import ELIGIBLE
from include.fitness.repository.devices import ACTIVE_DEVICES

# Serialises reminder batches of concurrent runs (a backfill beside the scheduled run): the
# "none within 6 days" check and the insert of the log row must not interleave.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('fitness.reminder_log'))"

# The log row is inserted by the same statement that checks the window, in the caller's
# transaction with the outbox rows: a reminder is logged if and only if it is queued.
_PICK_AND_LOG = f"""
    WITH candidates AS (
        SELECT u.id AS user_id, u.name,
               (SELECT max(w.started_at) FROM fitness.workouts w
                 WHERE w.user_id = u.id AND w.started_at < %(until)s) AS last_workout_at,
               {ACTIVE_DEVICES} AS devices
          FROM fitness.users u
         WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {ELIGIBLE} AND u.created_at < %(until)s
           AND EXISTS (SELECT 1 FROM fitness.devices d WHERE d.user_id = u.id AND d.is_active)
           AND NOT EXISTS (SELECT 1 FROM fitness.workouts w
                            WHERE w.user_id = u.id AND w.started_at >= %(since)s AND w.started_at < %(until)s)
           AND NOT EXISTS (SELECT 1 FROM fitness.reminder_log r
                            WHERE r.user_id = u.id AND r.sent_for BETWEEN %(window_lo)s AND %(window_hi)s)
    ),
    logged AS (
        INSERT INTO fitness.reminder_log (user_id, sent_for)
        SELECT user_id, %(day)s FROM candidates
        ON CONFLICT DO NOTHING
        RETURNING user_id
    )
    SELECT c.user_id, c.name, c.last_workout_at, c.devices,
           floor(date_part('epoch', %(until)s - c.last_workout_at) / 86400)::int AS days_inactive
      FROM candidates c JOIN logged l ON l.user_id = c.user_id
     ORDER BY c.user_id
"""


def user_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    row = conn.execute(f"SELECT min(u.id), max(u.id) FROM fitness.users u WHERE {ELIGIBLE}").fetchone()
    return None if row[0] is None else (row[0], row[1])


def pick_and_log(conn: psycopg.Connection, lo: int, hi: int, day: date, since: datetime, until: datetime,
                 spacing_days: int) -> list[dict]:
    """Log a reminder on `day` for each eligible user in [lo, hi) with no workout in [since,
    until) and no reminder logged within `spacing_days - 1` days either side of `day`; returns
    them: [{"user_id", "name", "last_workout_at" (None: never), "days_inactive", "devices"}]."""
    conn.execute(_LOCK)
    margin = timedelta(days=spacing_days - 1)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_PICK_AND_LOG, {
            "lo": lo, "hi": hi, "day": day, "since": since, "until": until,
            "window_lo": day - margin, "window_hi": day + margin,
        }).fetchall()
