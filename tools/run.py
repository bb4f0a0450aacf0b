"""`make run` / `make stop`: set everything up and run the whole stack in the foreground.

    python -m tools.run [--executor local|celery]   # Ctrl-C stops every process it started
    python -m tools.run stop                         # the same, from another terminal

Each service runs in its own process group with its log in .state/logs/. The supervisor
(this process):
- restarts a service that exits in place, after 1, 2, 4, 8, 16 s; a service that needs a 6th
  restart within 5 minutes is broken, so the supervisor stops the whole stack and says so.
  Before a restart, what is left of the crashed service (worker forks, task processes) is
  killed, so two generations of a service never run side by side.
- on SIGINT, SIGTERM or SIGHUP (a closed terminal) gives every group SIGTERM, then SIGKILL
  after a grace period.
- never leaves orphans when it dies itself: each service gets SIGTERM from the kernel
  (PR_SET_PDEATHSIG) and a watchdog (tools/reaper.py) stops every process of the run, task
  processes in groups of their own included (they carry JOBYARD_RUN_ID in their environment).
- records the run in .state/run.json (pids with their start times, the run id), so `make stop`
  and the next `make run` find and stop the leftovers of a supervisor that died anyway.
Restarts, give-ups and stops are logged on stderr and in .state/logs/supervisor.log.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tools import devenv, reaper

GRACE_SECONDS = 20
# Delays before the 1st..5th restart of a service within RESTART_WINDOW seconds; one more crash
# in that window and the stack stops (a crash loop would only fill the logs).
BACKOFF_SECONDS = (1, 2, 4, 8, 16)
RESTART_WINDOW = 300
CELERY_QUEUES = "media,emails,users,analytics,maintenance,default"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"

PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


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


def _die_with_parent(parent: int) -> Callable[[], None]:
    """preexec_fn: the child gets SIGTERM when the supervisor dies (however it dies). Only the
    direct child: its forks are the watchdog's (tools/reaper.py)."""
    def preexec() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)
    return preexec


