"""A live Airflow stack for the tests: api-server, scheduler, dag-processor and triggerer
(plus a Celery worker when asked), started as real processes by tools/run.py's `Stack`
against the session's databases, with the repo's DAGs and the test-only fixture DAGs as two
DAG bundles. The sandbox (SMTP sink) runs in the test process."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SESSION
from tools import devenv
from tools.run import Stack, admin_password, api_token, services, wait_for_api

ROOT = Path(__file__).resolve().parents[2]


def bundles() -> str:
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    return json.dumps([
        {"name": "dags-folder", "classpath": local, "kwargs": {"path": str(ROOT / "dags")}},
        {"name": "test-fixtures", "classpath": local, "kwargs": {"path": str(ROOT / "tests" / "fixture_dags")}},
    ])


class LiveAirflow:
    def __init__(self, executor: str):
        port = devenv.free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = dict(SESSION["env"])
        env.update({
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if executor == "celery" else "LocalExecutor",
            # A Redis db of its own so a dev stack's queued messages never reach this worker.
            "AIRFLOW__CELERY__BROKER_URL": SESSION["redis"].rsplit("/", 1)[0] + "/7",
        })
        self.env = env
        self.stack = Stack(env)
        self.stack.logs = SESSION["tmp"] / f"logs-{executor}"
        self.stack.logs.mkdir(exist_ok=True)
        wanted = {"api-server", "scheduler", "dag-processor", "triggerer", "celery-worker"}
        for name, cmd in services(executor).items():
            if name in wanted:
                self.stack.start(name, cmd)
        wait_for_api(self.stack, self.base)
        self.token = api_token(self.base, admin_password({**self.stack.env}))

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"{self.base}/api/v2{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
            self.check_alive()
            time.sleep(2)
        raise TimeoutError(f"{dag_id} was not parsed within {timeout}s; logs in {self.stack.logs}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            self.check_alive()
            time.sleep(1)
        raise TimeoutError(f"{dag_id} {run_id} still running after {timeout}s; logs in {self.stack.logs}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def check_alive(self) -> None:
        if dead := self.stack.dead():
            raise RuntimeError(f"{dead} exited; logs in {self.stack.logs}")

    def stop(self) -> None:
        self.stack.stop()


@pytest.fixture(scope="module")
def live_local(airflow_db, app_db, sandbox):
    stack = LiveAirflow("local")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def live_celery(airflow_db, app_db, sandbox):
    stack = LiveAirflow("celery")
    yield stack
    stack.stop()
