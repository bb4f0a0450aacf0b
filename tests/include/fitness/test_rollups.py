"""The rollups of migration 0010 (per-user totals, workouts per type and hour, distinct
workouts per exercise and hour) stay equal to a recount from the workouts and their
exercises through inserts, updates that move workouts across hours and users, deletes
(direct, cascaded from a workout or a user) and truncates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.include.fitness import job_data as data

T0 = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)

RECOUNT = {
    "user_workout_totals": (
        "SELECT user_id, workouts, minutes, calories FROM fitness.user_workout_totals WHERE workouts <> 0",
        "SELECT user_id, count(*), sum(duration_minutes), sum(calories) FROM fitness.workouts GROUP BY 1"),
    "workout_type_hourly": (
        "SELECT hour, workout_type, workouts FROM fitness.workout_type_hourly WHERE workouts <> 0",
        "SELECT date_trunc('hour', started_at, 'UTC'), workout_type, count(*) FROM fitness.workouts GROUP BY 1, 2"),
    "exercise_hourly": (
        "SELECT hour, exercise_id, workouts FROM fitness.exercise_hourly WHERE workouts <> 0",
        "SELECT date_trunc('hour', w.started_at, 'UTC'), p.exercise_id, count(*) "
        "FROM (SELECT DISTINCT workout_id, exercise_id FROM fitness.workout_exercises) p "
        "JOIN fitness.workouts w ON w.id = p.workout_id GROUP BY 1, 2"),
}


@pytest.fixture
def conn(fitness_db):
    data.clean(fitness_db)
    with psycopg.connect(fitness_db) as conn:
        conn.execute("SET TimeZone = 'Asia/Kolkata'")  # the hour buckets are UTC hours whatever the session's zone
        yield conn


def assert_rollups_exact(conn) -> None:
    for name, (stored, recount) in RECOUNT.items():
        assert sorted(conn.execute(stored).fetchall()) == sorted(conn.execute(recount).fetchall()), name


def test_rollups_follow_every_kind_of_write(conn):
    users = [data.user(conn, f"Roll {n}") for n in range(4)]
    squat, plank = data.exercise(conn, "squat"), data.exercise(conn, "plank")
    assert_rollups_exact(conn)
    # one multi-row statement, several users, types and hours
    conn.execute(
        "INSERT INTO fitness.workouts (user_id, workout_type, started_at, duration_minutes, calories) "
        "SELECT u, (ARRAY['running', 'yoga'])[1 + g %% 2], %s::timestamptz + interval '25 minutes' * g, 10 + g, 7 * g "
        "FROM unnest(%s::bigint[]) u, generate_series(1, 12) g", (T0, users))
    ids = [r[0] for r in conn.execute("SELECT id FROM fitness.workouts ORDER BY id")]
    assert_rollups_exact(conn)
    # exercises, one of them twice in a workout (counts once), in two statements
    conn.execute("INSERT INTO fitness.workout_exercises (workout_id, exercise_id, position) "
                 "SELECT w, %s, 1 FROM unnest(%s::bigint[]) w", (squat, ids[:30]))
    data.workout_exercise(conn, ids[0], squat, 2)
    data.workout_exercise(conn, ids[0], plank, 3)
    data.workout_exercise(conn, ids[1], plank, 2)
    assert_rollups_exact(conn)
    assert conn.execute("SELECT sum(workouts) FROM fitness.exercise_hourly WHERE exercise_id = %s",
                        (squat,)).fetchone()[0] == 30
    # the duplicate squat removed: workout 0 still has squat once
    conn.execute("DELETE FROM fitness.workout_exercises WHERE workout_id = %s AND position = 2", (ids[0],))
    assert_rollups_exact(conn)
    # an exercise row changed to another exercise and another workout
    conn.execute("UPDATE fitness.workout_exercises SET exercise_id = %s, workout_id = %s "
                 "WHERE workout_id = %s AND position = 1", (plank, ids[40], ids[2]))
    assert_rollups_exact(conn)
    # workouts moved across hours and users, minutes and calories changed, type changed
    conn.execute("UPDATE fitness.workouts SET started_at = started_at + interval '3 hours 10 minutes', "
                 "user_id = %s, duration_minutes = duration_minutes + 1 WHERE id = ANY(%s)", (users[3], ids[:8]))
    conn.execute("UPDATE fitness.workouts SET calories = calories + 5, workout_type = 'hiit' WHERE id = ANY(%s)",
                 (ids[5:15],))
    assert_rollups_exact(conn)
    # deletes: workouts with exercises (cascade), a whole user (cascade), nothing at all
    conn.execute("DELETE FROM fitness.workouts WHERE id = ANY(%s)", (ids[0:4] + ids[20:22],))
    conn.execute("DELETE FROM fitness.users WHERE id = %s", (users[1],))
    conn.execute("DELETE FROM fitness.workouts WHERE false")
    assert_rollups_exact(conn)
    conn.commit()
    assert_rollups_exact(conn)


def test_a_rolled_back_write_leaves_the_rollups_alone(conn):
    uid = data.user(conn, "Rollback")
    data.workout(conn, uid, T0, 30)
    conn.commit()
    data.workout(conn, uid, T0 + timedelta(hours=1), 45)
    conn.rollback()
    assert conn.execute("SELECT workouts, minutes FROM fitness.user_workout_totals WHERE user_id = %s",
                        (uid,)).fetchone() == (1, 30)
    assert_rollups_exact(conn)


def test_truncate_empties_the_rollups(conn):
    uid = data.user(conn, "Truncate")
    ex = data.exercise(conn, "lunge")
    data.workout_exercise(conn, data.workout(conn, uid, T0, 30), ex, 1)
    conn.commit()
    conn.execute("TRUNCATE fitness.workout_exercises")
    assert conn.execute("SELECT count(*) FROM fitness.exercise_hourly").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM fitness.user_workout_totals").fetchone()[0] == 1
    conn.execute("TRUNCATE fitness.users CASCADE")  # cascades to the workouts
    for table in RECOUNT:
        assert conn.execute(f"SELECT count(*) FROM fitness.{table}").fetchone()[0] == 0, table
    conn.commit()
