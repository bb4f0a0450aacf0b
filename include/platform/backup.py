"""Database backups: `pg_dump -Fc`, verified with `pg_restore --list`, with day-based retention.

The client tools must be at least the server's major version; `find_pg_tool` looks on PATH,
in Debian's /usr/lib/postgresql/*/bin and in the embedded `pgserver` wheel.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from include.platform.repository import backup as repository


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackupResult:
    database: str
    path: str
    size_bytes: int
    toc_entries: int


def _major(binary: str) -> int:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        raise BackupError(f"cannot read the version of {binary}: {out.strip()!r}")
    return int(match.group(1))


def find_pg_tool(name: str, server_major: int) -> str:
    """A `pg_dump`/`pg_restore` of the server's major version, else the newest newer one
    (an older client refuses a newer server)."""
    candidates = {shutil.which(name)} | set(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    try:
        import pgserver

        candidates.add(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass  # the embedded server is optional; Debian's client tools are enough
    found = sorted(((_major(c), c) for c in candidates if c and os.access(c, os.X_OK)),
                   key=lambda mc: (mc[0] != server_major, -mc[0]))
    if not found or found[0][0] < server_major:
        have = ", ".join(f"{c} ({m})" for m, c in found) or "none"
        raise BackupError(
            f"{name} for PostgreSQL {server_major} not found (have: {have}); "
            f"install postgresql-client-{server_major}"
        )
    return found[0][1]


def server_major(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return conn.info.server_version // 10000


def dump_and_verify(dsn: str, name: str, backup_dir: Path, for_day: date) -> BackupResult:
    """Dump to a temporary file, verify it lists, then rename into place (atomic per file)."""
    major = server_major(dsn)
    pg_dump, pg_restore = find_pg_tool("pg_dump", major), find_pg_tool("pg_restore", major)
    target_dir = backup_dir / name
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / f"{name}_{for_day.isoformat()}.dump"
    partial = final.with_suffix(".dump.partial")
    dump = subprocess.run([pg_dump, "--format=custom", "--file", str(partial), "--dbname", dsn],
                          capture_output=True, text=True)
    if dump.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump of {name} failed: {dump.stderr.strip()}")
    listing = subprocess.run([pg_restore, "--list", str(partial)], capture_output=True, text=True)
    if listing.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_restore --list rejected the dump of {name}: {listing.stderr.strip()}")
    toc = sum(1 for line in listing.stdout.splitlines() if line and not line.startswith(";"))
    os.replace(partial, final)
    return BackupResult(name, str(final), final.stat().st_size, toc)


def backup_databases(app_dsn: str, targets: dict[str, str], backup_dir: Path, for_day: date,
                     keep_days: int) -> dict:
    """Back up each target database (name -> DSN), record it in `platform.backups` and drop
    backups older than `keep_days` before `for_day`. Rerunning a day replaces its file."""
    results = []
    for name, dsn in sorted(targets.items()):
        started = datetime.now(UTC)
        result = dump_and_verify(dsn, name, backup_dir, for_day)
        with psycopg.connect(app_dsn) as conn:
            repository.record_backup(conn, database=name, for_day=for_day, path=result.path,
                                     size_bytes=result.size_bytes, toc_entries=result.toc_entries,
                                     started_at=started, finished_at=datetime.now(UTC))
        results.append(result)
    removed = apply_retention(app_dsn, for_day - timedelta(days=keep_days - 1))
    return {
        "backups": [{"database": r.database, "path": r.path, "bytes": r.size_bytes, "toc_entries": r.toc_entries}
                    for r in results],
        "removed": removed,
    }


def apply_retention(app_dsn: str, keep_from: date) -> list[str]:
    """Delete backup files of days before `keep_from` and mark them deleted."""
    with psycopg.connect(app_dsn) as conn:
        expired = repository.expired_backups(conn, keep_from)
        for _, _, path in expired:
            Path(path).unlink(missing_ok=True)
        repository.mark_backups_deleted(conn, [(db, day) for db, day, _ in expired])
    return [path for _, _, path in expired]
