"""Identify one uploaded song with ACRCloud, store the analysis and queue the uploader's email.

`music.songs.status` moves uploaded -> analyzing -> analyzed (or failed), and the song's one
`music.song_analyses` row running -> completed (matched true or false) or failed:

1. under a per-song advisory lock (a concurrent run for the same song is `SongBusy`, retried),
   the song is read (`UnknownSong` for a bad id, permanent) and, in one commit, marked
   `analyzing` with its analysis row reset to `running`;
2. a 10-15 s sample is cut from the middle of the file (include/music/audio_sample.py);
3. ACRCloud identifies it (include/music/acrcloud_client.py): a match (status 0) or no match
   (1001) is a result, not an error;
4. in ONE transaction: the analysis `completed` (matched, the raw answer, the best
   candidate's title/artists/album/isrc/score/acrid, the sample's start and length, the
   status code), the song `analyzed`, and the uploader's email queued in the outbox (key
   `song-analysis:<song_id>`, template `music/song_analysis`): the email exists if and only
   if the analysis was committed.

Failures: a missing or unreadable file (`UnreadableAudio`) and ACRCloud's permanent refusals
(bad key or signature, invalid sample: `AcrCloudError`) are recorded (analysis `failed` with
the reason, song `failed`) and re-raised, so the task fails at once. They queue no email: the
one email of a song is its result's, and a fixed file or configuration re-analyses a failed
song on the next trigger. Transient failures (ACRCloud's limits 3003/3015, 5xx, Redis or the
database down) propagate untouched and leave the song `analyzing` for the retry.

Reruns: a song whose analysis is `completed` is kept as it is and the run returns
`{"analysed": False, "reason": "already analysed on <date>"}`, costing no ACRCloud request
(1 a minute is the whole budget). `force=True` identifies it again and replaces the
analysis, but never sends a second email: the outbox key is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from include.common.db import connect
from include.common.errors import PermanentError, TransientError
from include.common.outbox import OutboxMessage, enqueue
from include.music.acrcloud_client import AcrCloudClient, AcrCloudError, IdentifyResult
from include.music.audio_sample import DEFAULT_SAMPLE_SECONDS, UnreadableAudio, cut_sample, resolve_audio
from include.music.repository import song_analysis as repo

log = logging.getLogger(__name__)

TEMPLATE = "music/song_analysis"


class UnknownSong(PermanentError, LookupError):
    """No `music.songs` row has this id: a bad request, which a retry cannot fix."""

    def __init__(self, song_id: int):
        self.song_id = song_id
        super().__init__(f"song {song_id} does not exist (no row in music.songs with id {song_id})")


class SongBusy(TransientError, RuntimeError):
    """Another run holds this song's lock; a retry later finds it free."""


def dedupe_key(song_id: int) -> str:
    return f"song-analysis:{song_id}"


@contextmanager
def _autocommit(conn_or_dsn: psycopg.Connection | str) -> Iterator[psycopg.Connection]:
    if isinstance(conn_or_dsn, str):
        with connect(conn_or_dsn, autocommit=True, application_name="music_analyze_song") as conn:
            yield conn
        return
    if not conn_or_dsn.autocommit:  # each step commits on its own; nothing is held open across the API call
        raise ValueError("analyze_song needs an autocommit connection (or a DSN)")
    yield conn_or_dsn


def analyze_song(conn_or_dsn: psycopg.Connection | str, song_id: int, upload_root: Path,
                 client: AcrCloudClient, *, sample_seconds: int = DEFAULT_SAMPLE_SECONDS,
                 force: bool = False) -> dict:
    """Analyse `song_id` (see the module docstring). Returns {song_id, analysed: True,
    matched, acr_status_code, title, artists, album, score, sample_start_s, sample_seconds,
    email_queued, dedupe_key}, or {song_id, analysed: False, reason, matched, dedupe_key} for
    a song already analysed (without `force`)."""
    with _autocommit(conn_or_dsn) as conn:
        if not repo.try_lock(conn, song_id):
            raise SongBusy(f"song {song_id} is being analysed by another run; retry later")
        try:
            return _analyze_locked(conn, song_id, upload_root, client, sample_seconds, force)
        finally:
            # A caller's connection keeps its session: let the lock go (a broken connection
            # has lost it already, and the error that broke it is the one to see).
            if not conn.closed and not conn.broken:
                conn.execute(f"SELECT pg_advisory_unlock({repo.LOCK_KEY})", (song_id,))


