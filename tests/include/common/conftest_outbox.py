"""Fixtures of the outbox tests (imported explicitly by tests/include/common/test_outbox*.py):
a real PostgreSQL database of the module's own, migrated to head, and the real sandbox (SMTP
sink + FCM + OAuth token endpoint) on free ports."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from include.common.smtp import SmtpSender  # noqa: E402
from tools import devenv  # noqa: E402

FROM_EMAIL = "jobyard@localhost"
OWNER = "platform-owners@jobyard.local"


@pytest.fixture(scope="module")
def outbox_db(request) -> str:
    """A database of this test module's own, migrated to head; dropped afterwards."""
    with devenv.scratch_database(f"jobyard_test_{request.module.__name__.rsplit('.', 1)[-1][-12:]}") as url:
        yield url


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    """The sandbox on free ports: (handle, SandboxControl)."""
    from sandbox.client import SandboxControl
    from sandbox.server import start_in_thread

    handle = start_in_thread(devenv.free_port(), devenv.free_port(), tmp_path_factory.mktemp("sandbox"))
    try:
        yield handle, SandboxControl(handle.base_url)
    finally:
        handle.stop()


@pytest.fixture
def clean(outbox_db, sink):
    """An empty outbox and an empty sandbox before each test."""
    with psycopg.connect(outbox_db, autocommit=True) as conn:
        conn.execute("TRUNCATE platform.outbox RESTART IDENTITY")
    sink[1].reset()
    return outbox_db


def smtp_sender(port: int, timeout: float = 5) -> SmtpSender:
    return SmtpSender("127.0.0.1", port, use_tls=False, use_ssl=False, from_email=FROM_EMAIL, timeout=timeout)


def rows(dsn: str, where: str = "true") -> list[dict]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM platform.outbox WHERE {where} ORDER BY id").fetchall()


def status_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM platform.outbox GROUP BY status").fetchall())


def keys_at_sink(control) -> Counter:
    """How many times each dedupe key arrived at the SMTP sink (X-Dedupe-Key header)."""
    return Counter(e["dedupe_key"] for e in control.emails())


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout}s")
        time.sleep(interval)
