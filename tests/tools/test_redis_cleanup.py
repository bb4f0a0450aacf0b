"""`make test` stops the redis-server it had to start (no Redis on 6379): a small pytest session
in a subprocess, with JOBYARD_REDIS_URL unset and the 6379 probe off, starts one; after the
session passed, failed, or was interrupted by Ctrl-C or SIGTERM, that redis-server is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import devenv

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("mode", "interrupt", "exit_code"), [
    ("pass", None, 0),
    ("fail", None, 1),
    ("hang", signal.SIGINT, 2),  # Ctrl-C
    ("hang", signal.SIGTERM, 2),
])
def test_the_redis_server_a_session_started_is_stopped(tmp_path, session_env, mode, interrupt, exit_code):
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "JOBYARD"))}
    env.update(JOBYARD_REDIS_PORT_PROBE="0", JOBYARD_PG_URL=session_env["server"],
               JOBYARD_PROBE_OUT=str(out), JOBYARD_PROBE_MODE=mode)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "tests/tools/redis_session_probe.py", "-q",
                             "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            # Ctrl-C must reach it even when the suite runs in the background of a
                            # non-interactive shell, whose children start with SIGINT ignored
                            # (inherited: Python then installs no KeyboardInterrupt handler).
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not out.exists() or not out.read_text():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the probe session did not report its redis-server"
            time.sleep(0.2)
        started = json.loads(out.read_text())
        assert started["url"] == f"redis://127.0.0.1:{started['port']}/0", "6379 must not have been used"
        assert devenv.proc_start_time(started["pid"]) == started["start"], "the redis-server was running"
        if interrupt is not None:
            proc.send_signal(interrupt)
        output = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()
    assert proc.returncode == exit_code, output
    assert devenv.proc_start_time(started["pid"]) != started["start"], f"redis-server left running:\n{output}"
    assert not devenv._port_open("127.0.0.1", started["port"])


def test_make_stop_stops_the_redis_server_jobyard_started(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBYARD_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("JOBYARD_REDIS_PORT_PROBE", "0")  # as if nothing answered on 6379
    monkeypatch.delenv("JOBYARD_REDIS_URL")
    url = devenv.redis_url(required=True)  # what `make run` does when it needs one
    started = json.loads((tmp_path / "state" / "redis.json").read_text())
    assert url.endswith(f":{started['port']}/0") and devenv._port_open("127.0.0.1", started["port"])
    try:
        result = subprocess.run([sys.executable, "-m", "tools.run", "stop"], cwd=ROOT, capture_output=True,
                                text=True, env=os.environ.copy(), timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"stopped redis-server on 127.0.0.1:{started['port']}" in result.stderr
        assert devenv.proc_start_time(started["pid"]) != started["start"]
        assert not (tmp_path / "state" / "redis.json").exists()
    finally:
        devenv.stop_started_redis()
