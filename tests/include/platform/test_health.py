"""Health checks and their state transitions against a real PostgreSQL."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import psycopg

from include.platform import health
from include.platform.health import Reading, Thresholds

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
OWNERS = ["ops@jobyard.local", "oncall@jobyard.local"]


def _record(dsn, at, db_ok=True, redis_ok=True):
    readings = [Reading("database", "app", db_ok, 3.0, "ms", "" if db_ok else "refused"),
                Reading("redis", "127.0.0.1:6379", redis_ok, 0.4, "ms", "")]
    with psycopg.connect(dsn) as conn:
        return health.record(conn, at, readings, OWNERS)


def _outbox(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT dedupe_key, recipient, subject FROM platform.outbox ORDER BY id").fetchall()


def test_alerts_fire_on_transitions_only(platform_db):
    step = timedelta(minutes=15)
    first = _record(platform_db, T0)
    assert first["transitions"] == 0 and first["alerts_queued"] == 0, "a first good reading is no news"
    down = _record(platform_db, T0 + step, db_ok=False)
    assert down == {"readings": 2, "bad": ["database:app"], "transitions": 1, "alerts_queued": 2}
    still_down = _record(platform_db, T0 + 2 * step, db_ok=False)
    assert still_down["transitions"] == 0 and still_down["alerts_queued"] == 0
    up = _record(platform_db, T0 + 3 * step)
    assert up["transitions"] == 1 and up["alerts_queued"] == 2

    mails = _outbox(platform_db)
    assert [m[1] for m in mails] == OWNERS * 2
    assert "DOWN" in mails[0][2] and "RECOVERED" in mails[2][2]
    with psycopg.connect(platform_db) as conn:
        assert conn.execute("SELECT count(*) FROM platform.health_readings").fetchone()[0] == 8
        state = conn.execute("SELECT ok, since FROM platform.health_state WHERE check_name = 'database'").fetchone()
    assert state == (True, T0 + 3 * step)


def test_rerun_and_backfill_send_nothing_twice(platform_db):
    _record(platform_db, T0)
    _record(platform_db, T0 + timedelta(minutes=15), db_ok=False)
    rerun = _record(platform_db, T0 + timedelta(minutes=15), db_ok=False)
    assert rerun["alerts_queued"] == 0
    # A backfill of an older interval stores its readings but never moves the state back.
    old = _record(platform_db, T0 - timedelta(days=1))
    assert old["transitions"] == 0
    assert len(_outbox(platform_db)) == 2
    with psycopg.connect(platform_db) as conn:
        assert conn.execute("SELECT ok FROM platform.health_state WHERE check_name = 'database'").fetchone() == (False,)


def test_a_first_bad_reading_alerts(platform_db):
    result = _record(platform_db, T0, redis_ok=False)
    assert result["transitions"] == 1 and result["alerts_queued"] == 2


def test_checks_report_unreachable_services():
    limits = Thresholds()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    db = health.check_database("nowhere", f"postgresql://postgres@127.0.0.1:{closed}/x", limits)
    assert not db.ok and db.value is None and "cannot connect" in db.detail
    redis = health.check_redis("127.0.0.1", closed, limits)
    assert not redis.ok and "cannot connect" in redis.detail
    backlog = health.check_backlog(f"postgresql://postgres@127.0.0.1:{closed}/x", limits)
    assert not backlog.ok


def test_checks_against_live_services(platform_db, session_env):
    limits = Thresholds()
    assert health.check_database("app", platform_db, limits).ok
    host, port = session_env["redis"].split("//")[1].split("/")[0].split(":")
    redis = health.check_redis(host, int(port), limits)
    assert redis.ok and redis.value is not None
    strict = Thresholds(db_latency_ms=0.0)
    slow = health.check_database("app", platform_db, strict)
    assert not slow.ok and "latency" in slow.detail


def test_disk_and_memory_thresholds(tmp_path):
    assert health.check_disk(str(tmp_path), Thresholds(disk_free_fraction=0.0)).ok
    assert not health.check_disk(str(tmp_path), Thresholds(disk_free_fraction=1.01)).ok
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       1000000 kB\nMemFree:          50000 kB\nMemAvailable:     80000 kB\n")
    low = health.check_memory(Thresholds(memory_available_fraction=0.10), str(meminfo))
    assert not low.ok and low.value == 8.0 and "8.0% available" in low.detail
    assert health.check_memory(Thresholds(memory_available_fraction=0.05), str(meminfo)).ok
