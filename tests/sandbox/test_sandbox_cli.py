"""`python -m sandbox` as a process: env ports, SANDBOX_FAULTS preset, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if requests.get(f"{url}/_sandbox/health", timeout=1).json() == {"ok": True}:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"sandbox at {url} not healthy after {timeout}s")


def test_cli_serves_until_sigterm(tmp_path, free_ports):
    http_port, smtp_port = free_ports(2)
    env = {**os.environ, "JOBYARD_SANDBOX_PORT": str(http_port),
           "JOBYARD_SMTP_PORT": str(smtp_port), "SANDBOX_FAULTS": '{"fcm": {"status_5xx": 2}}'}
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--data-dir", str(tmp_path)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_healthy(url, process)
        assert requests.get(f"{url}/_sandbox/faults", timeout=5).json()["fcm"]["status_5xx"] == 2
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0, stderr
        assert "sandbox stopping" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
