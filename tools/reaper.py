"""The watchdog of a `make run` stack: stops every process of the run when its supervisor dies.

    python -m tools.reaper <run id> <grace seconds>     # stdin: a pipe from the supervisor

The supervisor (tools/run.py `Stack`) starts it in a session of its own and keeps the write
end of the pipe. However the supervisor ends (SIGKILL, a crash, a closed terminal), the kernel
closes that end: the read here sees EOF and, unless the supervisor wrote `done` first (a clean
stop), every process of the run is stopped: SIGTERM to each process group, SIGKILL after the
grace period. A process belongs to the run when its environment carries `JOBYARD_RUN_ID=<run
id>`: every service gets it and every child inherits it, including the Airflow task processes
that move to process groups of their own (setpgid) and would escape a kill of the service's
group. Standard library only, so it costs a few MB.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

TAG = "JOBYARD_RUN_ID"
SERVICE_TAG = "JOBYARD_SERVICE"


def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}  # gone, or not ours to read (another user's)
    return dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)


def tagged(run_id: str, service: str | None = None) -> list[int]:
    """The pids of the run (of one service of it, if given), this process excepted."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        env = _environ(int(entry))
        if env.get(TAG.encode()) != run_id.encode():
            continue
        if service is not None and env.get(SERVICE_TAG.encode()) != service.encode():
            continue
        pids.append(int(entry))
    return pids


def _kill(pid: int, sig: int, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # exited meanwhile (or a pid that stopped being ours): nothing to signal


def terminate(run_id: str, grace: float, service: str | None = None) -> list[int]:
    """SIGTERM to every process group holding a process of the run (services, task processes),
    then SIGKILL to whatever of the run is left after `grace` seconds. Returns the pids found."""
    found = tagged(run_id, service)
    groups = set()
    for pid in found:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue  # exited meanwhile
    for pgid in groups:
        _kill(pgid, signal.SIGTERM, group=True)
    deadline = time.monotonic() + grace
    while (left := tagged(run_id, service)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(10):  # a parent may fork while dying: repeat until nothing of the run is left
        if not left:
            break
        for pid in left:
            _kill(pid, signal.SIGKILL, group=False)
        time.sleep(0.1)
        left = tagged(run_id, service)
    return found


def main(argv: list[str]) -> int:
    run_id, grace = argv[0], float(argv[1])
    # Its own session already keeps terminal signals away; these make sure of it.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    message = sys.stdin.buffer.read()  # blocks until the supervisor closes its end, however it ends
    if message.strip().endswith(b"done"):
        return 0
    found = terminate(run_id, grace)
    print(f"[jobyard] watchdog: the supervisor of run {run_id} died; stopped {len(found)} processes",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
