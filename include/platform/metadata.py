"""Purge of old Airflow metadata with `airflow db clean` (what Celery's result expiry did)."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime


class MetadataCleanError(RuntimeError):
    pass


def clean_metadata(airflow_bin: str, metadata_url: str, before: datetime, *, dry_run: bool = False,
                   timeout: int = 1800) -> dict:
    """Delete metadata rows older than `before`, without archive tables (nothing to keep).

    `metadata_url` is the SQLAlchemy URL of the Airflow metadata database, passed to the CLI
    explicitly: a task process has no database access of its own in Airflow 3."""
    cmd = [airflow_bin, "db", "clean", "--clean-before-timestamp", before.isoformat(),
           "--skip-archive", "--yes"]
    if dry_run:
        cmd.append("--dry-run")
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise MetadataCleanError(f"airflow db clean exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return {"before": before.isoformat(), "dry_run": dry_run, "output": proc.stdout.strip()[-2000:]}