def _describe_exit(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


class Stack:
    """The services of one run. `supervise()` (called in a loop) restarts crashed services;
    without it (the live-stack tests) a crashed service shows in `dead()`."""

    def __init__(self, env: dict[str, str], grace: float = GRACE_SECONDS,
                 backoff: tuple[float, ...] = BACKOFF_SECONDS, window: float = RESTART_WINDOW,
                 pidfile: Path | None = None):
        self.run_id = secrets.token_hex(8)
        self.env = {**os.environ, **env}
        self.env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + self.env.get("PATH", "")
        self.env[reaper.TAG] = self.run_id  # inherited by every child: what the watchdog looks for
        # setproctitle (Airflow, Celery) otherwise overwrites /proc/<pid>/environ with the title,
        # and the tag with it: the api-server and celery processes would escape the watchdog.
        self.env["SPT_NOENV"] = "1"
        self.procs: dict[str, subprocess.Popen] = {}
        self.cmds: dict[str, list[str]] = {}
        self.logs = devenv.state_dir() / "logs"
        self.logs.mkdir(exist_ok=True)
        self.grace, self.backoff, self.window = grace, backoff, window
        self.restarts: dict[str, list[float]] = {}  # monotonic times of each service's restarts
        self.pending: dict[str, float] = {}  # service -> monotonic time its restart is due
        self.pidfile = pidfile
        self.watchdog: subprocess.Popen | None = None

    def log(self, msg: str) -> None:
        devenv.log(msg)
        with open(self.logs / "supervisor.log", "a") as out:
            out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def _start_watchdog(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != reaper.TAG}
        log = open(self.logs / "supervisor.log", "ab")  # noqa: SIM115 - the watchdog's, for its life
        self.watchdog = subprocess.Popen(
            [sys.executable, "-m", "tools.reaper", self.run_id, str(self.grace)], stdin=subprocess.PIPE,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=devenv.ROOT, env=env)
        log.close()

    def start(self, name: str, cmd: list[str]) -> None:
        if self.watchdog is None:
            self._start_watchdog()
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child's, for its life
        self.cmds[name] = cmd
        self.procs[name] = subprocess.Popen(cmd, env={**self.env, reaper.SERVICE_TAG: name}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            cwd=devenv.ROOT, preexec_fn=_die_with_parent(os.getpid()))
        log.close()  # the child has its own descriptor
        self.record()

    def record(self) -> None:
        """run.json: what `make stop` / the next `make run` need if this process dies."""
        if self.pidfile is None:
            return
        def ident(pid: int) -> dict:
            return {"pid": pid, "start": devenv.proc_start_time(pid)}
        info = {"run_id": self.run_id, "grace": self.grace, "supervisor": ident(os.getpid()),
                "watchdog": ident(self.watchdog.pid) if self.watchdog else None,
                "services": {n: ident(p.pid) for n, p in self.procs.items()}}
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.pidfile)

    def supervise(self) -> str | None:
        """One step of the restart loop: schedules a restart of each service that exited, starts
        those that are due. Returns the name of a service it gave up on (the caller stops)."""
        now = time.monotonic()
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is None or name in self.pending:
                continue
            # Its forks and task processes would run on unsupervised beside the new generation.
            left = reaper.terminate(self.run_id, grace=0, service=name)
            recent = [t for t in self.restarts.get(name, []) if now - t < self.window]
            if len(recent) >= len(self.backoff):
                self.log(f"{name} {_describe_exit(code)} after {len(recent)} restarts within "
                         f"{self.window:.0f}s: giving up; see {self.logs / name}.log")
                return name
            delay = self.backoff[len(recent)]
            self.log(f"{name} {_describe_exit(code)}" + (f" ({len(left)} leftover processes killed)" if left else "")
                     + f"; restarting in {delay:g}s (restart {len(recent) + 1} of at most {len(self.backoff)}"
                     f" within {self.window:.0f}s); see {self.logs / name}.log")
            self.pending[name] = now + delay
        for name, due in list(self.pending.items()):
            if now >= due:
                del self.pending[name]
                self.restarts.setdefault(name, []).append(now)
                self.start(name, self.cmds[name])
                self.log(f"{name} restarted (pid {self.procs[name].pid})")
        return None

    def stop(self) -> None:
        self.pending.clear()
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{name} ignored SIGTERM for {self.grace:g}s: killing it")
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers of the group
        # Task processes in groups of their own, forks that outlived their service.
        reaper.terminate(self.run_id, grace=max(1.0, deadline - time.monotonic()))
        if self.watchdog is not None:
            self.watchdog.stdin.write(b"done\n")  # a clean stop: nothing left for it to do
            self.watchdog.stdin.close()
            self.watchdog.wait(timeout=10)
            self.watchdog = None

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None and name not in self.pending]


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass  # already gone: nothing to stop


def _get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
        return resp.read()


