"""Run the sandbox: SMTP sink and HTTP app in one process, either in background threads
(`start_in_thread`, for pytest fixtures) or blocking until SIGTERM/SIGINT (`serve`)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller

from sandbox.app import create_app
from sandbox.registry import load_apis
from sandbox.smtp_sink import start_smtp_sink
from sandbox.state import SandboxState

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # loopback by default; containers pass --host 0.0.0.0
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".state" / "sandbox"
START_TIMEOUT = 10.0


@dataclass
class SandboxHandle:
    http_port: int
    smtp_port: int
    data_dir: Path
    state: SandboxState
    _http: uvicorn.Server
    _http_thread: threading.Thread
    _smtp: Controller
    host: str = HOST
    _stopped: bool = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def reset_faults(self) -> None:
        """Every API's fault switches off (the in-process twin of ``DELETE /faults``)."""
        self.state.faults.reset()

    def stop(self) -> None:
        """Stop both servers; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._http.should_exit = True
        self._http_thread.join(START_TIMEOUT)
        self._smtp.stop()


def _start_http(app, host: str, port: int, log_level: str) -> tuple[uvicorn.Server, threading.Thread]:
    # log_config=None: use the process's logging setup instead of uvicorn's dictConfig.
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"sandbox-http-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:  # e.g. port already in use
            server.should_exit = True
            raise RuntimeError(f"sandbox HTTP server did not start on {host}:{port}")
        time.sleep(0.02)
    return server, thread


def start_in_thread(http_port: int, smtp_port: int, data_dir: Path | str | None = None,
                    faults: dict[str, dict] | None = None,
                    log_level: str = "warning", host: str = HOST) -> SandboxHandle:
    """Start both servers in background threads; returns once both accept connections."""
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    apis = load_apis()
    state = SandboxState.create(data_dir, [api.name for api in apis])
    for api_name, switches in (faults or {}).items():
        state.faults.set(api_name, switches)
    app = create_app(state, apis)
    smtp = start_smtp_sink(state.emails, smtp_port, host)
    try:
        http, http_thread = _start_http(app, host, http_port, log_level)
    except BaseException:
        smtp.stop()
        raise
    return SandboxHandle(http_port, smtp_port, data_dir, state, http, http_thread, smtp, host)


def serve(http_port: int, smtp_port: int, data_dir: Path | str | None = None,
          faults: dict[str, dict] | None = None, log_level: str = "info", host: str = HOST) -> None:
    """Run until SIGTERM or SIGINT, then stop both servers and return."""
    handle = start_in_thread(http_port, smtp_port, data_dir, faults, log_level, host)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("sandbox up: HTTP %s (emails at %s/emails), SMTP %s:%d, data in %s",
             handle.base_url, handle.base_url, host, smtp_port, handle.data_dir)
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    log.info("sandbox stopping")
    handle.stop()
