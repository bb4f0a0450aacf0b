"""Hand-built fitness rows for the push tests (services and e2e): users, devices, workouts,
challenges, each with the values a test needs and nothing random."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

OLD = datetime(2025, 1, 1, tzinfo=UTC)  # before every day the tests use


def clean(dsn: str) -> None:
    """Empty the fitness tables and the outbox (and its pushes' fan-out)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE fitness.users, fitness.challenges, platform.outbox RESTART IDENTITY CASCADE")


def user(conn, name: str, *, active: bool = True, opt_out: bool = False, created_at: datetime = OLD) -> int:
    return conn.execute(
        "INSERT INTO fitness.users (email, name, is_active, push_opt_out, created_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (f"{name.lower().replace(' ', '.')}@fitness.test", name, active, opt_out, created_at)).fetchone()[0]


def device(conn, user_id: int, token: str, *, active: bool = True, platform: str = "android") -> int:
    return conn.execute(
        "INSERT INTO fitness.devices (user_id, fcm_token, platform, is_active) VALUES (%s, %s, %s, %s) RETURNING id",
        (user_id, token, platform, active)).fetchone()[0]


def workout(conn, user_id: int, at: datetime, minutes: int, calories: int, kind: str = "running") -> int:
    return conn.execute(
        "INSERT INTO fitness.workouts (user_id, workout_type, started_at, duration_minutes, calories) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id", (user_id, kind, at, minutes, calories)).fetchone()[0]


def challenge(conn, title: str, start, end, participants: list[int]) -> int:
    cid = conn.execute("INSERT INTO fitness.challenges (title, start_date, end_date) VALUES (%s, %s, %s) RETURNING id",
                       (title, start, end)).fetchone()[0]
    for uid in participants:
        conn.execute("INSERT INTO fitness.challenge_participants (challenge_id, user_id) VALUES (%s, %s)", (cid, uid))
    return cid


def outbox(dsn: str, prefix: str = "") -> dict[str, dict]:
    """dedupe_key -> {"recipient", "subject", "body_text", "payload", "status", "last_error"}."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT dedupe_key, recipient, subject, body_text, payload, status, last_error "
                            "FROM platform.outbox WHERE dedupe_key LIKE %s ORDER BY id", (prefix + "%",)).fetchall()
    return {r[0]: {"recipient": r[1], "subject": r[2], "body_text": r[3], "payload": r[4], "status": r[5],
                   "last_error": r[6]} for r in rows}


def reminder_log(dsn: str) -> list[tuple[int, object]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT user_id, sent_for FROM fitness.reminder_log ORDER BY sent_for, user_id").fetchall()