def wait_for_api(stack: Stack, base_url: str, timeout: float = 120, supervise: bool = False) -> None:
    """Until the API answers. A service that exits meanwhile fails the start-up, unless
    `supervise` (make run): then it is restarted like later on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervise:
            if gave_up := stack.supervise():
                raise RuntimeError(f"{gave_up} keeps exiting during start-up; see {stack.logs}")
        elif stack.dead():
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


# --- the recorded run (.state/run.json) ----------------------------------------------------

def _recorded() -> dict | None:
    path = _pidfile()
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if "run_id" not in info:  # written by an older tools/run.py: its pids cannot be verified
        devenv.log(f"ignoring {path} of an older version (pids {info}); stop that run by hand if it still runs")
        path.unlink()
        return None
    return info


def _is_running(ident: dict | None) -> bool:
    """Whether a recorded {pid, start} is still that process (not a reuse of its pid)."""
    return bool(ident) and devenv.proc_start_time(ident["pid"]) == ident["start"]


def stop_leftovers(info: dict) -> list[int]:
    """Stop what is left of a run whose supervisor died: every process carrying its run id
    (verified in /proc/<pid>/environ, so a reused pid is never hit), the watchdog if alive."""
    if _is_running(info.get("watchdog")):
        os.kill(info["watchdog"]["pid"], signal.SIGKILL)  # it would race us for the same processes
    found = reaper.terminate(info["run_id"], info.get("grace", GRACE_SECONDS)) if info.get("run_id") else []
    _pidfile().unlink(missing_ok=True)
    return found


class _Stop(BaseException):
    """Raised by the signal handler: leaves whatever the supervisor was doing (start-up too)."""


def serve(env: dict[str, str], procs: dict[str, list[str]], on_up: Callable[[Stack], None] | None = None,
          grace: float = GRACE_SECONDS, backoff: tuple[float, ...] = BACKOFF_SECONDS,
          window: float = RESTART_WINDOW) -> int:
    """Start `procs` and supervise them until a signal or a give-up; `on_up(stack)` runs once
    they are started (make run: wait for the API, print the banner)."""
    stack = Stack(env, grace=grace, backoff=backoff, window=window, pidfile=_pidfile())
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:  # a second Ctrl-C must not interrupt the stop itself
            stopping = True
            raise _Stop(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
        signal.signal(sig, on_signal)
    return_code = 1
    try:
        for name, cmd in procs.items():
            stack.start(name, cmd)
        if on_up is not None:
            on_up(stack)
        while True:
            if gave_up := stack.supervise():
                stack.log(f"stopping the stack: {gave_up} keeps crashing")
                break
            time.sleep(0.5)
    except _Stop as sig:
        stack.log(f"{signal.Signals(sig.args[0]).name} received")
        return_code = 0
    except Exception as exc:  # start-up failed: report, then still stop what was started
        stack.log(f"start-up failed: {exc}")
    finally:
        stopping = True
        stack.log("stopping all services")
        stack.stop()
        _pidfile().unlink(missing_ok=True)
        stack.log("stopped")
    return return_code


def run(executor: str) -> int:
    t0 = time.monotonic()
    if info := _recorded():
        if _is_running(info.get("supervisor")):
            devenv.log(f"jobyard is already running (supervisor pid {info['supervisor']['pid']}); `make stop` first")
            return 1
        found = stop_leftovers(info)
        devenv.log(f"stopped {len(found)} leftover processes of a run whose supervisor died")
    env = devenv.resolve()
    if executor == "celery":
        if "JOBYARD_REDIS_URL" not in env:
            devenv.redis_url(required=True)  # exits saying how to get Redis
        env["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"
    devenv.setup(env)
    devenv.seed_if_empty(env["JOBYARD_APP_DB_URL"], scale=int(os.environ.get("SCALE", "1")))
    base = env.get("AIRFLOW__API__BASE_URL", os.environ.get("AIRFLOW__API__BASE_URL", DEFAULT_BASE_URL))

    def on_up(stack: Stack) -> None:
        wait_for_api(stack, base, supervise=True)
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
A service that crashes is restarted (see .state/logs/supervisor.log).
Ctrl-C (or `make stop` in another terminal) stops everything.
""", flush=True)

    try:
        return serve(env, services(executor), on_up)
    finally:
        devenv.stop_started_redis()  # only one that devenv started (and recorded) itself


def stop() -> int:
    """Stop a running `make run` from another terminal, or what is left of one."""
    info = _recorded()
    if info is None:
        devenv.log("nothing is running (no .state/run.json)")
    elif _is_running(info.get("supervisor")):
        os.kill(info["supervisor"]["pid"], signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS + 10
        while _is_running(info["supervisor"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _is_running(info["supervisor"]):
            devenv.log("the supervisor did not finish stopping in time")
            return 1
        devenv.log("stopped")
    else:
        found = stop_leftovers(info)
        devenv.log(f"the supervisor had died: stopped {len(found)} leftover processes")
    devenv.stop_started_redis()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.run")
    parser.add_argument("action", nargs="?", default="run", choices=["run", "stop"])
    parser.add_argument("--executor", default=os.environ.get("EXECUTOR", "local"), choices=["local", "celery"])
    args = parser.parse_args()
    sys.exit(run(args.executor) if args.action == "run" else stop())


if __name__ == "__main__":
    main()
