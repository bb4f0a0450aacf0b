"""`make run` / `make stop`: set everything up and run the whole stack in the foreground.

    python -m tools.run [--executor local|celery]   # Ctrl-C stops every process it started
    python -m tools.run stop                         # the same, from another terminal

Each service runs in its own process group with its log in .state/logs/; on SIGINT or
SIGTERM every group gets SIGTERM, then SIGKILL after a grace period, so nothing is orphaned.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools import devenv

GRACE_SECONDS = 20
CELERY_QUEUES = "media,emails,users,analytics,maintenance,default"


def _pidfile() -> Path:
    return devenv.state_dir() / "run.json"


def services(executor: str) -> dict[str, list[str]]:
    py = sys.executable
    airflow = str(Path(py).with_name("airflow"))
    procs = {
        "sandbox": [py, "-m", "sandbox", "--http-port", str(devenv.SANDBOX_HTTP_PORT),
                    "--smtp-port", str(devenv.SANDBOX_SMTP_PORT),
                    "--data-dir", str(devenv.state_dir() / "sandbox")],
        "api-server": [airflow, "api-server"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer"],
    }
    if executor == "celery":
        procs["celery-worker"] = [airflow, "celery", "worker", "-q", CELERY_QUEUES, "--concurrency", "4"]
        procs["flower"] = [airflow, "celery", "flower", "--port", "5555"]
    return procs


class Stack:
    def __init__(self, env: dict[str, str]):
        self.env = {**os.environ, **env}
        self.env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + self.env.get("PATH", "")
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = devenv.state_dir() / "logs"
        self.logs.mkdir(exist_ok=True)

    def start(self, name: str, cmd: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child's life
        self.procs[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=devenv.ROOT)

    def stop(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                devenv.log(f"{name} ignored SIGTERM for {GRACE_SECONDS}s: killing it")
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers of the group (task runners)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass  # already gone: nothing to stop


def _get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
        return resp.read()


def wait_for_api(stack: Stack, base_url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.dead():
            raise RuntimeError(f"{stack.dead()} exited during start-up; see {stack.logs}")
        try:
            if json.loads(_get(f"{base_url}/api/v2/monitor/health")).get("metadatabase"):
                return
        except OSError:
            pass  # not listening yet
        time.sleep(1)
    raise RuntimeError(f"the API did not answer within {timeout:.0f}s; see {stack.logs}/api-server.log")


def admin_password(env: dict[str, str]) -> str:
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    return json.loads(path.read_text())["admin"]


def api_token(base_url: str, password: str) -> str:
    req = urllib.request.Request(f"{base_url}/auth/token", method="POST",
                                 data=json.dumps({"username": "admin", "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local URL
        return json.loads(resp.read())["access_token"]


def unpause_all(base_url: str, token: str, expected: int, timeout: float = 120) -> int:
    """Wait until the dag-processor registered the DAGs, then unpause every one (a DAG paused
    in an earlier session stays paused otherwise)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = time.monotonic() + timeout
    while True:
        req = urllib.request.Request(f"{base_url}/api/v2/dags?limit=1000", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local URL
            dags = json.loads(resp.read())["dags"]
        if len(dags) >= expected or time.monotonic() > deadline:
            break
        time.sleep(2)
    for d in dags:
        if d["is_paused"]:
            req = urllib.request.Request(f"{base_url}/api/v2/dags/{d['dag_id']}", method="PATCH",
                                         data=json.dumps({"is_paused": False}).encode(), headers=headers)
            urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - local URL
    return len(dags)


def count_dag_files() -> int:
    return sum(1 for p in (devenv.ROOT / "dags").rglob("*.py") if not p.name.startswith("_"))


def run(executor: str) -> int:
    t0 = time.monotonic()
    env = devenv.resolve()
    if executor == "celery":
        if "JOBYARD_REDIS_URL" not in env:
            devenv.redis_url(required=True)  # exits saying how to get Redis
        env["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"
    devenv.setup(env)
    devenv.seed(env["JOBYARD_APP_DB_URL"], scale=int(os.environ.get("SCALE", "1")))

    stack = Stack(env)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name, cmd in services(executor).items():
        stack.start(name, cmd)
    _pidfile().write_text(json.dumps({"supervisor": os.getpid(),
                                      "groups": {n: p.pid for n, p in stack.procs.items()}}))
    base = "http://127.0.0.1:8080"
    try:
        wait_for_api(stack, base)
        password = admin_password(env)
        dags = unpause_all(base, api_token(base, password), expected=count_dag_files())
        sandbox = f"http://127.0.0.1:{devenv.SANDBOX_HTTP_PORT}"
        print(f"""
jobyard is up ({executor} executor) in {time.monotonic() - t0:.0f}s, {dags} DAGs unpaused.
  Airflow UI     {base}   login: admin / {password}
  Caught emails  {sandbox}/emails   (JSON: {sandbox}/_sandbox/emails)
  Logs           {stack.logs}/   task logs: {env['AIRFLOW_HOME']}/logs/
  Backups        {devenv.state_dir() / 'backups'}/""" + (
            "\n  Flower         http://127.0.0.1:5555" if executor == "celery" else "") + """
Ctrl-C (or `make stop` in another terminal) stops everything.
""", flush=True)
        while not stopping:
            if dead := stack.dead():
                devenv.log(f"{', '.join(dead)} exited unexpectedly; see {stack.logs}/; stopping")
                return_code = 1
                break
            time.sleep(1)
        else:
            return_code = 0
    except Exception as exc:  # start-up failed: report, then still stop what was started
        devenv.log(f"start-up failed: {exc}")
        return_code = 1
    finally:
        devenv.log("stopping all services")
        stack.stop()
        _pidfile().unlink(missing_ok=True)
    return return_code


def stop() -> int:
    """Stop a running `make run` from another terminal."""
    path = _pidfile()
    if not path.exists():
        devenv.log("nothing is running (no .state/run.json)")
        return 0
    info = json.loads(path.read_text())
    try:
        os.kill(info["supervisor"], signal.SIGTERM)
    except ProcessLookupError:  # the supervisor died: stop its services directly
        for pid in info["groups"].values():
            _signal_group(pid, signal.SIGTERM)
        time.sleep(GRACE_SECONDS / 2)
        for pid in info["groups"].values():
            _signal_group(pid, signal.SIGKILL)
        path.unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + GRACE_SECONDS + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    devenv.log("stopped" if not path.exists() else "the supervisor did not finish stopping in time")
    return 0 if not path.exists() else 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.run")
    parser.add_argument("action", nargs="?", default="run", choices=["run", "stop"])
    parser.add_argument("--executor", default=os.environ.get("EXECUTOR", "local"), choices=["local", "celery"])
    args = parser.parse_args()
    sys.exit(run(args.executor) if args.action == "run" else stop())


if __name__ == "__main__":
    main()