def _analyze_locked(conn: psycopg.Connection, song_id: int, upload_root: Path, client: AcrCloudClient,
                    sample_seconds: int, force: bool) -> dict:
    song = repo.get_song(conn, song_id)
    if song is None:
        raise UnknownSong(song_id)
    earlier = repo.get_analysis(conn, song_id)
    if earlier is not None and earlier.status == "completed" and not force:
        on = (earlier.finished_at or earlier.started_at).astimezone(UTC).date().isoformat()
        log.info("song %s was analysed on %s; not identifying it again (force=true does)", song_id, on)
        return {"song_id": song_id, "analysed": False, "reason": f"already analysed on {on}",
                "matched": earlier.matched, "dedupe_key": dedupe_key(song_id)}
    with conn.transaction():
        repo.start_analysis(conn, song_id)

    sample_start = sample_length = None
    try:
        sample = cut_sample(resolve_audio(upload_root, song.audio_path), sample_seconds)
        sample_start, sample_length = sample.start_seconds, sample.seconds
        log.info("song %s: %.1f s sample from %.1f s of %s s (%d bytes)", song_id, sample.seconds,
                 sample.start_seconds, sample.duration_seconds, len(sample.data))
        result = client.identify(sample.data)
    except (UnreadableAudio, AcrCloudError) as err:
        if isinstance(err, TransientError):  # ACRCloud's limits: the retry redoes it
            raise
        log.warning("song %s (%s) failed: %s", song_id, song.audio_path, err)
        with conn.transaction():
            repo.record_failure(conn, song_id, str(err), acr_status_code=getattr(err, "code", None),
                                raw_response=getattr(err, "raw", None) if isinstance(err, AcrCloudError) else None,
                                sample_start_s=sample_start, sample_seconds=sample_length)
        raise

    with conn.transaction():
        finished = repo.record_result(conn, song_id, matched=result.matched, acr_status_code=result.status_code,
                                      raw_response=result.raw, best=_best(result),
                                      sample_start_s=sample_start, sample_seconds=sample_length)
        queued = enqueue(conn, [_email(song, result, finished)])
    best = result.best
    log.info("song %s analysed: %s; email %s", song_id,
             f"matched {best.title!r} ({best.score})" if best else "no match",
             "queued" if queued else "already queued earlier (not sent again)")
    return {"song_id": song_id, "analysed": True, "matched": result.matched, "acr_status_code": result.status_code,
            "title": best.title if best else None, "artists": list(best.artists) if best else [],
            "album": best.album if best else None, "score": best.score if best else None,
            "sample_start_s": sample_start, "sample_seconds": sample_length,
            "email_queued": bool(queued), "dedupe_key": dedupe_key(song_id)}


def _best(result: IdentifyResult) -> dict | None:
    best = result.best
    if best is None:
        return None
    return {"title": best.title, "artists": best.artists, "album": best.album, "isrc": best.isrc,
            "score": best.score, "acrid": best.acrid}


def _email(song: repo.Song, result: IdentifyResult, finished: datetime) -> OutboxMessage:
    best = result.best
    context = {
        "name": song.uploader_name.strip() or song.uploader_email.partition("@")[0],
        "song_title": song.title.strip() or Path(song.audio_path).name,
        "analysed_on": finished.astimezone(UTC).date().isoformat(),
        "matched": best is not None,
        "title": best.title if best else None,
        "artists": ", ".join(best.artists) if best else None,
        "album": best.album if best else None,
        "score": best.score if best else None,
        "release_date": best.release_date if best else None,
        "isrc": best.isrc if best else None,
    }
    return OutboxMessage(dedupe_key=dedupe_key(song.id), channel="email", domain="music",
                         recipient=song.uploader_email, template=TEMPLATE, context=context)
