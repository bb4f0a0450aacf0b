"""SQL of the audience sync (include/music/audience.py): the tracked tracks by key, the latest
stored day per (track, platform) in the window, and one set-based upsert per batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import psycopg


def tracked_tracks(conn: psycopg.Connection, after_id: int, limit: int) -> list[tuple[int, str]]:
    """(id, uuid) of up to `limit` tracked tracks with id > `after_id`, by id."""
    return conn.execute("SELECT id, uuid::text FROM music.tracks WHERE is_tracked AND id > %s ORDER BY id LIMIT %s",
                        (after_id, limit)).fetchall()


def latest_days(conn: psycopg.Connection, track_ids: Sequence[int], platforms: Sequence[str],
                first: date, last: date) -> dict[tuple[int, str], date]:
    """(track_id, platform) -> the latest day stored within first..last (absent: none stored)."""
    rows = conn.execute("""
        SELECT track_id, platform, max(day) FROM music.track_audience
         WHERE track_id = ANY(%s) AND platform = ANY(%s) AND day BETWEEN %s AND %s
         GROUP BY track_id, platform""", (list(track_ids), list(platforms), first, last)).fetchall()
    return {(track_id, platform): day for track_id, platform, day in rows}


_UPSERT = """
    INSERT INTO music.track_audience AS a (track_id, platform, day, value)
    SELECT * FROM unnest(%(tracks)s::bigint[], %(platforms)s::text[], %(days)s::date[], %(values)s::bigint[])
    ON CONFLICT (track_id, platform, day) DO UPDATE
       SET value = EXCLUDED.value, fetched_at = now()
     WHERE a.value IS DISTINCT FROM EXCLUDED.value
    RETURNING (xmax = 0)"""


def upsert_points(conn: psycopg.Connection, rows: Sequence[tuple[int, str, date, int]]) -> tuple[int, int]:
    """Upsert (track_id, platform, day, value) rows in one statement, writing only new or
    changed values; returns (inserted, updated)."""
    if not rows:
        return 0, 0
    tracks, platforms, days, values = (list(c) for c in zip(*rows, strict=True))
    flags = [r[0] for r in conn.execute(_UPSERT, {"tracks": tracks, "platforms": platforms, "days": days,
                                                  "values": values}).fetchall()]
    inserted = sum(flags)
    return inserted, len(flags) - inserted
