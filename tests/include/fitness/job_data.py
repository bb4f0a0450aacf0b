"""Hand-built fitness rows for the leaderboard, trending, cleanup and progress-report tests
(services and e2e): each row has the values a test needs and nothing random."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

OLD = datetime(2025, 1, 1, tzinfo=UTC)


def clean(dsn: str) -> None:
    """Empty the fitness tables and the outbox."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE fitness.users, fitness.challenges, fitness.exercises, fitness.trending_workouts, "
                     "fitness.temporary_uploads, fitness.leaderboards, platform.outbox RESTART IDENTITY CASCADE")


def user(conn, name: str, *, active: bool = True, email_opt_out: bool = False, tag: str = "") -> int:
    return conn.execute(
        "INSERT INTO fitness.users (email, name, is_active, email_opt_out, created_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (f"{name.lower().replace(' ', '.')}{tag}@fitness.test", name, active, email_opt_out, OLD)).fetchone()[0]


def workout(conn, user_id: int, at: datetime, minutes: int, calories: int = 100, kind: str = "running") -> int:
    return conn.execute(
        "INSERT INTO fitness.workouts (user_id, workout_type, started_at, duration_minutes, calories) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id", (user_id, kind, at, minutes, calories)).fetchone()[0]


def exercise(conn, name: str) -> int:
    return conn.execute("INSERT INTO fitness.exercises (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]


def workout_exercise(conn, workout_id: int, exercise_id: int, position: int, sets: int = 3, reps: int = 10,
                     weight_kg: float | None = None) -> None:
    conn.execute("INSERT INTO fitness.workout_exercises (workout_id, exercise_id, position, sets, reps, weight_kg) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", (workout_id, exercise_id, position, sets, reps, weight_kg))


def challenge(conn, title: str, start, end, participants: list[int]) -> int:
    cid = conn.execute("INSERT INTO fitness.challenges (title, start_date, end_date) VALUES (%s, %s, %s) RETURNING id",
                       (title, start, end)).fetchone()[0]
    for uid in participants:
        conn.execute("INSERT INTO fitness.challenge_participants (challenge_id, user_id) VALUES (%s, %s)", (cid, uid))
    return cid


def board(conn, name: str, period: str) -> list[tuple[int, int, float]]:
    """(rank, user_id, score) of a board, by rank."""
    return [(r, u, float(s)) for r, u, s in conn.execute(
        "SELECT e.rank, e.user_id, e.score FROM fitness.leaderboard_entries e "
        "JOIN fitness.leaderboards b ON b.id = e.leaderboard_id WHERE b.board = %s AND b.period = %s ORDER BY e.rank",
        (name, period))]


def entry_versions(conn) -> dict[tuple, str]:
    """(board, period, user_id) -> xmin: a row rewritten gets a new one."""
    return {tuple(r[:3]): r[3] for r in conn.execute(
        "SELECT b.board, b.period, e.user_id, e.xmin::text FROM fitness.leaderboard_entries e "
        "JOIN fitness.leaderboards b ON b.id = e.leaderboard_id")}
