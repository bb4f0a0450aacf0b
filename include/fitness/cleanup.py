"""Temporary data of the fitness app (seed 004's `clean_temporary_data`).

1. Temporary uploads created more than `upload_max_age` (24 h) before the interval end are
   deleted, `batch_size` rows per transaction (lowest ids first); each batch's files, under
   the upload root (variable `fitness_upload_root`), are deleted after its commit, so a
   rollback never leaves rows pointing at deleted files. A recorded path outside the root is
   refused (logged, counted, not deleted: a bad row must not delete other files); a file
   already gone is counted; a missing upload root fails the run (FileNotFoundError, retried)
   before anything is deleted. A crash between a commit and its files leaves orphan files, never
   dangling rows.
2. Cached stats last updated more than `stats_max_age` (7 days) before the interval end are
   recomputed in ONE set-based UPDATE: the user's workouts, total minutes, total calories and
   last workout (workouts started before the interval end) as `jsonb_build_object`, stamped
   with the interval end, so a rerun finds nothing stale and writes nothing.

Both are taken at the interval end, never `now()`. The upload batches and the stats pass are
the steps of `run_batches`: a soft-limit stop keeps what was committed and a rerun continues.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.fitness.repository import cleanup as repository

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
UPLOAD_MAX_AGE = timedelta(hours=24)
STATS_MAX_AGE = timedelta(days=7)


def default_upload_root() -> Path:
    """`<state folder>/fitness_uploads`: the repository's `.state/fitness_uploads` unless
    JOBYARD_STATE moves the state folder (as tools/devenv.py does for tests)."""
    return Path(os.environ.get("JOBYARD_STATE", REPO / ".state")) / "fitness_uploads"


def clean_temporary_data(conn: psycopg.Connection, interval_end: datetime, *, upload_root: Path,
                         batch_size: int = 1000, upload_max_age: timedelta = UPLOAD_MAX_AGE,
                         stats_max_age: timedelta = STATS_MAX_AGE, budget: TimeBudget | None = None) -> dict:
    """Delete the expired uploads and their files, then refresh the stale cached stats.

    Returns {"upload_cutoff", "stats_cutoff", "deleted_uploads", "deleted_files",
    "missing_files", "refused_files", "stats_refreshed", "batches"}; raises
    SoftTimeLimitExceeded (committed work kept) when `budget` runs out."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if upload_max_age <= timedelta(0) or stats_max_age <= timedelta(0):
        raise ValueError(f"max ages must be positive, got {upload_max_age} and {stats_max_age}")
    upload_cutoff, stats_cutoff = interval_end - upload_max_age, interval_end - stats_max_age
    result = {"upload_cutoff": upload_cutoff.isoformat(), "stats_cutoff": stats_cutoff.isoformat(),
              "deleted_uploads": 0, "deleted_files": 0, "missing_files": 0, "refused_files": 0,
              "stats_refreshed": 0, "batches": 0}
    steps = _steps(conn, upload_root, upload_cutoff, stats_cutoff, interval_end, batch_size)
    return run_batches(steps, budget, result=result)


def _steps(conn: psycopg.Connection, upload_root: Path, upload_cutoff: datetime, stats_cutoff: datetime,
           interval_end: datetime, batch_size: int) -> Iterator[dict]:
    while True:
        rows = repository.delete_expired_uploads(conn, upload_cutoff, batch_size)
        if rows and not upload_root.is_dir():
            conn.rollback()  # an unmounted volume or a wrong variable: keep the rows, retry later
            raise FileNotFoundError(errno.ENOENT, f"the fitness upload root {upload_root} does not exist "
                                    "(variable fitness_upload_root)")
        conn.commit()
        if rows:
            yield {"deleted_uploads": len(rows), "batches": 1, **remove_files(upload_root, [p for _, p in rows])}
        if len(rows) < batch_size:
            break
    refreshed = repository.refresh_stale_stats(conn, stats_cutoff, interval_end)
    conn.commit()
    yield {"stats_refreshed": refreshed}


def remove_files(upload_root: Path, paths: list[str]) -> dict[str, int]:
    """Delete the recorded files (paths relative to `upload_root`); returns {"deleted_files",
    "missing_files", "refused_files"}. A path outside the root (absolute, or with `..`) or
    the root itself is refused; an emptied sub-folder stays (others may be uploading into it)."""
    counts = {"deleted_files": 0, "missing_files": 0, "refused_files": 0}
    root = upload_root.resolve()
    for recorded in paths:
        path = (root / recorded).resolve()  # an absolute `recorded` replaces root
        if not path.is_relative_to(root) or path == root:
            log.error("upload file %s is outside the upload root %s: not deleted", recorded, root)
            counts["refused_files"] += 1
        elif not path.is_file():
            log.warning("upload file %s is already gone", path)
            counts["missing_files"] += 1
        else:
            path.unlink()
            counts["deleted_files"] += 1
    return counts
