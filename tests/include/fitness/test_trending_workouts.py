"""aggregate_trending against PostgreSQL: uses of the 7 days ending with the day, growth vs
the 7 days before, ties, top N, and a rerun that writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from include.fitness.trending import aggregate_trending
from tests.include.fitness import job_data as data

DAY = date(2026, 11, 30)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def window(day: date = DAY) -> dict:
    return {"previous_start": midnight(day - timedelta(days=13)), "start": midnight(day - timedelta(days=6)),
            "end": midnight(day + timedelta(days=1))}


@pytest.fixture
def conn(fitness_db):
    data.clean(fitness_db)
    with psycopg.connect(fitness_db) as conn:
        yield conn


@pytest.fixture
def workouts(conn) -> dict[str, int]:
    """running 3 this week / 1 before (growth 2.0), yoga 3 / 3 (0.0, ties running on uses),
    cycling 1 / 0 (new), rowing only before, swimming after the day. Squat in 2 of this
    week's workouts, plank in 1 (and 2 before)."""
    uid = data.user(conn, "Trend")
    ex = {n: data.exercise(conn, n) for n in ("squat", "plank")}
    this_week, before = midnight(DAY - timedelta(days=6)), midnight(DAY - timedelta(days=13))
    ids = []
    for kind, now_uses, before_uses in (("running", 3, 1), ("yoga", 3, 3), ("cycling", 1, 0), ("rowing", 0, 2)):
        for i in range(now_uses):
            ids.append((kind, data.workout(conn, uid, this_week + timedelta(days=i, hours=8), 30, kind=kind)))
        for i in range(before_uses):
            ids.append((kind, data.workout(conn, uid, before + timedelta(days=i, hours=8), 30, kind=kind)))
    data.workout(conn, uid, midnight(DAY + timedelta(days=1)), 30, kind="swimming")  # the day after: out
    data.workout(conn, uid, midnight(DAY + timedelta(days=1)) - timedelta(seconds=1), 30, kind="cycling")  # in
    running = [w for k, w in ids if k == "running"]
    rowing = [w for k, w in ids if k == "rowing"]
    data.workout_exercise(conn, running[0], ex["squat"], 1)
    data.workout_exercise(conn, running[1], ex["squat"], 1)
    data.workout_exercise(conn, running[1], ex["plank"], 2)
    data.workout_exercise(conn, rowing[0], ex["plank"], 1)
    data.workout_exercise(conn, rowing[1], ex["plank"], 1)
    conn.commit()
    return ex


def rows(conn, table: str, key: str) -> list[tuple]:
    return conn.execute(f"SELECT rank, {key}, uses, previous, growth FROM fitness.{table} WHERE day = %s "
                        "ORDER BY rank", (DAY,)).fetchall()


def test_ranks_uses_with_growth_and_ties(conn, workouts):
    result = aggregate_trending(conn, DAY, **window(), top_n=10)
    assert rows(conn, "trending_workouts", "workout_type") == [
        (1, "running", 3, 1, 2.0), (2, "yoga", 3, 3, 0.0), (3, "cycling", 2, 0, None)]
    assert rows(conn, "trending_exercises", "exercise_id") == [
        (1, workouts["squat"], 2, 0, None), (2, workouts["plank"], 1, 2, -0.5)]
    assert result["workouts"] == {"scored": 3, "ranked": 3, "written": 3, "deleted": 0}
    assert result["exercises"] == {"scored": 2, "ranked": 2, "written": 2, "deleted": 0}


def test_top_n_rerun_and_drop_out(conn, workouts):
    aggregate_trending(conn, DAY, **window(), top_n=2)
    assert [r[1] for r in rows(conn, "trending_workouts", "workout_type")] == ["running", "yoga"]
    again = aggregate_trending(conn, DAY, **window(), top_n=2)
    assert again["workouts"]["written"] == 0 and again["exercises"]["written"] == 0
    conn.execute("DELETE FROM fitness.workouts WHERE workout_type = 'yoga'")
    conn.commit()
    moved = aggregate_trending(conn, DAY, **window(), top_n=2)
    assert [r[1] for r in rows(conn, "trending_workouts", "workout_type")] == ["running", "cycling"]
    assert moved["workouts"] == {"scored": 2, "ranked": 2, "written": 1, "deleted": 1}


def test_other_days_are_untouched_and_bad_windows_fail(conn, workouts):
    aggregate_trending(conn, DAY, **window(), top_n=10)
    other = DAY - timedelta(days=1)
    aggregate_trending(conn, other, **window(other), top_n=10)
    assert len(rows(conn, "trending_workouts", "workout_type")) == 3
    w = window()
    with pytest.raises(ValueError, match="previous_start < start < end"):
        aggregate_trending(conn, DAY, previous_start=w["start"], start=w["previous_start"], end=w["end"])
    with pytest.raises(ValueError, match="top_n"):
        aggregate_trending(conn, DAY, **w, top_n=0)


def test_windows_off_the_whole_hours_count_the_edges_from_the_workouts(conn):
    """Local midnights of a +05:30 zone fall mid-hour in UTC: the rollups' whole hours plus
    the half hours at each edge, from the workouts, give the exact counts; an exercise twice
    in one workout counts once."""
    zone = ZoneInfo("Asia/Kolkata")
    uid = data.user(conn, "Kolkata")
    squat = data.exercise(conn, "squat")
    day = date(2026, 11, 30)

    def local_midnight(d: date) -> datetime:
        return datetime.combine(d, time(), tzinfo=zone)

    start, end, before = local_midnight(day - timedelta(days=6)), local_midnight(day + timedelta(days=1)), \
        local_midnight(day - timedelta(days=13))
    # inside, 1 minute from each edge (in the half hour the rollups do not cover alone)
    inside = [start, start + timedelta(minutes=1), end - timedelta(minutes=1), start + timedelta(days=3)]
    outside = [end, end + timedelta(minutes=20)]  # the day after
    previous = [before, before + timedelta(minutes=29), start - timedelta(minutes=1)]
    for at in inside + outside + previous:
        w = data.workout(conn, uid, at, 20, kind="hiit")
        data.workout_exercise(conn, w, squat, 1)
        data.workout_exercise(conn, w, squat, 2)
    data.workout(conn, uid, before - timedelta(minutes=1), 20, kind="hiit")  # before both windows
    conn.commit()
    aggregate_trending(conn, day, previous_start=before, start=start, end=end, top_n=10)
    assert rows(conn, "trending_workouts", "workout_type") == [(1, "hiit", 4, len(previous), (4 - 3) / 3)]
    assert rows(conn, "trending_exercises", "exercise_id") == [(1, squat, 4, 3, (4 - 3) / 3)]
