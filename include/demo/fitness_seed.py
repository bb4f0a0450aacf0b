"""Fitness demo data (seed 004's app), and the set-based generator behind it that the
benchmark (bench/fitness_jobs.py) shares.

At scale 1: 3,000 users, each with 1-3 devices (FCM tokens; the first device of every 250th
user has an `invalid-...` token, which the FCM stand-in answers UNREGISTERED, so a dead
device shows), 36,000 workouts over the 60 days before today (skewed: low user ids work out
most, every 10th user stopped more than a week ago, some never started), 1-3 exercises per
workout, three challenges (one running, one that starts tomorrow, one that ends tomorrow),
a few inactive (`is_active` false) and opted-out users (email and push), cached stats of
every 3rd user (half of them older than a week), and temporary uploads with their files
under the `fitness_upload_root` default (most older than a day, a few fresh). Every count
but the exercises and challenges is multiplied by the scale.

Everything is generate_series SQL with hash-derived values (`hashint8extended`), no Python
loop over rows and no random(): the same scale and day give the same rows, and seeding
again replaces the fitness tables (TRUNCATE ... RESTART IDENTITY) instead of adding to them.
The workouts' rollups (per-user totals, hourly counts: migration 0010) are recounted once
after the bulk load, with their insert triggers off during it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import psycopg

from include.fitness.cleanup import default_upload_root

USERS_PER_SCALE = 3_000
WORKOUTS_PER_USER = 12
DAYS = 60
OLD_UPLOADS_PER_SCALE, FRESH_UPLOADS_PER_SCALE = 6, 2
INVALID_TOKEN_EVERY = 250  # users
# fitness.leaderboards: truncating it drops every board's partition of leaderboard_entries.
TABLES = ("users", "devices", "exercises", "workouts", "workout_exercises", "challenges", "challenge_participants",
          "leaderboards", "temporary_uploads", "cached_stats", "trending_workouts", "trending_exercises",
          "reminder_log", "user_workout_totals", "workout_type_hourly", "exercise_hourly")
# The workouts' rollup triggers (migration 0010): off during the bulk load, which then
# recounts the rollups once, set-based (fitness.rebuild_workout_rollups()).
ROLLUP_TRIGGERS = {"workouts": ("workouts_insert_rollups",),
                   "workout_exercises": ("workout_exercises_insert_rollups",)}
WORKOUT_TYPES = ("running", "cycling", "strength", "yoga", "swimming", "hiit", "walking", "rowing")
EXERCISES = [
    ("Squat", "strength"), ("Deadlift", "strength"), ("Bench Press", "strength"), ("Overhead Press", "strength"),
    ("Barbell Row", "strength"), ("Pull-up", "strength"), ("Push-up", "strength"), ("Lunge", "strength"),
    ("Kettlebell Swing", "strength"), ("Bicep Curl", "strength"), ("Plank", "core"), ("Crunch", "core"),
    ("Russian Twist", "core"), ("Mountain Climber", "cardio"), ("Burpee", "cardio"), ("Jumping Jack", "cardio"),
    ("Box Jump", "cardio"), ("Sprint Interval", "cardio"), ("Downward Dog", "mobility"), ("Sun Salutation", "mobility"),
    ("Hip Opener", "mobility"), ("Hamstring Stretch", "mobility"), ("Freestyle Lap", "cardio"),
    ("Rowing Sprint", "cardio"),
]
FIRST_NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
               "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yara"]

# u(x, salt): a uniform value in [0, 1) derived from x, the same on every run.
_U = "((hashint8extended(({x})::bigint, {salt}) & 2147483647)::float8 / 2147483648.0)"


def u(x: str, salt: int) -> str:
    return _U.format(x=x, salt=salt)


def truncate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE " + ", ".join(f"fitness.{t}" for t in TABLES) + " RESTART IDENTITY CASCADE")


def generate(conn: psycopg.Connection, *, users: int, workouts: int, today: date, devices: bool = True,
             exercise_days: int | None = None, extras: bool = True) -> dict[str, int]:
    """Replace the fitness tables with `users` users and `workouts` workouts over the DAYS
    days before `today` (UTC midnights), in the caller's transaction. `exercise_days` limits
    the workouts that get exercises to those of that many last days (None: all); `devices`
    and `extras` (challenges, cached stats) can be left out for a benchmark. Returns rows per table."""
    if users < 10 or workouts < 1:
        raise ValueError(f"need at least 10 users and 1 workout, got {users} and {workouts}")
    midnight = datetime.combine(today, time(), tzinfo=UTC)
    truncate(conn)
    _rollup_triggers(conn, enable=False)
    rows: dict[str, int] = {}
    rows["users"] = conn.execute(
        f"""
        INSERT INTO fitness.users (id, email, name, is_active, push_opt_out, email_opt_out, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT n, 'user' || n || '@fitness.demo', (%(names)s::text[])[1 + n %% %(n_names)s] || ' ' || n,
               n %% 50 <> 0, n %% 25 = 3, n %% 20 = 7,
               %(midnight)s::timestamptz - interval '120 days' + interval '1 day' * floor({u('n', 1)} * 90)
          FROM generate_series(1, %(users)s) n
        """,  # noqa: S608 - the only interpolation is the hash expression
        {"names": FIRST_NAMES, "n_names": len(FIRST_NAMES), "midnight": midnight, "users": users}).rowcount
    conn.execute("SELECT setval(pg_get_serial_sequence('fitness.users', 'id'), %s)", (users,))
    if devices:
        rows["devices"] = conn.execute(
            f"""
            INSERT INTO fitness.devices (user_id, fcm_token, platform, is_active, last_seen)
            SELECT n, CASE WHEN k = 1 AND n %% %(invalid_every)s = 0 THEN 'invalid-' ELSE 'demo-' END
                      || md5(n || '-' || k),
                   (ARRAY['android', 'ios', 'web'])[1 + (n + k) %% 3], true,
                   %(midnight)s::timestamptz - interval '1 hour' * floor({u('n * 4 + k', 2)} * 240)
              FROM generate_series(1, %(users)s) n, generate_series(1, 1 + n %% 3) k
            """,  # noqa: S608 - the only interpolation is the hash expression
            {"invalid_every": INVALID_TOKEN_EVERY, "midnight": midnight, "users": users}).rowcount
    rows["exercises"] = conn.execute(
        "INSERT INTO fitness.exercises (id, name, category) OVERRIDING SYSTEM VALUE "
        "SELECT n, name, category FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS e(name, category, n)",
        ([e[0] for e in EXERCISES], [e[1] for e in EXERCISES])).rowcount
    conn.execute("SELECT setval(pg_get_serial_sequence('fitness.exercises', 'id'), %s)", (len(EXERCISES),))
    # Skewed users (low ids most); days in id order, oldest first (a workouts table grows in
    # time order, and the jobs' time-range scans read it so); every 10th user's workouts of
    # the last 7 days moved a week back (they stopped); a start between 06:00 and 21:59,
    # 10-90 minutes, 5-12 kcal a minute.
    rows["workouts"] = conn.execute(
        f"""
        INSERT INTO fitness.workouts (id, user_id, workout_type, started_at, duration_minutes, calories)
        OVERRIDING SYSTEM VALUE
        SELECT g, w.user_id, (%(types)s::text[])[1 + floor({u('g', 4)} * %(n_types)s)::int],
               %(midnight)s::timestamptz
                 - interval '1 day' * (CASE WHEN w.user_id %% 10 = 0 AND w.days_ago < 8 THEN w.days_ago + 7
                                            ELSE w.days_ago END)
                 + interval '1 minute' * (360 + floor({u('g', 6)} * 960)),
               w.minutes, w.minutes * (5 + floor({u('g', 7)} * 8))::int
          FROM generate_series(1, %(workouts)s) g
         CROSS JOIN LATERAL (SELECT least(%(users)s, 1 + floor(%(users)s * power({u('g', 3)}, 1.7)))::bigint
                                        AS user_id,
                                    %(days)s - ((g - 1) * %(days)s / %(workouts)s)::int AS days_ago,
                                    (10 + floor({u('g', 8)} * 81))::int AS minutes) w
        """,  # noqa: S608 - the only interpolation is the hash expressions
        {"types": list(WORKOUT_TYPES), "n_types": len(WORKOUT_TYPES), "midnight": midnight, "days": DAYS,
         "workouts": workouts, "users": users}).rowcount
    conn.execute("SELECT setval(pg_get_serial_sequence('fitness.workouts', 'id'), %s)", (workouts,))
    since = midnight - timedelta(days=exercise_days if exercise_days is not None else DAYS + 1)
    rows["workout_exercises"] = conn.execute(
        f"""
        INSERT INTO fitness.workout_exercises (workout_id, exercise_id, position, sets, reps, weight_kg)
        SELECT w.id, 1 + floor({u('w.id * 4 + k', 9)} * %(n_ex)s)::int, k,
               2 + floor({u('w.id * 4 + k', 10)} * 4)::int, 5 + floor({u('w.id * 4 + k', 11)} * 11)::int,
               CASE WHEN w.workout_type = 'strength' THEN (10 + 5 * floor({u('w.id * 4 + k', 12)} * 19))::numeric END
          FROM fitness.workouts w, generate_series(1, 1 + (w.id %% 3)::int) k
         WHERE w.started_at >= %(since)s
        """,  # noqa: S608 - the only interpolation is the hash expressions
        {"n_ex": len(EXERCISES), "since": since}).rowcount
    _rollup_triggers(conn, enable=True)
    conn.execute("SELECT fitness.rebuild_workout_rollups()")
    if extras:
        rows.update(_challenges(conn, today, users))
        rows["cached_stats"] = conn.execute(
            """
            INSERT INTO fitness.cached_stats (user_id, stats, last_updated)
            SELECT n, jsonb_build_object('workouts', 0, 'total_minutes', 0, 'total_calories', 0),
                   %(midnight)s::timestamptz - interval '1 day' * (n %% 14)
              FROM generate_series(3, %(users)s, 3) n
            """, {"midnight": midnight, "users": users}).rowcount
    return rows


def _rollup_triggers(conn: psycopg.Connection, *, enable: bool) -> None:
    """Switch the rollup triggers of the bulk-loaded tables off or on again, in the caller's
    transaction (which holds the tables exclusively since the TRUNCATE)."""
    for table, triggers in ROLLUP_TRIGGERS.items():
        for trigger in triggers:
            conn.execute(f"ALTER TABLE fitness.{table} {'ENABLE' if enable else 'DISABLE'} TRIGGER {trigger}")


def _challenges(conn: psycopg.Connection, today: date, users: int) -> dict[str, int]:
    """A running challenge (every 5th user), one that starts tomorrow (every 7th), one that
    ends tomorrow (every 6th)."""
    tomorrow = today + timedelta(days=1)
    specs = [("December Minutes Marathon", today - timedelta(days=10), today + timedelta(days=20), 5),
             ("7-Day Core Crusher", tomorrow, tomorrow + timedelta(days=6), 7),
             ("Two-Week Cardio Sprint", tomorrow - timedelta(days=13), tomorrow, 6)]
    participants = 0
    for n, (title, start, end, every) in enumerate(specs, start=1):
        conn.execute("INSERT INTO fitness.challenges (id, title, start_date, end_date) OVERRIDING SYSTEM VALUE "
                     "VALUES (%s, %s, %s, %s)", (n, title, start, end))
        participants += conn.execute(
            "INSERT INTO fitness.challenge_participants (challenge_id, user_id, joined_at) "
            "SELECT %s, u, %s::date - interval '3 days' FROM generate_series(%s::int, %s::int, %s::int) u",
            (n, start, every, users, every)).rowcount
    conn.execute("SELECT setval(pg_get_serial_sequence('fitness.challenges', 'id'), %s)", (len(specs),))
    return {"challenges": len(specs), "challenge_participants": participants}


def write_uploads(conn: psycopg.Connection, root: Path, now: datetime, scale: int) -> int:
    """Temporary uploads of the demo: OLD_UPLOADS_PER_SCALE x scale older than a day (30 h to
    3 days) and FRESH_UPLOADS_PER_SCALE x scale from the last hours, each with a small file
    under `root/demo/` (rewritten each seed)."""
    folder = root / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("upload-*.jpg"):
        old.unlink()
    total = (OLD_UPLOADS_PER_SCALE + FRESH_UPLOADS_PER_SCALE) * scale
    for n in range(1, total + 1):
        (folder / f"upload-{n}.jpg").write_bytes(b"\xff\xd8\xff\xe0demo upload " + str(n).encode() + b"\xff\xd9")
    return conn.execute(
        """
        INSERT INTO fitness.temporary_uploads (user_id, file_path, created_at)
        SELECT 1 + n, 'demo/upload-' || n || '.jpg',
               CASE WHEN n <= %(old)s THEN %(now)s::timestamptz - interval '30 hours' - interval '6 hours' * n
                    ELSE %(now)s::timestamptz - interval '1 hour' * (n - %(old)s) END
          FROM generate_series(1, %(total)s) n
        """, {"old": OLD_UPLOADS_PER_SCALE * scale, "now": now, "total": total}).rowcount


def seed(conn: psycopg.Connection, scale: int, *, today: date | None = None,
         upload_root: Path | None = None) -> dict[str, int]:
    """The demo at `scale` (see the module docstring), replacing the fitness tables."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    now = datetime.now(UTC)
    today = today or now.date()
    users = USERS_PER_SCALE * scale
    rows = generate(conn, users=users, workouts=users * WORKOUTS_PER_USER, today=today)
    # The uploads' ages are relative to the seeding instant, so the next cleanup run has work.
    rows["temporary_uploads"] = write_uploads(conn, upload_root or default_upload_root(), now, scale)
    return rows
