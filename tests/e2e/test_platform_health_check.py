"""platform_health_check end to end with dag.test(): readings stored, one alert email per
transition (down, then recovered) delivered to the SMTP sink, nothing sent twice on a rerun."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_states
from tools import devenv

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


@pytest.fixture
def own_redis(monkeypatch):
    """A redis-server of the test's own that the test can stop and start again."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test (apt-get install redis-server)"
    port = devenv.free_port()
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT",
                       json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": port}))

    class Server:
        proc = None
        target = f"127.0.0.1:{port}"

        def start(self):
            self.proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                                         stdout=subprocess.DEVNULL)
            for _ in range(100):
                if devenv._port_open("127.0.0.1", port):
                    return
                time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            self.proc.terminate()
            self.proc.wait(10)

    server = Server()
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def _checks(app_db, at) -> dict[str, bool]:
    with psycopg.connect(app_db) as conn:
        return dict(conn.execute(
            "SELECT check_name, bool_and(ok) FROM platform.health_readings WHERE checked_at = %s GROUP BY 1",
            (at,)).fetchall())


def test_health_check_stores_readings_and_alerts_once_per_transition(repo_dags, app_db, sandbox, own_redis):
    dag = repo_dags["platform_health_check"]
    sandbox.clear_emails()
    # dag.test at logical date T gives the interval ending at T: readings are keyed by T.
    run = run_dag(dag, T0)
    assert run.state == "success", task_states(run)
    assert _checks(app_db, T0) == {"database": True, "redis": True, "disk": True, "memory": True,
                                   "backlog": True}
    assert sandbox.emails() == []

    own_redis.stop()
    for _ in range(2):  # the rerun of the interval sends nothing more
        run = run_dag(dag, T0 + STEP)
        assert run.state == "success", task_states(run)
    assert _checks(app_db, T0 + STEP)["redis"] is False
    [down] = sandbox.emails()
    assert down["subject"] == f"[jobyard] redis {own_redis.target} is DOWN"
    assert down["rcpt_tos"] == ["platform-owners@jobyard.local"]

    own_redis.start()
    run = run_dag(dag, T0 + 2 * STEP)
    assert run.state == "success", task_states(run)
    assert [m["subject"] for m in sandbox.emails()] == [down["subject"],
                                                        f"[jobyard] redis {own_redis.target} RECOVERED"]
