"""Test session environment: fresh databases, Airflow pointed at them, the sandbox ports.

Everything is set in `pytest_configure`, before any test module imports Airflow. The session
creates its own databases (dropped at the end) on the server tools/devenv.py picks: a given
JOBYARD_PG_URL, else 127.0.0.1:5432, else an embedded PostgreSQL.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import devenv  # noqa: E402

# A fixed key: Airflow's unit-test mode would make a random one per process.
TEST_FERNET_KEY = "Gq3bl0v4bWl8w0Zq3cF5gq6tq1Sx2mM3c2d8q0x7eJk="

SESSION: dict = {}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    tmp = Path(tempfile.mkdtemp(prefix="jobyard-test-"))
    os.environ["JOBYARD_STATE"] = str(tmp / "state")
    server = devenv.server_url()
    tag = secrets.token_hex(4)
    names = {"airflow": f"jobyard_test_{tag}_airflow", "app": f"jobyard_test_{tag}_app"}
    airflow_db = devenv.ensure_database(server, names["airflow"])
    app_db = devenv.ensure_database(server, names["app"])
    redis = devenv.redis_url(required=True)
    # A redis-server devenv had to start (none on 6379) is daemonized: stop it however the
    # session ends. pytest_unconfigure covers success, failure and Ctrl-C; atexit what skips it;
    # SIGTERM/SIGHUP become a KeyboardInterrupt so pytest unconfigures (databases dropped too).
    atexit.register(_stop_started_redis)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    smtp_port, http_port = devenv.free_port(), devenv.free_port()
    env = devenv.airflow_env(airflow_db, app_db, redis, home=tmp / "airflow")
    conns = devenv.connections(app_db, airflow_db, redis, sandbox_smtp=smtp_port, sandbox_http=http_port)
    env.update(devenv.connection_env(conns, devenv.variables()))
    env.update({
        "AIRFLOW__CORE__FERNET_KEY": TEST_FERNET_KEY,
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "JOBYARD_SANDBOX_PORT": str(http_port),
        "JOBYARD_SMTP_PORT": str(smtp_port),
        "JOBYARD_SANDBOX_URL": f"http://127.0.0.1:{http_port}",
        # The shared API limits compressed (2/min and 1/min in production) so that runs do not
        # wait minutes; the limiter tests set their own.
        "AIRFLOW_VAR_RATE_LIMITS": '{"soundcharts": [50, 1], "acrcloud": [50, 1]}',
    })
    os.environ.update(env)
    SESSION.update(server=server, names=names, tmp=tmp, env=env, airflow_db=airflow_db, app_db=app_db,
                   redis=redis, smtp_port=smtp_port, http_port=http_port)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


def _stop_started_redis() -> None:
    if not SESSION.get("redis_stopped"):  # once: unconfigure removes the state folder after it
        SESSION["redis_stopped"] = True
        devenv.stop_started_redis()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not SESSION:
        return
    _stop_started_redis()
    if "airflow.settings" in sys.modules:  # close Airflow's pooled connections before the drop
        sys.modules["airflow.settings"].dispose_orm()
    for name in SESSION["names"].values():
        devenv.drop_database(SESSION["server"], name)
    if os.environ.get("JOBYARD_KEEP_TEST_STATE"):  # logs of live stacks, for debugging
        print(f"test state kept in {SESSION['tmp']}")
    else:
        shutil.rmtree(SESSION["tmp"], ignore_errors=True)


@pytest.fixture(scope="session")
def session_env() -> dict:
    return SESSION


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """The session's Airflow metadata database, migrated, with the dev pools."""
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   stdout=subprocess.DEVNULL, env=os.environ.copy())
    from include.orchestration.pools import POOLS

    for name, (slots, desc) in POOLS.items():
        subprocess.run([str(Path(sys.executable).with_name("airflow")), "pools", "set", name, str(slots), desc],
                       check=True, stdout=subprocess.DEVNULL)
    return SESSION["airflow_db"]


@pytest.fixture(scope="session")
def app_db() -> str:
    """The session's app database, migrated to head."""
    devenv.migrate_app_db(SESSION["app_db"])
    return SESSION["app_db"]


@pytest.fixture(scope="session")
def sandbox():
    """The sandbox (SMTP sink + API stand-ins) on the session's ports."""
    from sandbox.client import SandboxControl
    from sandbox.server import start_in_thread

    handle = start_in_thread(SESSION["http_port"], SESSION["smtp_port"], SESSION["tmp"] / "sandbox")
    yield SandboxControl(f"http://127.0.0.1:{SESSION['http_port']}")
    handle.stop()


@pytest.fixture(autouse=True)
def _sandbox_faults_off_after_each_test(request):
    """Fault switches are the sandbox's (session-wide) state: one test's must never reach the next."""
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset_faults()
