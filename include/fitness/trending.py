"""Trending workouts (by workout type) and exercises of the 7 days ending with a day.

For day D the window is the local days D-6..D, [midnight(D-6), midnight(D+1)); `previous`
counts the 7 days before it, D-13..D-7. A workout counts for the day it started in; an
exercise counts once per workout it is in. `uses` is the window's count, `growth`
(uses - previous) / previous (NULL when previous is 0: new this week). The top N by uses
(ties: higher growth, NULL last, then workout type / exercise id) are D's rows of
`fitness.trending_workouts` and `fitness.trending_exercises`, merged in one transaction
writing only the rows that change and deleting those that dropped out, so a rerun writes
nothing and a backfill of another day leaves D alone.

The counts come from hourly rollups (`fitness.workout_type_hourly`, `fitness.exercise_hourly`,
kept exact by triggers: migration 0010) for the whole UTC hours of the windows, and from the
workouts themselves for the partial hours at the edges (local midnights of a zone whose
offset is not whole hours), so the result is the same as counting every workout.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from include.fitness.repository import trending as repository


def aggregate_trending(conn: psycopg.Connection, day: date, *, previous_start: datetime, start: datetime,
                       end: datetime, top_n: int = 10) -> dict:
    """Rank `day`'s trending workouts and exercises (window [start, end), the week before
    [previous_start, start)); committed here. Returns {"day", "workouts": {...},
    "exercises": {...}} with {"scored", "ranked", "written", "deleted"} each."""
    for name, value in (("previous_start", previous_start), ("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be time-zone aware, got {value!r}")
    if not previous_start < start < end:
        raise ValueError(f"need previous_start < start < end, got {previous_start}, {start}, {end}")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n!r}")
    repository.lock(conn)
    result: dict = {"day": day.isoformat()}
    for what in ("workouts", "exercises"):
        result[what] = repository.replace_day(conn, what, day, previous_start=previous_start, start=start,
                                              end=end, top_n=top_n)
    conn.commit()
    return result
