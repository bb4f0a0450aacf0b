"""Shared plumbing of the benchmarks: a throw-away app database, the sandbox in a process of
its own, the real Redis, statistics, peak RSS, and the result file.

Each benchmark module runs as its own process (`python -m bench.<name>`, started by
`python -m bench`), so its peak RSS (`getrusage`) is its own and a crash or a hang is
contained. It defines `run() -> dict` with:

    summary   [[metric, value, unit], ...]   the lines of the printed table
    details   {...}                           everything else worth keeping (JSON)
    failures  [str, ...]                      non-empty = the benchmark failed (exit 1)
    peak_rss_mb (optional) {...}              RSS of helper processes (sandbox, workers)

and ends with `if __name__ == "__main__": main(NAME, run)`.

The sandbox runs in a child process that calls `sandbox.server.start_in_thread`: the client
under test then has the interpreter (GIL) to itself, as it has in production where the API
and the SMTP server are other machines, and the sandbox's memory (every caught email) does
not count against the client's RSS.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SANDBOX_START_TIMEOUT = 30.0
SANDBOX_MAX_LIFE = 600.0  # default: the sandbox process stops by itself even if its parent vanished

if str(ROOT) not in sys.path:  # `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


# -- statistics --------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# -- loopback only -----------------------------------------------------------------------------

def require_loopback(url: str, what: str) -> None:
    """The benchmarks talk to this machine only: refuse a remote PostgreSQL or Redis."""
    parts = urlsplit(url)
    host = parts.hostname or dict(parse_qsl(parts.query)).get("host", "")
    if host in LOOPBACK or host.startswith("/") or (not host and parts.scheme.startswith("postgres")):
        return
    raise SystemExit(f"{what} at {host!r} is not on loopback: the benchmarks run against local servers only")


# -- app database ------------------------------------------------------------------------------

@contextmanager
def bench_database() -> Iterator[str]:
    """A database `jobyard_bench_<random>` on the server devenv picks, migrated to head,
    dropped afterwards (also after a failure or SIGTERM)."""
    from tools import devenv

    server = devenv.server_url()
    require_loopback(server, "PostgreSQL")
    started = time.monotonic()
    with devenv.scratch_database("jobyard_bench", server) as url:
        say(f"database {url.rsplit('/', 1)[-1]} migrated in {time.monotonic() - started:.1f} s")
        yield url
    say("database dropped")


# -- Redis -------------------------------------------------------------------------------------

def redis_url() -> str:
    from tools import devenv

    url = devenv.redis_url(required=True)
    require_loopback(url, "Redis")
    return url


def bench_api_name(label: str) -> str:
    """A rate-limit key of this run only (`jobyard:ratelimit:bench-<label>-<random>`)."""
    return f"bench-{label}-{secrets.token_hex(4)}"


# -- sandbox -----------------------------------------------------------------------------------

@dataclass
class Sandbox:
    http_port: int
    smtp_port: int
    data_dir: Path
    discard_smtp_port: int | None = None
    host: str = "127.0.0.1"
    peak_rss_mb: float | None = field(default=None)
    discard_received: int | None = field(default=None)  # messages the discard sink took

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def emails_file(self) -> Path:
        return self.data_dir / "emails.jsonl"


class _DiscardHandler:
    """An SMTP server that accepts every message and keeps nothing but a count: the client's
    own cost shows when the receiver costs ~nothing (the sandbox sink parses and stores each
    message, a few ms)."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received += 1
        return "250 OK"


def _serve_sandbox(http_port: int, smtp_port: int, discard_port: int | None, data_dir: str, conn,
                   max_life: float) -> None:
    """Child process: start_in_thread (and the discard sink if asked), then wait for "stop"
    (or the parent's death, or max_life), stop, and send back the peak RSS."""
    logging.basicConfig(level=logging.WARNING, format="[sandbox] %(levelname)s %(name)s: %(message)s")
    from aiosmtpd.controller import Controller

    from sandbox.server import start_in_thread

    discard = _DiscardHandler()
    try:
        handle = start_in_thread(http_port, smtp_port, data_dir)
        try:
            extra = Controller(discard, hostname="127.0.0.1", port=discard_port) if discard_port else None
            if extra is not None:
                extra.start()
        except BaseException:
            handle.stop()
            raise
    except BaseException as exc:  # reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    parent, deadline = os.getppid(), time.monotonic() + max_life
    try:
        while time.monotonic() < deadline and os.getppid() == parent:
            if conn.poll(0.5):
                conn.recv()
                break
    finally:
        handle.stop()
        if extra is not None:
            extra.stop()
    try:
        conn.send(("stopped", {"peak_rss_mb": peak_rss_mb(), "discard_received": discard.received}))
    except OSError:  # the parent is gone
        pass


