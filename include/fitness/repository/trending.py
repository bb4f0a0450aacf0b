"""SQL of the trending workouts and exercises: one statement per table counts the uses of
the 7-day window and of the 7 days before (from the hourly rollups of migration 0010 plus
the partial hours at the windows' edges), ranks the top N and merges them into that day's
rows (writing only rows that change, deleting those that dropped out)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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

# The counts read the hourly rollups (migration 0010: workouts per type and UTC hour,
# distinct workouts per exercise and hour, kept by triggers) for the whole hours of each
# window, and the workouts themselves only for the parts of an hour at the windows' edges
# (`{raw}`: ranges of `started_at` as literal parameters, so the planner sees how few rows
# they hold; `false` when the local midnights fall on whole hours). A whole hour
# belongs to the window it starts in: those of the previous week end at or before `start`,
# the window's begin at or after it.
_WORKOUTS = """
    SELECT key, coalesce(sum(uses), 0) AS uses, coalesce(sum(previous), 0) AS previous
      FROM (SELECT workout_type AS key,
                   sum(workouts) FILTER (WHERE hour >= %(start)s) AS uses,
                   sum(workouts) FILTER (WHERE hour < %(start)s) AS previous
              FROM fitness.workout_type_hourly
             WHERE (hour >= %(prev_lo)s AND hour < %(prev_hi)s) OR (hour >= %(cur_lo)s AND hour < %(cur_hi)s)
             GROUP BY 1
            UNION ALL
            SELECT w.workout_type,
                   count(*) FILTER (WHERE w.started_at >= %(start)s),
                   count(*) FILTER (WHERE w.started_at < %(start)s)
              FROM fitness.workouts w
             WHERE {raw}
             GROUP BY 1) x
     GROUP BY key
"""

_EXERCISES = """
    SELECT key, coalesce(sum(uses), 0) AS uses, coalesce(sum(previous), 0) AS previous
      FROM (SELECT exercise_id AS key,
                   sum(workouts) FILTER (WHERE hour >= %(start)s) AS uses,
                   sum(workouts) FILTER (WHERE hour < %(start)s) AS previous
              FROM fitness.exercise_hourly
             WHERE (hour >= %(prev_lo)s AND hour < %(prev_hi)s) OR (hour >= %(cur_lo)s AND hour < %(cur_hi)s)
             GROUP BY 1
            UNION ALL
            SELECT we.exercise_id,
                   count(DISTINCT w.id) FILTER (WHERE w.started_at >= %(start)s),
                   count(DISTINCT w.id) FILTER (WHERE w.started_at < %(start)s)
              FROM fitness.workouts w
              JOIN fitness.workout_exercises we ON we.workout_id = w.id
             WHERE {raw}
             GROUP BY 1) x
     GROUP BY key
"""


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + timedelta(hours=1)


def hour_split(lo: datetime, hi: datetime) -> tuple[tuple[datetime, datetime], list[tuple[datetime, datetime]]]:
    """[lo, hi) as its whole UTC hours [h_lo, h_hi) (empty: h_lo == h_hi) and the
    rest, at most two ranges shorter than an hour, to count from the workouts."""
    h_lo, h_hi = _ceil_hour(lo), _floor_hour(hi)
    if h_lo >= h_hi:
        return (lo, lo), [(lo, hi)]
    return (h_lo, h_hi), [(a, b) for a, b in ((lo, h_lo), (h_hi, hi)) if a < b]


def lock(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def replace_day(conn: psycopg.Connection, what: str, day: date, *, previous_start: datetime, start: datetime,
                end: datetime, top_n: int) -> dict[str, int]:
    """Merge the top `top_n` workout types (`what="workouts"`) or exercises (`"exercises"`)
    of [start, end) into `day`'s rows, with their uses in [previous_start, start). Returns
    {"scored", "ranked", "written", "deleted"}."""
    counted, table, key = {"workouts": (_WORKOUTS, "fitness.trending_workouts", "workout_type"),
                           "exercises": (_EXERCISES, "fitness.trending_exercises", "exercise_id")}[what]
    (prev_lo, prev_hi), prev_raw = hour_split(previous_start, start)
    (cur_lo, cur_hi), cur_raw = hour_split(start, end)
    params = {"day": day, "start": start, "prev_lo": prev_lo, "prev_hi": prev_hi, "cur_lo": cur_lo,
              "cur_hi": cur_hi, "top_n": top_n}
    ranges = []
    for n, (lo, hi) in enumerate(prev_raw + cur_raw):
        ranges.append(f"(w.started_at >= %(raw{n}_lo)s AND w.started_at < %(raw{n}_hi)s)")
        params.update({f"raw{n}_lo": lo, f"raw{n}_hi": hi})
    counted = counted.format(raw=" OR ".join(ranges) or "false")
    sql = f"WITH counted AS ({counted}), " + _MERGE.format(table=table, key=key)  # noqa: S608 - fixed names
    # A few thousand rows: JIT compiling the plan would cost more than running it.
    conn.execute("SELECT set_config('jit', 'off', true)")
    row = conn.execute(sql, params).fetchone()
    return {"scored": int(row[0]), "ranked": int(row[1]), "written": int(row[2]), "deleted": int(row[3])}
