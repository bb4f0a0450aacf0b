"""Audience time series (seed 001's sync_audience): each tracked track's daily audience per
platform (e.g. Spotify's cumulative plays) from Soundcharts, for the days of the look-back
window not stored yet.

The window is the `days` local days ending with `last_day` (the run's local day). Per
(track, platform) the resume point is what is stored: the request covers the days after the
latest stored day in the window (the whole window when none is), up to `last_day`; a pair that
is up to date costs no request (a rerun makes none). Gaps before the latest stored day are
not refilled. A song the API has no points for yet (not released) is asked again next run.

Tracks go by id in batches of `batch_size`: one request per (track, platform) through the
client (shared rate limit), then ONE upsert of the batch (unnest, ON CONFLICT DO UPDATE
writing only changed values), committed. Malformed points are counted and skipped by the
client; more than 5 % of a batch's points malformed fails the run before that batch is
stored. An unknown uuid (404) is counted as `not_found`, logged and skipped. The soft limit
stops between batches (`run_batches`); the next run continues from what is stored.
Returns {tracks, requests, points, inserted, updated, malformed, not_found, batches}.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import psycopg

from include.common.http import ApiError
from include.common.time_budget import TimeBudget, run_batches
from include.common.validation import BatchReport
from include.music.repository import audience as repository
from include.music.soundcharts_client import SoundchartsClient

log = logging.getLogger(__name__)

MALFORMED_THRESHOLD = 0.05


def window(last_day: date, days: int) -> tuple[date, date]:
    """The first and last day of a look-back window of `days` days ending with `last_day`."""
    return last_day - timedelta(days=days - 1), last_day


def sync_audience(conn: psycopg.Connection, client: SoundchartsClient, last_day: date, *,
                  platforms: Sequence[str] = ("spotify",), days: int = 30, batch_size: int = 50,
                  budget: TimeBudget | None = None) -> dict[str, int]:
    """Fetch and upsert the missing audience days of every tracked track (module docstring)."""
    if not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not platforms or not all(isinstance(p, str) and p.strip() for p in platforms) \
            or len(set(platforms)) != len(platforms):
        raise ValueError(f"platforms must be distinct non-empty names, got {platforms!r}")
    first, last = window(last_day, days)
    result = dict.fromkeys(("tracks", "requests", "points", "inserted", "updated", "malformed", "not_found",
                            "batches"), 0)
    return run_batches(_batches(conn, client, list(platforms), first, last, batch_size), budget, result=result)


def _batches(conn: psycopg.Connection, client: SoundchartsClient, platforms: list[str], first: date, last: date,
             batch_size: int) -> Iterator[dict[str, int]]:
    after_id = 0
    while batch := repository.tracked_tracks(conn, after_id, batch_size):
        after_id = batch[-1][0]
        stored = repository.latest_days(conn, [t for t, _ in batch], platforms, first, last)
        conn.commit()  # no snapshot held open across the requests
        report, rows, requests, not_found = BatchReport(), [], 0, 0
        for track_id, uuid in batch:
            for platform in platforms:
                latest = stored.get((track_id, platform))
                start = first if latest is None else latest + timedelta(days=1)
                if start > last:
                    continue
                requests += 1
                try:
                    points = client.audience(uuid, platform, start, last, report)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    log.warning("track %s: Soundcharts knows no song %s (%s); skipped", track_id, uuid, platform)
                    not_found += 1
                    continue
                rows += [(track_id, platform, p.day, p.value) for p in points]
        report.check(MALFORMED_THRESHOLD)
        inserted, updated = repository.upsert_points(conn, rows)
        conn.commit()
        yield {"tracks": len(batch), "requests": requests, "points": len(rows), "inserted": inserted,
               "updated": updated, "malformed": report.malformed, "not_found": not_found, "batches": 1}
