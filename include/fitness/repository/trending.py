"""SQL of the trending workouts and exercises: one statement per table counts the uses of
the 7-day window and of the 7 days before, ranks the top N and merges them into that day's
rows (writing only rows that change, deleting those that dropped out)."""

from __future__ import annotations

from datetime import date, datetime

import psycopg

LOCK_KEY = "fitness_trending_workouts"

# `counted` (key, uses, previous) -> the day's top N, merged. Ranked by uses in the window,
# then by growth (NULL, a first appearance, last), then by the key: the same ranking every run.
_MERGE = """
    ranked AS (
        SELECT key, uses::integer AS uses, previous::integer AS previous,
               CASE WHEN previous > 0 THEN (uses - previous)::float8 / previous END AS growth,
               (row_number() OVER (ORDER BY uses DESC,
                                   CASE WHEN previous > 0 THEN (uses - previous)::float8 / previous END
                                        DESC NULLS LAST,
                                   key))::integer AS rank
          FROM counted
         WHERE uses > 0
    ),
    top AS (SELECT * FROM ranked WHERE rank <= %(top_n)s),
    upserted AS (
        INSERT INTO {table} AS t (day, {key}, uses, previous, growth, rank)
        SELECT %(day)s, key, uses, previous, growth, rank FROM top
        ON CONFLICT (day, {key}) DO UPDATE
           SET uses = excluded.uses, previous = excluded.previous, growth = excluded.growth, rank = excluded.rank
         WHERE (t.uses, t.previous, t.growth, t.rank)
               IS DISTINCT FROM (excluded.uses, excluded.previous, excluded.growth, excluded.rank)
        RETURNING 1
    ),
    deleted AS (
        DELETE FROM {table} t
         WHERE t.day = %(day)s AND NOT EXISTS (SELECT 1 FROM top WHERE top.key = t.{key})
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ranked), (SELECT count(*) FROM top),
           (SELECT count(*) FROM upserted), (SELECT count(*) FROM deleted)
"""

_WORKOUTS = """
    SELECT workout_type AS key,
           count(*) FILTER (WHERE started_at >= %(start)s) AS uses,
           count(*) FILTER (WHERE started_at < %(start)s) AS previous
      FROM fitness.workouts
     WHERE started_at >= %(previous_start)s AND started_at < %(end)s
     GROUP BY workout_type
"""

_EXERCISES = """
    SELECT we.exercise_id AS key,
           count(*) FILTER (WHERE w.started_at >= %(start)s) AS uses,
           count(*) FILTER (WHERE w.started_at < %(start)s) AS previous
      FROM fitness.workouts w
      JOIN fitness.workout_exercises we ON we.workout_id = w.id
     WHERE w.started_at >= %(previous_start)s AND w.started_at < %(end)s
     GROUP BY we.exercise_id
"""


def lock(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def replace_day(conn: psycopg.Connection, what: str, day: date, *, previous_start: datetime, start: datetime,
                end: datetime, top_n: int) -> dict[str, int]:
    """Merge the top `top_n` workout types (`what="workouts"`) or exercises (`"exercises"`)
    of [start, end) into `day`'s rows, with their uses in [previous_start, start). Returns
    {"scored", "ranked", "written", "deleted"}."""
    counted, table, key = {"workouts": (_WORKOUTS, "fitness.trending_workouts", "workout_type"),
                           "exercises": (_EXERCISES, "fitness.trending_exercises", "exercise_id")}[what]
    sql = f"WITH counted AS ({counted}), " + _MERGE.format(table=table, key=key)  # noqa: S608 - fixed names
    row = conn.execute(sql, {"day": day, "previous_start": previous_start, "start": start, "end": end,
                             "top_n": top_n}).fetchone()
    return {"scored": int(row[0]), "ranked": int(row[1]), "written": int(row[2]), "deleted": int(row[3])}
