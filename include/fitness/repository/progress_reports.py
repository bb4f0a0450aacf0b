"""SQL of the weekly progress report: who gets one, and for a whole key range of recipients in
one statement, their workouts per local day over the chart's 8 weeks and their best exercise
of the week."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

_ELIGIBLE = "u.is_active AND NOT u.email_opt_out"


def recipient_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    """(lowest, highest) id of the users who may get a report, or None when nobody may."""
    row = conn.execute(f"SELECT min(u.id), max(u.id) FROM fitness.users u WHERE {_ELIGIBLE}").fetchone()  # noqa: S608
    return None if row[0] is None else (int(row[0]), int(row[1]))


_REPORTS = f"""
    WITH recipients AS (
        SELECT u.id, u.email, u.name
          FROM fitness.users u
         WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {_ELIGIBLE}
           AND EXISTS (SELECT 1 FROM fitness.workouts w
                        WHERE w.user_id = u.id AND w.started_at >= %(week_start)s AND w.started_at < %(end)s)
    ),
    -- day_index 1..n: the local day [bounds[i], bounds[i+1]) a workout started in
    daily AS (
        SELECT w.user_id, width_bucket(w.started_at, %(bounds)s::timestamptz[]) AS day_index,
               count(*) AS workouts, sum(w.duration_minutes) AS minutes, sum(w.calories) AS calories
          FROM fitness.workouts w JOIN recipients r ON r.id = w.user_id
         WHERE w.started_at >= %(first)s AND w.started_at < %(end)s
         GROUP BY 1, 2
    ),
    days AS (
        SELECT user_id, json_agg(json_build_array(day_index, workouts, minutes, calories) ORDER BY day_index) AS days
          FROM daily GROUP BY user_id
    ),
    -- the week's best exercise: most sets, then most reps (sets x reps), then name
    best AS (
        SELECT DISTINCT ON (w.user_id) w.user_id, e.name, sum(we.sets) AS sets, sum(we.sets * we.reps) AS reps,
               max(we.weight_kg)::float8 AS max_weight_kg
          FROM fitness.workouts w
          JOIN recipients r ON r.id = w.user_id
          JOIN fitness.workout_exercises we ON we.workout_id = w.id
          JOIN fitness.exercises e ON e.id = we.exercise_id
         WHERE w.started_at >= %(week_start)s AND w.started_at < %(end)s
         GROUP BY w.user_id, e.id, e.name
         ORDER BY w.user_id, sum(we.sets) DESC, sum(we.sets * we.reps) DESC, e.name
    )
    SELECT r.id AS user_id, r.email, r.name, d.days,
           b.name AS best_exercise, b.sets AS best_sets, b.reps AS best_reps, b.max_weight_kg AS best_max_weight_kg
      FROM recipients r
      JOIN days d ON d.user_id = r.id
      LEFT JOIN best b ON b.user_id = r.id
     ORDER BY r.id
"""


def report_rows(conn: psycopg.Connection, lo: int, hi: int, *, day_bounds: list[datetime],
                week_start: datetime) -> list[dict]:
    """One row per eligible user with lo <= id < hi who worked out in [week_start,
    day_bounds[-1]): {"user_id", "email", "name", "days": [[day_index, workouts, minutes,
    calories], ...] (day_index i: [day_bounds[i-1], day_bounds[i]), only days with
    workouts), "best_exercise", "best_sets", "best_reps", "best_max_weight_kg"}."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_REPORTS, {"lo": lo, "hi": hi, "bounds": day_bounds, "first": day_bounds[0],
                               "end": day_bounds[-1], "week_start": week_start})
        return cur.fetchall()
