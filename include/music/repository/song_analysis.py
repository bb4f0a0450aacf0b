"""SQL of song analysis: `music.songs` status and its one `music.song_analyses` row (upserted
per song: UNIQUE (song_id))."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# A 64-bit advisory lock key per song from a hash of a name: a bare bigint id would collide
# with other jobs' locks on their own ids.
LOCK_KEY = "hashtextextended('music.songs:' || %s::bigint, 0)"
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Song:
    id: int
    uploader_email: str
    uploader_name: str
    title: str
    audio_path: str
    status: str


@dataclass(frozen=True)
class Analysis:
    status: str
    matched: bool | None
    finished_at: datetime | None
    started_at: datetime


def try_lock(conn: psycopg.Connection, song_id: int) -> bool:
    """A session-level lock held while the song is analysed (released with the connection,
    so a killed worker leaves none behind)."""
    return conn.execute(f"SELECT pg_try_advisory_lock({LOCK_KEY})", (song_id,)).fetchone()[0]


def get_song(conn: psycopg.Connection, song_id: int) -> Song | None:
    row = conn.execute(
        "SELECT id, uploader_email, uploader_name, title, audio_path, status FROM music.songs WHERE id = %s",
        (song_id,)).fetchone()
    return Song(*row) if row else None


def get_analysis(conn: psycopg.Connection, song_id: int) -> Analysis | None:
    row = conn.execute(
        "SELECT status, matched, finished_at, started_at FROM music.song_analyses WHERE song_id = %s",
        (song_id,)).fetchone()
    return Analysis(*row) if row else None


def start_analysis(conn: psycopg.Connection, song_id: int) -> None:
    """Song `analyzing`, its analysis row `running` with every result field cleared."""
    conn.execute("UPDATE music.songs SET status = 'analyzing' WHERE id = %s", (song_id,))
    conn.execute(
        """
        INSERT INTO music.song_analyses (song_id, status) VALUES (%s, 'running')
        ON CONFLICT (song_id) DO UPDATE
           SET status = 'running', matched = NULL, acr_status_code = NULL, raw_response = NULL,
               title = NULL, artists = NULL, album = NULL, isrc = NULL, score = NULL, acrid = NULL,
               sample_start_s = NULL, sample_seconds = NULL, error = NULL,
               started_at = now(), finished_at = NULL
        """,
        (song_id,))


def record_failure(conn: psycopg.Connection, song_id: int, error: str, *, acr_status_code: int | None = None,
                   raw_response: Any = None, sample_start_s: float | None = None,
                   sample_seconds: float | None = None) -> None:
    """Analysis `failed` with the reason (and what is known of the sample and the answer), song `failed`."""
    conn.execute(
        """
        UPDATE music.song_analyses
           SET status = 'failed', matched = NULL, error = left(%(error)s, %(max)s),
               acr_status_code = %(code)s, raw_response = %(raw)s,
               sample_start_s = %(start)s, sample_seconds = %(seconds)s, finished_at = now()
         WHERE song_id = %(song_id)s
        """,
        {"error": error, "max": MAX_ERROR_CHARS, "code": acr_status_code,
         "raw": Jsonb(raw_response) if raw_response is not None else None,
         "start": sample_start_s, "seconds": sample_seconds, "song_id": song_id})
    conn.execute("UPDATE music.songs SET status = 'failed' WHERE id = %s", (song_id,))


def record_result(conn: psycopg.Connection, song_id: int, *, matched: bool, acr_status_code: int,
                  raw_response: dict, best: dict[str, Any] | None, sample_start_s: float,
                  sample_seconds: float) -> datetime:
    """Analysis `completed` with the best candidate's fields (NULL without a match), song
    `analyzed`; returns the analysis' finished_at."""
    best = best or {}
    finished = conn.execute(
        """
        UPDATE music.song_analyses
           SET status = 'completed', matched = %(matched)s, acr_status_code = %(code)s,
               raw_response = %(raw)s, title = %(title)s, artists = %(artists)s, album = %(album)s,
               isrc = %(isrc)s, score = %(score)s, acrid = %(acrid)s,
               sample_start_s = %(start)s, sample_seconds = %(seconds)s, error = NULL, finished_at = now()
         WHERE song_id = %(song_id)s
        RETURNING finished_at
        """,
        {"matched": matched, "code": acr_status_code, "raw": Jsonb(raw_response),
         "title": best.get("title"), "artists": list(best["artists"]) if "artists" in best else None,
         "album": best.get("album"), "isrc": best.get("isrc"), "score": best.get("score"),
         "acrid": best.get("acrid"), "start": sample_start_s, "seconds": sample_seconds,
         "song_id": song_id}).fetchone()
    if finished is None:
        raise RuntimeError(f"song {song_id} has no analysis row to complete (start_analysis was not run)")
    conn.execute("UPDATE music.songs SET status = 'analyzed' WHERE id = %s", (song_id,))
    return finished[0]
