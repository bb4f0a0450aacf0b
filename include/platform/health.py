"""Health readings of the platform: app databases, Redis, disk, memory and the Airflow backlog.

Each check returns a `Reading`; `record` stores the readings of one run and finds the checks
whose state changed (ok -> bad or bad -> ok), so that an alert goes out once per transition.
"""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from include.common.outbox import OutboxMessage, enqueue
from include.platform.repository import health as repository


@dataclass(frozen=True)
class Reading:
    check_name: str
    target: str
    ok: bool
    value: float | None
    unit: str
    detail: str


@dataclass(frozen=True)
class Thresholds:
    db_latency_ms: float = 500.0
    redis_latency_ms: float = 200.0
    disk_free_fraction: float = 0.10
    memory_available_fraction: float = 0.10
    backlog_queued: int = 100


def check_database(name: str, dsn: str, limits: Thresholds) -> Reading:
    """Connect and run a trivial query; the latency is connect + round trip."""
    start = time.perf_counter()
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return Reading("database", name, False, None, "ms", f"cannot connect: {exc}".strip())
    ms = (time.perf_counter() - start) * 1000
    ok = ms <= limits.db_latency_ms
    detail = "" if ok else f"latency {ms:.0f} ms > {limits.db_latency_ms:.0f} ms"
    return Reading("database", name, ok, round(ms, 2), "ms", detail)


def check_redis(host: str, port: int, limits: Thresholds) -> Reading:
    """PING over a raw socket (RESP), so the check needs no client library state."""
    target = f"{host}:{port}"
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        return Reading("redis", target, False, None, "ms", f"cannot connect: {exc}")
    ms = (time.perf_counter() - start) * 1000
    if not answer.startswith(b"+PONG"):
        return Reading("redis", target, False, round(ms, 2), "ms", f"unexpected answer {answer[:40]!r}")
    ok = ms <= limits.redis_latency_ms
    return Reading("redis", target, ok, round(ms, 2), "ms", "" if ok else f"latency {ms:.0f} ms")


def check_disk(path: str, limits: Thresholds) -> Reading:
    """Free space of the file system that holds `path` (or, before the first backup made it,
    of its nearest existing parent)."""
    existing = Path(path)
    while not existing.exists():
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    free = usage.free / usage.total
    ok = free >= limits.disk_free_fraction
    detail = "" if ok else f"{usage.free / 2**30:.1f} GiB free ({free:.1%}) < {limits.disk_free_fraction:.0%}"
    return Reading("disk", path, ok, round(free * 100, 2), "% free", detail)


def check_memory(limits: Thresholds, meminfo: str = "/proc/meminfo") -> Reading:
    fields = {}
    with open(meminfo) as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])  # kB
    available = fields["MemAvailable"] / fields["MemTotal"]
    ok = available >= limits.memory_available_fraction
    detail = "" if ok else f"{available:.1%} available < {limits.memory_available_fraction:.0%}"
    return Reading("memory", "host", ok, round(available * 100, 2), "% available", detail)


def check_backlog(metadata_dsn: str, limits: Thresholds) -> Reading:
    """Task instances waiting for a worker (queued) in the Airflow metadata database."""
    try:
        with psycopg.connect(metadata_dsn, connect_timeout=5) as conn:
            queued = conn.execute("SELECT count(*) FROM task_instance WHERE state = 'queued'").fetchone()[0]
    except psycopg.Error as exc:
        return Reading("backlog", "airflow", False, None, "task instances", f"cannot read: {exc}")
    ok = queued <= limits.backlog_queued
    return Reading("backlog", "airflow", ok, float(queued), "task instances",
                   "" if ok else f"{queued} queued > {limits.backlog_queued}")


def record(conn: psycopg.Connection, checked_at: datetime, readings: list[Reading],
           alert_recipients: list[str]) -> dict:
    """Store the readings of `checked_at`, apply state transitions, enqueue one alert per
    transition and recipient. Idempotent: a rerun of the same interval changes nothing more."""
    repository.upsert_readings(conn, checked_at, readings)
    transitions = repository.apply_transitions(conn, checked_at)
    messages = [
        OutboxMessage(
            # One alert per transition and recipient, however often the interval is rerun.
            dedupe_key=f"health:{t['check_name']}:{t['target']}:{t['since'].isoformat()}:{t['ok']}:{to}",
            channel="email",
            domain="platform",
            recipient=to,
            template="platform/health_alert",
            context={**t, "since": t["since"].isoformat(), "changed_at": t["since"].isoformat()},
        )
        for t in transitions
        for to in alert_recipients
    ]
    queued = enqueue(conn, messages)
    bad = [f"{r.check_name}:{r.target}" for r in readings if not r.ok]
    return {"readings": len(readings), "bad": bad, "transitions": len(transitions), "alerts_queued": queued}
