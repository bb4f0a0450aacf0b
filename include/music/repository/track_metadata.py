"""SQL of the track metadata fetch (include/music/track_metadata.py): the next batch of due
tracks (new first, then stalest, keyset-walked on the `tracks_metadata_idx` order) and one
set-based UPDATE per batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import psycopg
from psycopg.types.json import Jsonb

_NEW = """
    SELECT id, uuid::text, metadata_updated_at FROM music.tracks
     WHERE metadata_updated_at IS NULL AND id > %(after_id)s
     ORDER BY id LIMIT %(limit)s"""

_STALE = """
    SELECT id, uuid::text, metadata_updated_at FROM music.tracks
     WHERE metadata_updated_at < %(cutoff)s
       AND (metadata_updated_at, id) > (%(after_at)s, %(after_id)s)
     ORDER BY metadata_updated_at, id LIMIT %(limit)s"""


def count_due(conn: psycopg.Connection, cutoff: datetime) -> int:
    """Tracks never fetched or last fetched before `cutoff`."""
    return conn.execute("SELECT count(*) FROM music.tracks WHERE metadata_updated_at IS NULL "
                        "OR metadata_updated_at < %s", (cutoff,)).fetchone()[0]


def new_tracks(conn: psycopg.Connection, after_id: int, limit: int) -> list[tuple[int, str, None]]:
    """(id, uuid, None) of up to `limit` never-fetched tracks with id > `after_id`, by id."""
    return conn.execute(_NEW, {"after_id": after_id, "limit": limit}).fetchall()


def stale_tracks(conn: psycopg.Connection, cutoff: datetime, after: tuple[datetime, int],
                 limit: int) -> list[tuple[int, str, datetime]]:
    """(id, uuid, metadata_updated_at) of up to `limit` tracks fetched before `cutoff`, stalest
    first, after the key `after` = (metadata_updated_at, id)."""
    return conn.execute(_STALE, {"cutoff": cutoff, "after_at": after[0], "after_id": after[1],
                                 "limit": limit}).fetchall()


# A field the answer leaves out (None) keeps the stored value; `found` false (malformed, not
# found) changes nothing but the stamp. `changed` compares with the row before the update (a
# CTE reads the statement's snapshot).
_UPDATE = """
    WITH v AS (
        SELECT * FROM unnest(%(ids)s::bigint[], %(found)s::bool[], %(titles)s::text[], %(artists)s::text[],
                             %(albums)s::text[], %(released)s::date[], %(genres)s::jsonb[], %(isrcs)s::text[],
                             %(durations)s::int[])
               AS v(id, found, title, artist, album, release_date, genres, isrc, duration_seconds)
    ), next AS (
        SELECT t.id, n.*,
               (n.title, n.artist, n.album, n.release_date, n.genres, n.isrc, n.duration_seconds)
                 IS DISTINCT FROM (t.title, t.artist, t.album, t.release_date, t.genres, t.isrc, t.duration_seconds)
                 AS changed
          FROM music.tracks t JOIN v ON v.id = t.id
         CROSS JOIN LATERAL (SELECT
               CASE WHEN v.found THEN coalesce(v.title, t.title) ELSE t.title END AS title,
               CASE WHEN v.found THEN coalesce(v.artist, t.artist) ELSE t.artist END AS artist,
               CASE WHEN v.found THEN coalesce(v.album, t.album) ELSE t.album END AS album,
               CASE WHEN v.found THEN coalesce(v.release_date, t.release_date) ELSE t.release_date END
                 AS release_date,
               CASE WHEN v.found AND v.genres IS NOT NULL
                    THEN ARRAY(SELECT jsonb_array_elements_text(v.genres)) ELSE t.genres END AS genres,
               CASE WHEN v.found THEN coalesce(v.isrc, t.isrc) ELSE t.isrc END AS isrc,
               CASE WHEN v.found THEN coalesce(v.duration_seconds, t.duration_seconds) ELSE t.duration_seconds END
                 AS duration_seconds) n
    )
    UPDATE music.tracks t
       SET title = next.title, artist = next.artist, album = next.album, release_date = next.release_date,
           genres = next.genres, isrc = next.isrc, duration_seconds = next.duration_seconds,
           metadata_updated_at = %(stamp)s
      FROM next WHERE t.id = next.id
    RETURNING next.changed"""


def store_batch(conn: psycopg.Connection, rows: Sequence[tuple], stamp: datetime) -> tuple[int, int]:
    """One UPDATE for a batch: `rows` are (track_id, found, title, artist, album, release_date,
    genres, isrc, duration_seconds); every row's `metadata_updated_at` becomes `stamp`, the
    fields only where `found`. Returns (rows stamped, rows whose metadata changed)."""
    if not rows:
        return 0, 0
    cols = list(zip(*rows, strict=True))
    params = {"ids": list(cols[0]), "found": list(cols[1]), "titles": list(cols[2]), "artists": list(cols[3]),
              "albums": list(cols[4]), "released": [_day(v) for v in cols[5]],
              "genres": [None if g is None else Jsonb(list(g)) for g in cols[6]],
              "isrcs": list(cols[7]), "durations": list(cols[8]), "stamp": stamp}
    changed = [row[0] for row in conn.execute(_UPDATE, params).fetchall()]
    return len(changed), sum(changed)


def _day(value: date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value
