"""tools/run.py's supervisor on cheap dummy services (sleep, sh): a crashed service restarts in
place with a bounded backoff while the others keep running; a crash loop stops the stack; the
supervisor's death (SIGKILL, SIGHUP) leaves no process of the run behind; `make stop` finds the
leftovers of a dead supervisor and kills only processes of that run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import reaper
from tools.run import Stack

ROOT = Path(__file__).resolve().parents[2]

# One service of each kind the real stack has: a plain process, one that forks workers, one
# that ignores SIGTERM (needs the SIGKILL), and one whose child moves to a process group of its
# own the way Airflow's task processes do (setpgid), out of reach of a kill of the service's group.
SERVICES = {
    "plain": ["sleep", "1000"],
    "forks": ["sh", "-c", "sleep 1001 & sleep 1002 & wait"],
    "stubborn": ["sh", "-c", "trap '' TERM; sleep 1003 & wait"],
    "own-group": ["sh", "-c", f"{sys.executable} -c 'import os, time; os.setpgid(0, 0); time.sleep(1004)' & wait"],
    # Airflow and Celery set their process titles, which by default overwrites /proc/<pid>/environ.
    # This one also ignores SIGTERM: only the watchdog's SIGKILL, which finds it by its tag, ends it.
    "titled": [sys.executable, "-c", "import setproctitle, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
               " setproctitle.setproctitle('t' * 300); time.sleep(1005)"],
}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JOBYARD_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def test_a_crashed_service_restarts_in_place_with_backoff_then_the_stack_gives_up(state, capsys):
    stack = Stack({}, grace=2, backoff=(0.3, 0.6, 1.2), window=60)
    try:
        stack.start("worker", ["sh", "-c", "sleep 1000 & wait"])
        stack.start("other", ["sleep", "1000"])
        other = stack.procs["other"].pid
        delays = []
        for _ in range(3):
            old = stack.procs["worker"]
            fork = _wait(lambda old=old: reaper.tagged(stack.run_id, "worker") if len(
                reaper.tagged(stack.run_id, "worker")) == 2 else None, 5, "the worker and its fork")
            os.kill(old.pid, signal.SIGKILL)
            old.wait()
            t0 = time.monotonic()
            assert stack.supervise() is None
            assert not any(_alive(pid) for pid in fork), "the crashed worker's fork must be killed before a restart"
            assert stack.dead() == []  # a pending restart is not a dead service
            _wait(lambda old=old: stack.supervise() is None and stack.procs["worker"] is not old, 5, "a restart")
            delays.append(time.monotonic() - t0)
            assert stack.procs["worker"].poll() is None
            assert stack.procs["other"].pid == other and _alive(other), "the other services keep running"
        # Never earlier than the backoff, in growing steps; late by at most a loaded machine's second.
        assert all(want - 0.05 <= got <= want + 1.0 for got, want in zip(delays, (0.3, 0.6, 1.2), strict=True)), delays

        os.kill(stack.procs["worker"].pid, signal.SIGKILL)
        stack.procs["worker"].wait()
        assert stack.supervise() == "worker", "a 4th crash within the window exceeds the 3 allowed restarts"
    finally:
        stack.stop()
    assert reaper.tagged(stack.run_id) == []
    err = capsys.readouterr().err
    log = (state / "logs" / "supervisor.log").read_text()
    for text in ("worker was killed by SIGKILL", "restarting in 0.3s (restart 1 of at most 3 within 60s)",
                 "restarting in 1.2s", "worker restarted (pid", "after 3 restarts within 60s: giving up"):
        assert text in err and text in log, text


def test_a_restart_count_expires_after_the_window(state):
    stack = Stack({}, grace=2, backoff=(0.1,), window=0.5)
    try:
        stack.start("worker", ["sleep", "1000"])
        for _ in range(3):  # one restart allowed per window: crashes further apart never give up
            old = stack.procs["worker"]
            os.kill(old.pid, signal.SIGKILL)
            old.wait()
            _wait(lambda old=old: stack.supervise() is None and stack.procs["worker"] is not old, 5, "a restart")
            time.sleep(0.6)
    finally:
        stack.stop()


def _start_supervisor(state: Path, grace: float = 3) -> subprocess.Popen:
    """tools.run.serve() as `make run` runs it, on the dummy services."""
    env = {**os.environ, "JOBYARD_STATE": str(state)}
    code = ("import json, sys; from tools.run import serve; "
            f"sys.exit(serve({{}}, json.loads(sys.argv[1]), grace={grace}))")
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(SERVICES)], cwd=ROOT, env=env)
    run_json = state / "run.json"

    def ready():
        if not run_json.exists():
            return None
        info = json.loads(run_json.read_text())
        # every service and its children: plain 1, forks 3, stubborn 2, own-group 2, titled 1
        return info if set(info["services"]) == set(SERVICES) and len(reaper.tagged(info["run_id"])) >= 9 else None

    try:
        proc.info = _wait(ready, 30, "the supervisor to start every service")
        titled = proc.info["services"]["titled"]["pid"]
        _wait(lambda: Path(f"/proc/{titled}/cmdline").read_bytes().startswith(b"ttt"), 10, "the process title")
        assert titled in reaper.tagged(proc.info["run_id"]), "a process that set its title must keep its tag"
    except BaseException:
        proc.terminate()  # a clean stop of whatever it started
        proc.wait(timeout=30)
        raise
    return proc


def test_no_process_of_the_run_outlives_a_killed_supervisor(state):
    sup = _start_supervisor(state)
    run_id = sup.info["run_id"]
    bystander = subprocess.Popen(["sleep", "1000"])  # not of the run: must survive
    try:
        os.kill(sup.pid, signal.SIGKILL)
        sup.wait()
        _wait(lambda: reaper.tagged(run_id) == [], 30, "every process of the run to be gone")
        _wait(lambda: not _alive(sup.info["watchdog"]["pid"]), 10, "the watchdog to exit")
        assert bystander.poll() is None
        assert "the supervisor of run" in (state / "logs" / "supervisor.log").read_text()
    finally:
        bystander.kill()
        reaper.terminate(run_id, grace=0)


def test_sighup_stops_the_stack_like_sigterm(state):
    sup = _start_supervisor(state)
    run_id = sup.info["run_id"]
    try:
        os.kill(sup.pid, signal.SIGHUP)  # the terminal of `make run` closed
        assert sup.wait(timeout=30) == 0
        assert reaper.tagged(run_id) == []
        assert not (state / "run.json").exists()
        log = (state / "logs" / "supervisor.log").read_text()
        assert "SIGHUP received" in log and "stubborn ignored SIGTERM for 3s: killing it" in log
    finally:
        reaper.terminate(run_id, grace=0)


def test_make_stop_kills_the_leftovers_of_a_dead_supervisor_and_nothing_else(state):
    sup = _start_supervisor(state)
    info = sup.info
    decoy = None
    try:
        # Both the supervisor and its watchdog die: the SIGTERM of PDEATHSIG ends the direct
        # children that obey it; the forks, the stubborn one and the own-group one remain.
        os.kill(info["watchdog"]["pid"], signal.SIGKILL)
        os.kill(sup.pid, signal.SIGKILL)
        sup.wait()
        time.sleep(1)
        leftovers = reaper.tagged(info["run_id"])
        assert len(leftovers) >= 3
        # The recorded supervisor pid now names another process (a reused pid, start time differs).
        decoy = subprocess.Popen(["sleep", "1000"])
        recorded = json.loads((state / "run.json").read_text())
        recorded["supervisor"]["pid"] = decoy.pid
        (state / "run.json").write_text(json.dumps(recorded))
        result = subprocess.run([sys.executable, "-m", "tools.run", "stop"], cwd=ROOT, capture_output=True,
                                text=True, env={**os.environ, "JOBYARD_STATE": str(state)}, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "the supervisor had died: stopped" in result.stderr
        assert reaper.tagged(info["run_id"]) == []
        assert not any(_alive(pid) for pid in leftovers)
        assert decoy.poll() is None, "a pid that is no longer ours must not be signalled"
        assert not (state / "run.json").exists()
    finally:
        if decoy is not None:
            decoy.kill()
        reaper.terminate(info["run_id"], grace=0)
