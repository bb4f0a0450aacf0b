"""SQL of the predictions job: the tracked videos and their stats window as numpy arrays
(binary COPY, one pass, no per-video query), and the bulk write of a day's predictions
(COPY into a staging table, one merge, one delete of the day's stale rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import psycopg
from psycopg import sql

# PGCOPY binary header: signature, flags (int32), header-extension length (int32).
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TYPES = {"int8": ">i8", "int4": ">i4"}


def copy_columns(conn: psycopg.Connection, query: sql.Composable,
                 columns: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Run `COPY (query) TO STDOUT (FORMAT binary)` and decode it straight into numpy arrays.

    `columns` names the query's output columns and their types (int8 or int4, NOT NULL):
    every tuple then has the same size, so the whole stream is one structured array read
    with np.frombuffer (no Python object per row). Returns {name: native-endian array}.
    """
    fields = [("count", ">i2")]
    for name, kind in columns:
        fields += [(f"{name}__len", ">i4"), (name, _TYPES[kind])]
    row = np.dtype(fields)
    buffer = bytearray()
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)) as copy:
        for block in copy:
            buffer += block
    if buffer[:11] != _SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(buffer[15:19], "big")
    start, end = 19 + extension, len(buffer) - 2  # the trailer is int16 -1
    if buffer[end:] != b"\xff\xff" or (end - start) % row.itemsize:
        raise ValueError(f"binary COPY stream of {len(buffer)} bytes does not hold rows of {row.itemsize} bytes")
    rows = np.frombuffer(buffer, dtype=row, offset=start, count=(end - start) // row.itemsize)
    if rows.size and (np.any(rows["count"] != len(columns))
                      or any(np.any(rows[f"{name}__len"] != np.dtype(_TYPES[kind]).itemsize)
                             for name, kind in columns)):
        raise ValueError("binary COPY stream has NULLs or unexpected field sizes")
    return {name: rows[name].astype(np.dtype(_TYPES[kind]).newbyteorder("=")) for name, kind in columns}


def tracked_videos(conn: psycopg.Connection, day_start: datetime) -> dict[str, np.ndarray]:
    """Videos with status `success`, ordered by id: `id` and `published` (the publish day
    minus the day starting at `day_start`, in days, both in `day_start`'s own zone)."""
    tz, day = _zone_name(day_start), day_start.date()
    query = sql.SQL("""
        SELECT id, ((published_at AT TIME ZONE {tz})::date - {day}::date)::int4
          FROM videos.videos
         WHERE status = 'success'
         ORDER BY id""").format(tz=sql.Literal(tz), day=sql.Literal(day))
    return copy_columns(conn, query, [("id", "int8"), ("published", "int4")])


def _zone_name(moment: datetime) -> str:
    """The IANA name of an aware datetime's zone, for AT TIME ZONE (UTC for fixed offsets of 0)."""
    key = getattr(moment.tzinfo, "key", None)
    if key:
        return key
    if moment.utcoffset() == timedelta(0):
        return "UTC"
    raise ValueError(f"{moment!r} needs a ZoneInfo time zone (local calendar days), not a fixed offset")


def stats_window(conn: psycopg.Connection, first_day: date, day: date) -> dict[str, np.ndarray]:
    """Daily views of the `success` videos on the days [first_day, day), ordered by
    (video_id, day): `video_id`, `offset` (the stats day minus `first_day`) and `views`."""
    query = sql.SQL("""
        SELECT s.video_id, (s.day - {first}::date)::int4, s.views
          FROM videos.daily_stats s
          JOIN videos.videos v ON v.id = s.video_id AND v.status = 'success'
         WHERE s.day >= {first}::date AND s.day < {day}::date
         ORDER BY s.video_id, s.day""").format(first=sql.Literal(first_day), day=sql.Literal(day))
    return copy_columns(conn, query, [("video_id", "int8"), ("offset", "int4"), ("views", "int8")])


@dataclass(frozen=True)
class PredictionRow:
    video_id: int
    model_version: str
    method: str  # 'model' or 'baseline'
    predicted_views: list[int]  # days D .. D+6
    backtest_mae: float | None
    baseline_mae: float | None


def replace_predictions(conn: psycopg.Connection, made_for: date, rows: list[PredictionRow]) -> tuple[int, int]:
    """Make the rows of `made_for` exactly `rows`: COPY them into a staging table, one
    upsert keyed by (video_id, made_for) that rewrites only rows whose values differ, and one
    delete of the day's rows of videos not in `rows` (no longer tracked, or no stats left).
    Returns (rows written, rows deleted). The caller commits."""
    conn.execute("""
        CREATE TEMP TABLE predictions_stage (
            video_id bigint PRIMARY KEY, model_version text NOT NULL, method text NOT NULL,
            predicted_views bigint[] NOT NULL, backtest_mae float8, baseline_mae float8
        ) ON COMMIT DROP""")
    with conn.cursor().copy("COPY predictions_stage FROM STDIN (FORMAT binary)") as copy:
        copy.set_types(["int8", "text", "text", "int8[]", "float8", "float8"])
        for r in rows:
            copy.write_row((r.video_id, r.model_version, r.method, r.predicted_views, r.backtest_mae, r.baseline_mae))
    written = conn.execute("""
        INSERT INTO videos.predictions AS p
               (video_id, made_for, model_version, method, predicted_views, backtest_mae, baseline_mae)
        SELECT s.video_id, %(day)s, s.model_version, s.method, s.predicted_views, s.backtest_mae, s.baseline_mae
          FROM predictions_stage s
          JOIN videos.videos v ON v.id = s.video_id  -- a video deleted meanwhile is left out
         ORDER BY s.video_id
        ON CONFLICT (video_id, made_for) DO UPDATE
           SET model_version = EXCLUDED.model_version, method = EXCLUDED.method,
               predicted_views = EXCLUDED.predicted_views, backtest_mae = EXCLUDED.backtest_mae,
               baseline_mae = EXCLUDED.baseline_mae
         WHERE (p.model_version, p.method, p.predicted_views, p.backtest_mae, p.baseline_mae)
               IS DISTINCT FROM (EXCLUDED.model_version, EXCLUDED.method, EXCLUDED.predicted_views,
                                 EXCLUDED.backtest_mae, EXCLUDED.baseline_mae)""",
        {"day": made_for}).rowcount
    deleted = conn.execute("""
        DELETE FROM videos.predictions p
         WHERE p.made_for = %(day)s
           AND NOT EXISTS (SELECT 1 FROM predictions_stage s WHERE s.video_id = p.video_id)""",
        {"day": made_for}).rowcount
    return written, deleted
