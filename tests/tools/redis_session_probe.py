"""A pytest session of its own, run by test_redis_cleanup.py (the name has no `test_` prefix so
the suite does not collect it): reports the redis-server the session started, then passes,
fails or hangs until signalled, as JOBYARD_PROBE_MODE says."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tools import devenv


def test_report_the_started_redis_then_end_as_told():
    started = json.loads((devenv.state_dir() / "redis.json").read_text())
    out = Path(os.environ["JOBYARD_PROBE_OUT"])
    out.write_text(json.dumps({**started, "url": os.environ["JOBYARD_REDIS_URL"]}))
    mode = os.environ["JOBYARD_PROBE_MODE"]
    if mode == "hang":
        time.sleep(600)  # the caller interrupts the session (SIGINT / SIGTERM) meanwhile
    assert mode == "pass", "this session was asked to fail"