@contextmanager
def sandbox(discard_sink: bool = False, max_life: float = SANDBOX_MAX_LIFE) -> Iterator[Sandbox]:
    """The sandbox (SMTP sink + API stand-ins) on free loopback ports, in a spawned process
    that stops by itself after `max_life` seconds (a benchmark longer than the default passes
    its own), with `discard_sink` also a discarding SMTP server (`.discard_smtp_port`); its
    peak RSS (and the discard sink's count) are set once the block is left."""
    from tools import devenv

    ctx = multiprocessing.get_context("spawn")
    data_dir = Path(tempfile.mkdtemp(prefix="jobyard-bench-sandbox-"))
    proc, conn, box = None, None, None
    try:
        for attempt in range(3):  # a free port can be taken between free_port() and bind
            box = Sandbox(devenv.free_port(), devenv.free_port(), data_dir,
                          devenv.free_port() if discard_sink else None)
            conn, child_end = ctx.Pipe()
            proc = ctx.Process(target=_serve_sandbox, name="bench-sandbox", daemon=True,
                               args=(box.http_port, box.smtp_port, box.discard_smtp_port, str(data_dir),
                                     child_end, max_life))
            proc.start()
            child_end.close()
            if not conn.poll(SANDBOX_START_TIMEOUT):
                raise RuntimeError(f"sandbox did not start within {SANDBOX_START_TIMEOUT:g} s")
            kind, info = conn.recv()
            if kind == "ready":
                break
            proc.join(5)
            if attempt == 2:
                raise RuntimeError(f"sandbox did not start: {info}")
        discard = f", discard SMTP {box.host}:{box.discard_smtp_port}" if discard_sink else ""
        say(f"sandbox up: HTTP {box.base_url}, SMTP {box.host}:{box.smtp_port}{discard} (pid {proc.pid})")
        yield box
    finally:
        if proc is not None and proc.is_alive():
            try:
                conn.send("stop")
                if conn.poll(15):
                    kind, info = conn.recv()
                    if kind == "stopped" and box is not None:
                        box.peak_rss_mb, box.discard_received = info["peak_rss_mb"], info["discard_received"]
            except (OSError, EOFError):
                pass
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        shutil.rmtree(data_dir, ignore_errors=True)


# -- result ------------------------------------------------------------------------------------

def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def result_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def _sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: drop the database, stop the sandbox


def main(name: str, run: Callable[[], dict]) -> None:
    """Run one benchmark, write bench/results/<name>.json, exit 1 if it failed."""
    signal.signal(signal.SIGTERM, _sigterm)
    logging.basicConfig(level=logging.WARNING, format="[bench] %(levelname)s %(name)s: %(message)s")
    started_at, started = datetime.now(UTC), time.monotonic()
    try:
        outcome = run()
    except Exception as exc:  # recorded in the result and the exit code, never swallowed
        traceback.print_exc()
        outcome = {"summary": [], "details": {}, "failures": [f"{type(exc).__name__}: {exc}"]}
    rss = {"benchmark_process": peak_rss_mb(), **outcome.get("peak_rss_mb", {})}
    result = {
        "name": name,
        "ok": not outcome.get("failures"),
        "failures": list(outcome.get("failures", [])),
        "started_at": started_at.isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 2),
        "peak_rss_mb": rss,
        "summary": [list(row) for row in outcome.get("summary", [])],
        "details": outcome.get("details", {}),
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "commit": _git_commit()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = result_path(name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    for failure in result["failures"]:
        say(f"{name} FAILED: {failure}")
    sys.exit(0 if result["ok"] else 1)
