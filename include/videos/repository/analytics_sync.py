"""SQL of the daily statistics: the videos to sync and the staged, set-based upsert.

Rows are COPied into a temporary staging table as they arrive, then ONE merge statement
writes them: new (video, day) keys are inserted, existing ones updated only when a number
differs (`IS DISTINCT FROM`), so re-syncing an unchanged day writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

import psycopg

STAGE = "videos_stats_stage"
STAT_COLUMNS = ("views", "likes", "comments", "shares", "watch_minutes")
StatRow = tuple[int, date, int, int, int, int, int]  # (video_id, day, *STAT_COLUMNS)


def count_success_videos(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM videos.videos WHERE status = 'success'").fetchone()[0]


def iter_success_videos(conn: psycopg.Connection, page_size: int = 5_000) -> Iterator[tuple[int, str]]:
    """(id, platform_id) of every video with status 'success', in id order, read in keyset
    pages so a large catalogue is never held in memory at once."""
    after = 0
    while True:
        page = conn.execute(
            """SELECT id, platform_id FROM videos.videos
                WHERE status = 'success' AND id > %s ORDER BY id LIMIT %s""",
            (after, page_size)).fetchall()
        yield from page
        if len(page) < page_size:
            return
        after = page[-1][0]


def create_stage(conn: psycopg.Connection) -> None:
    """The session's staging table, emptied; dropped at the end of the transaction."""
    conn.execute(f"""
        CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
            video_id bigint NOT NULL, day date NOT NULL, views bigint NOT NULL, likes bigint NOT NULL,
            comments bigint NOT NULL, shares bigint NOT NULL, watch_minutes bigint NOT NULL
        ) ON COMMIT DROP""")
    conn.execute(f"TRUNCATE {STAGE}")


def stage_rows(conn: psycopg.Connection, rows: Iterable[StatRow]) -> int:
    """COPY rows into the staging table (binary: no text formatting of a million numbers)."""
    count = 0
    with conn.cursor() as cur, cur.copy(
            f"COPY {STAGE} (video_id, day, {', '.join(STAT_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "date", "int8", "int8", "int8", "int8", "int8"])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def merge_stage(conn: psycopg.Connection) -> tuple[int, int]:
    """Upsert the staged rows into videos.daily_stats in one statement; (inserted, updated).

    Staged keys must be unique (a repeated key fails the statement loudly: "ON CONFLICT DO
    UPDATE command cannot affect row a second time"); callers drop repeats as they stage,
    which is cheaper than a DISTINCT ON sort of a million rows here.
    """
    changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in STAT_COLUMNS)
    current = ", ".join(f"t.{c}" for c in STAT_COLUMNS)
    new = ", ".join(f"EXCLUDED.{c}" for c in STAT_COLUMNS)
    cols = ", ".join(STAT_COLUMNS)
    inserted, updated = conn.execute(f"""
        WITH merged AS (
            INSERT INTO videos.daily_stats AS t (video_id, day, {cols})
            SELECT video_id, day, {cols} FROM {STAGE}
            ON CONFLICT (video_id, day) DO UPDATE SET {changed}, synced_at = now()
             WHERE ({current}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """).fetchone()
    return inserted, updated
