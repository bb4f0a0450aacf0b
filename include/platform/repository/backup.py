"""SQL of the database backups (include/platform/backup.py): `platform.backups`."""

from __future__ import annotations

from datetime import date, datetime

import psycopg


def record_backup(conn: psycopg.Connection, *, database: str, for_day: date, path: str, size_bytes: int,
                  toc_entries: int, started_at: datetime, finished_at: datetime) -> None:
    conn.execute(
        """
        INSERT INTO platform.backups (database, for_day, path, size_bytes, toc_entries, started_at, finished_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (database, for_day) DO UPDATE
           SET path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, toc_entries = EXCLUDED.toc_entries,
               started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, deleted_at = NULL
        """,
        (database, for_day, path, size_bytes, toc_entries, started_at, finished_at),
    )


def expired_backups(conn: psycopg.Connection, keep_from: date) -> list[tuple[str, date, str]]:
    return conn.execute(
        "SELECT database, for_day, path FROM platform.backups WHERE for_day < %s AND deleted_at IS NULL",
        (keep_from,),
    ).fetchall()


def mark_backups_deleted(conn: psycopg.Connection, keys: list[tuple[str, date]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE platform.backups SET deleted_at = now() WHERE database = %s AND for_day = %s",
            keys,
        )
