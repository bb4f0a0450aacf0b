"""Token and session cleanup against a real PostgreSQL, with hand-built rows whose fate is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.social.tokens import cleanup_expired_tokens
from tests.budgets import ScriptedBudget

T = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # the data interval's end
CUTOFF = T - timedelta(days=30)


@pytest.fixture
def conn(social_db):
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, social.auth_tokens, social.sessions RESTART IDENTITY CASCADE")
        conn.commit()
        yield conn


def user(conn, name, *, last_activity, created_at=CUTOFF - timedelta(days=100)) -> int:
    return conn.execute(
        "INSERT INTO social.users (email, username, created_at, last_activity_at) VALUES (%s, %s, %s, %s) "
        "RETURNING id", (f"{name}@example.test", name, created_at, last_activity)).fetchone()[0]


def token(conn, user_id, name, expires_at) -> None:
    conn.execute("INSERT INTO social.auth_tokens (user_id, token_hash, kind, expires_at) VALUES (%s, %s, 'access', %s)",
                 (user_id, name, expires_at))


def session(conn, user_id, name, expires_at) -> None:
    conn.execute("INSERT INTO social.sessions (user_id, session_key, expires_at) VALUES (%s, %s, %s)",
                 (user_id, name, expires_at))


def left(conn) -> tuple[set[str], set[str]]:
    tokens = {r[0] for r in conn.execute("SELECT token_hash FROM social.auth_tokens")}
    sessions = {r[0] for r in conn.execute("SELECT session_key FROM social.sessions")}
    return tokens, sessions


def test_deletes_expired_and_inactive_users_rows_and_counts_them(conn):
    active = user(conn, "active", last_activity=T - timedelta(days=1))
    token(conn, active, "active-valid", T + timedelta(hours=1))
    token(conn, active, "active-expired", T - timedelta(seconds=1))
    token(conn, active, "active-expires-at-end", T)  # not before the end: kept
    session(conn, active, "active-valid", T + timedelta(days=1))
    session(conn, active, "active-expired", T - timedelta(days=1))
    inactive = user(conn, "inactive", last_activity=T - timedelta(days=31))
    token(conn, inactive, "inactive-valid", T + timedelta(days=1))
    token(conn, inactive, "inactive-expired", T - timedelta(hours=1))  # counts as expired, not inactive
    session(conn, inactive, "inactive-valid", T + timedelta(days=1))
    never_old = user(conn, "never-old", last_activity=None, created_at=T - timedelta(days=40))
    token(conn, never_old, "never-old-valid", T + timedelta(days=5))
    never_new = user(conn, "never-new", last_activity=None, created_at=T - timedelta(days=5))
    token(conn, never_new, "never-new-valid", T + timedelta(days=5))
    session(conn, never_new, "never-new-valid", T + timedelta(days=5))
    edge = user(conn, "edge", last_activity=CUTOFF)  # exactly 30 days: not yet inactive
    token(conn, edge, "edge-valid", T + timedelta(days=5))
    conn.commit()

    result = cleanup_expired_tokens(conn, T)

    assert result == {"expired_tokens": 2, "expired_sessions": 1, "inactive_tokens": 2, "inactive_sessions": 1,
                      "batches": 4}
    assert left(conn) == ({"active-valid", "active-expires-at-end", "never-new-valid", "edge-valid"},
                          {"active-valid", "never-new-valid"})
    assert cleanup_expired_tokens(conn, T) == dict.fromkeys(result, 0), "a rerun deletes nothing"


def test_inactive_days_moves_the_cutoff(conn):
    idle = user(conn, "idle", last_activity=T - timedelta(days=10))
    token(conn, idle, "idle", T + timedelta(days=1))
    conn.commit()
    assert cleanup_expired_tokens(conn, T, inactive_days=30)["inactive_tokens"] == 0
    assert cleanup_expired_tokens(conn, T, inactive_days=7)["inactive_tokens"] == 1


def test_bounded_batches_walk_every_row_once(conn):
    inactive = user(conn, "inactive", last_activity=T - timedelta(days=60))
    active = user(conn, "active", last_activity=T)
    # 25 expired tokens, then 23 valid tokens of the inactive user interleaved by id with 20 of
    # the active one, so the inactive walk has to step over rows it keeps.
    conn.execute("""INSERT INTO social.auth_tokens (user_id, token_hash, kind, expires_at)
                    SELECT %s, 'expired-' || i, 'refresh', %s FROM generate_series(1, 25) i""",
                 (active, T - timedelta(days=1)))
    conn.execute("""INSERT INTO social.auth_tokens (user_id, token_hash, kind, expires_at)
                    SELECT CASE WHEN i %% 2 = 0 AND i <= 40 THEN %s ELSE %s END, 'valid-' || i, 'access', %s
                      FROM generate_series(1, 43) i""", (active, inactive, T + timedelta(days=1)))
    conn.commit()

    result = cleanup_expired_tokens(conn, T, batch_size=10)

    assert result == {"expired_tokens": 25, "expired_sessions": 0, "inactive_tokens": 23, "inactive_sessions": 0,
                      "batches": 3 + 3}
    kept = conn.execute("SELECT count(*), min(user_id), max(user_id) FROM social.auth_tokens").fetchone()
    assert kept == (20, active, active)


def test_soft_time_limit_keeps_finished_batches_and_a_rerun_continues(conn):
    someone = user(conn, "someone", last_activity=T)
    conn.execute("""INSERT INTO social.auth_tokens (user_id, token_hash, kind, expires_at)
                    SELECT %s, 'expired-' || i, 'access', %s FROM generate_series(1, 25) i""",
                 (someone, T - timedelta(days=1)))
    conn.commit()
    budget = ScriptedBudget([True, True, False])

    with pytest.raises(SoftTimeLimitExceeded, match="^soft time limit: 2 batches done, rerun continues; ") as err:
        cleanup_expired_tokens(conn, T, batch_size=10, budget=budget)

    assert [err.value.result] == [{"expired_tokens": 20, "expired_sessions": 0, "inactive_tokens": 0,
                                  "inactive_sessions": 0, "batches": 2}]
    with psycopg.connect(conn.info.dsn) as other:  # committed, seen from another connection
        assert other.execute("SELECT count(*) FROM social.auth_tokens").fetchone() == (5,)
    assert cleanup_expired_tokens(conn, T, batch_size=10)["expired_tokens"] == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"interval_end": T.replace(tzinfo=None)}, "timezone-aware"),
    ({"inactive_days": 0}, "inactive_days must be a positive integer, got 0"),
    ({"inactive_days": 1.5}, "inactive_days must be a positive integer, got 1.5"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
])
def test_bad_arguments_are_rejected_before_any_delete(conn, kwargs, message):
    someone = user(conn, "someone", last_activity=T)
    token(conn, someone, "expired", T - timedelta(days=1))
    conn.commit()
    args = {"interval_end": T} | kwargs
    with pytest.raises(ValueError, match=message):
        cleanup_expired_tokens(conn, args.pop("interval_end"), **args)
    assert left(conn)[0] == {"expired"}
