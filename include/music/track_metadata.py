"""Track metadata (seed 001's fetch_track_metadata): title, artist, album, release date,
genres, ISRC and duration of new or stale tracks, from Soundcharts' song endpoint.

Due: tracks never fetched (`metadata_updated_at IS NULL`) and tracks last fetched more than
`max_age_days` before the run's reference time `as_of`; new ones first, then the stalest,
each group walked by key (id, resp. (metadata_updated_at, id)) so every track is looked at
once per run. A batch (`batch_size` tracks) is one request per track through the client
(shared rate limit) and ONE set-based UPDATE, committed: changed fields are written, and
every track of the batch gets `metadata_updated_at = as_of`.

Decided: a malformed song object (ValueError from the client) and an unknown uuid (404) are
counted, logged with the uuid and skipped, and their `metadata_updated_at` is stamped too, so
`metadata_updated_at` means "last attempt": they are tried again after `max_age_days`, not in
every run (a daily run would otherwise re-request them forever, at 2 requests a minute). A
field the answer leaves out (null) keeps the stored value. When more than 5 % of the tracks
looked at so far in the run are malformed (judged once `MIN_SAMPLE` tracks were looked at,
and at the end of the run on all of them, so one bad song among the first few does not fail
a run), the batch that crossed the line is rolled back and the run fails with
TooManyMalformed (an API change, not a stray bad row): its tracks are not stamped, so the
retry asks again. (The batches before the sample was reached stay stamped: with a batch of
25, a completely broken API costs 25 tracks a 30-day wait.)

At 2 requests a minute a backlog takes several runs: `run_batches` stops before a batch that
would not fit the soft limit, the finished batches stay committed (their tracks are no longer
due) and the next run continues. Returns {tracks, updated, malformed, not_found, batches}.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

from include.common.http import ApiError
from include.common.time_budget import TimeBudget, run_batches
from include.common.validation import TooManyMalformed
from include.music.repository import track_metadata as repository
from include.music.soundcharts_client import SongMetadata, SoundchartsClient

log = logging.getLogger(__name__)

MALFORMED_THRESHOLD = 0.05
MIN_SAMPLE = 40  # tracks looked at before the malformed share is judged (the run's end judges any number)
OLDEST = datetime(1, 1, 1, tzinfo=UTC)  # below every timestamp: where the walk of stale tracks starts


def fetch_track_metadata(conn: psycopg.Connection, client: SoundchartsClient, as_of: datetime, *,
                         max_age_days: int = 30, batch_size: int = 25,
                         budget: TimeBudget | None = None) -> dict[str, int]:
    """Fetch and store the metadata of the due tracks (see the module docstring)."""
    if as_of.tzinfo is None:
        raise ValueError(f"as_of must be time-zone aware, got {as_of!r}")
    if not isinstance(max_age_days, int) or max_age_days < 1:
        raise ValueError(f"max_age_days must be a positive integer, got {max_age_days!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    cutoff = as_of - timedelta(days=max_age_days)
    result = {"tracks": 0, "updated": 0, "malformed": 0, "not_found": 0, "batches": 0}
    return run_batches(_batches(conn, client, as_of, cutoff, batch_size, result), budget, result=result)


def _due(conn: psycopg.Connection, cutoff: datetime, batch_size: int) -> Iterator[list[tuple]]:
    """The due tracks, batch by batch: new ones by id, then stale ones stalest first."""
    after_id = 0
    while batch := repository.new_tracks(conn, after_id, batch_size):
        yield batch
        after_id = batch[-1][0]
    after = (OLDEST, 0)
    while batch := repository.stale_tracks(conn, cutoff, after, batch_size):
        yield batch
        after = (batch[-1][2], batch[-1][0])


def _with_last(batches: Iterator[list[tuple]]) -> Iterator[tuple[list[tuple], bool]]:
    """Each batch with whether it is the run's last (the next one is read ahead)."""
    current = next(batches, None)
    while current is not None:
        following = next(batches, None)
        yield current, following is None
        current = following


def _batches(conn: psycopg.Connection, client: SoundchartsClient, as_of: datetime, cutoff: datetime,
             batch_size: int, totals: dict[str, int]) -> Iterator[dict[str, int]]:
    """One committed batch per step. `totals` is run_batches' running result (read only here,
    for the run's malformed share)."""
    for batch, last in _with_last(_due(conn, cutoff, batch_size)):
        rows, malformed, not_found = [], 0, 0
        for track_id, uuid, _ in batch:
            try:
                song = client.song(uuid)
            except ValueError as exc:  # malformed object: the client names the uuid
                log.warning("track %s: %s; skipped until it is due again", track_id, exc)
                malformed += 1
                rows.append(_not_stored(track_id))
                continue
            except ApiError as exc:
                if exc.status != 404:
                    raise
                log.warning("track %s: Soundcharts knows no song %s; skipped until it is due again", track_id, uuid)
                not_found += 1
                rows.append(_not_stored(track_id))
                continue
            rows.append(_stored(track_id, song))
        seen, bad = totals["tracks"] + len(batch), totals["malformed"] + malformed
        if (seen >= MIN_SAMPLE or last) and bad / seen > MALFORMED_THRESHOLD:
            conn.rollback()
            raise TooManyMalformed(f"{bad} of {seen} song objects malformed ({bad / seen:.1%}, threshold "
                                   f"{MALFORMED_THRESHOLD:.0%}): Soundcharts' answer changed? This batch "
                                   "was not stored; see the warnings for the uuids")
        _, updated = repository.store_batch(conn, rows, as_of)
        conn.commit()
        yield {"tracks": len(batch), "updated": updated, "malformed": malformed, "not_found": not_found,
               "batches": 1}


def _stored(track_id: int, song: SongMetadata) -> tuple:
    return (track_id, True, song.name, song.creditName, song.album,
            song.releaseDate.date() if song.releaseDate else None, song.genres or None, song.isrc, song.duration)


def _not_stored(track_id: int) -> tuple:
    return (track_id, False, None, None, None, None, None, None, None)
