"""Exactly once under a crash: 1,000 emails, the delivery process (several SMTP connections
at once, with and without a helper process) is killed with SIGKILL midway, a rerun after the
lease expires delivers the rest; every dedupe key arrives at the sandbox's SMTP sink exactly
once, but for at most one message per connection in flight at the kill (include/common/
delivery.py). Also concurrent deliverers never send a message twice. Delivery rates are
printed; bench/common_outbox.py does the same kill at full speed against a discarding server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from include.common.delivery import deliver_pending
from include.common.outbox import OutboxMessage, enqueue
from tests.include.common import conftest_outbox
from tests.include.common.conftest_outbox import (
    ROOT,
    keys_at_sink,
    rows,
    smtp_sender,
    status_counts,
    wait_until,
)

# The fixtures this module uses (pytest finds them as module attributes).
outbox_db, sink, clean = conftest_outbox.outbox_db, conftest_outbox.sink, conftest_outbox.clean

CHILD = """
import sys
from include.common.delivery import deliver_pending
from include.common.smtp import SmtpSender

dsn, port, connections, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sender = SmtpSender("127.0.0.1", port, use_tls=False, use_ssl=False, from_email="jobyard@localhost", timeout=5)
deliver_pending(dsn, sender, None, batch_size=50, lease_seconds=2, connections=connections, processes=processes,
                processes_from=1)
"""


def messages(n: int, prefix: str) -> list[OutboxMessage]:
    return [OutboxMessage(
        dedupe_key=f"{prefix}:user{i}@example.com:2026-W02", channel="email", domain="platform",
        recipient=f"user{i}@example.com", template="platform/health_alert",
        context={"check_name": "disk", "target": f"/data/{i}", "ok": i % 3 != 0, "detail": f"volume {i}",
                 "changed_at": "2026-01-05T10:15:00+00:00", "value": 9.5, "unit": "% free"},
    ) for i in range(n)]


def report_rate(capsys, label: str, count: int, seconds: float, what: str = "to the sink") -> float:
    rate = count / seconds
    with capsys.disabled():
        print(f"\n[outbox] {label}: {count} messages in {seconds:.2f} s = {rate:.0f} messages/s {what}")
    return rate


def sent_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM platform.outbox WHERE status = 'sent'").fetchone()[0]


def deliverer_sessions(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jobyard-outbox' "
                            "AND datname = current_database()").fetchone()[0]


@pytest.mark.parametrize(("connections", "processes"), [(4, 1), (2, 2)])
def test_kill_9_midway_then_rerun_delivers_each_message_once(clean, sink, capsys, connections, processes):
    handle, control = sink
    started = time.perf_counter()
    with psycopg.connect(clean) as conn:
        assert enqueue(conn, messages(1000, "crash")) == 1000
        conn.commit()
    report_rate(capsys, "enqueue", 1000, time.perf_counter() - started, "rendered and inserted (one transaction)")

    child = subprocess.Popen([sys.executable, "-c", CHILD, clean, str(handle.smtp_port), str(connections),
                              str(processes)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stderr=subprocess.PIPE)
    try:
        wait_until(lambda: sent_count(clean) >= 300 or child.poll() is not None, timeout=30, interval=0.005)
        child.kill()  # SIGKILL: no cleanup, no final commit
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -9, f"the child ended by itself: {child.stderr.read().decode()[-2000:]}"
    at_kill = status_counts(clean)
    in_flight = {r["dedupe_key"] for r in rows(clean, "status = 'sending'")}
    assert 300 <= at_kill["sent"] < 1000 and in_flight, at_kill
    # A helper process dies with its parent (PR_SET_PDEATHSIG): no session of the run is left.
    wait_until(lambda: deliverer_sessions(clean) == 0, timeout=3)
    arrived_before = sum(keys_at_sink(control).values())

    # The lease (2 s) of the dead process expires; the rerun takes over its rows.
    wait_until(lambda: not rows(clean, "status = 'sending' AND claimed_until >= now()"), timeout=5)
    started = time.perf_counter()
    report = deliver_pending(clean, smtp_sender(handle.smtp_port), None, batch_size=100)
    elapsed = time.perf_counter() - started
    rate = report_rate(capsys, "rerun after kill -9 (1 process)", report.sent, elapsed)

    assert report.failed == report.dead == 0
    assert status_counts(clean) == {"sent": 1000}
    arrived = keys_at_sink(control)
    assert set(arrived) == {m.dedupe_key for m in messages(1000, "crash")}  # nothing lost
    duplicates = {key: n for key, n in arrived.items() if n > 1}
    # One message per connection in flight at most, each sent at most twice ...
    assert sum(n - 1 for n in duplicates.values()) <= connections * processes, duplicates
    assert set(duplicates.values()) <= {2}
    assert set(duplicates) <= in_flight  # ... and only a message that was in flight at the kill
    with capsys.disabled():
        print(f"[outbox] {processes} process(es) x {connections} connections: "
              f"kill -9 after {at_kill.get('sent')} sent ({arrived_before} at the sink, "
              f"{len(in_flight)} claimed in flight); rerun sent {report.sent}; "
              f"duplicates at the sink: {sum(n - 1 for n in duplicates.values())} {sorted(duplicates)}")
    assert rate > 0  # printed only: throughput is bench/common_outbox.py's to judge, never a unit test's


def test_concurrent_deliverers_never_send_twice(clean, sink, capsys):
    handle, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, messages(600, "concurrent"))
        conn.commit()
    reports = []

    def worker() -> None:
        reports.append(deliver_pending(clean, smtp_sender(handle.smtp_port), None, batch_size=25))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.perf_counter() - started
    report_rate(capsys, "3 concurrent deliverers", 600, elapsed)
    assert sum(r.sent for r in reports) == 600
    assert all(r.sent > 0 for r in reports)  # SKIP LOCKED shared the work
    arrived = keys_at_sink(control)
    assert len(arrived) == 600 and set(arrived.values()) == {1}
