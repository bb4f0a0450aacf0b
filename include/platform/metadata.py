"""Purge of old Airflow metadata with `airflow db clean` (what Celery's result expiry did)."""

from __future__ import annotations

import subprocess
from datetime import datetime


class MetadataCleanError(RuntimeError):
    pass


def clean_metadata(airflow_bin: str, before: datetime, *, dry_run: bool = False, timeout: int = 1800) -> dict:
    """Delete metadata rows older than `before`, without archive tables (nothing to keep)."""
    cmd = [airflow_bin, "db", "clean", "--clean-before-timestamp", before.isoformat(),
           "--skip-archive", "--yes"]
    if dry_run:
        cmd.append("--dry-run")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise MetadataCleanError(f"airflow db clean exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return {"before": before.isoformat(), "dry_run": dry_run, "output": proc.stdout.strip()[-2000:]}
