"""Sync the daily statistics of every tracked video (status 'success') for a range of days.

The videos are read in id order, a page at a time, and asked for in batches of at most 500
ids (the API's filter limit); each batch's valid rows are COPied into a staging table as
they arrive, and one merge at the end writes them (inserts, and updates only of rows whose
numbers changed). Too many malformed rows (over `malformed_threshold` of those fetched) fail
the run before anything is written: that is an API change, not a stray bad row.

Under `run_batches` with a time budget, a run that is out of time stops between batches, merges and commits
what it fetched, and raises SoftTimeLimitExceeded (a rerun syncs everything again, and the
upsert makes that safe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice

import psycopg

from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, run_batches
from include.common.validation import BatchReport
from include.videos.repository import analytics_sync as repository
from include.videos.youtube_client import MAX_FILTER_IDS, YouTubeAnalyticsClient

log = logging.getLogger(__name__)

MALFORMED_THRESHOLD = 0.05


def _batches(videos: Iterable[tuple[int, str]], size: int) -> Iterator[dict[str, int]]:
    """{platform_id: video_id} of `size` videos at a time."""
    it = iter(videos)
    while batch := dict((platform_id, video_id) for video_id, platform_id in islice(it, size)):
        yield batch


def sync_stats(conn: psycopg.Connection, client: YouTubeAnalyticsClient, start_day: date, end_day: date, *,
               batch_size: int = MAX_FILTER_IDS, malformed_threshold: float = MALFORMED_THRESHOLD,
               budget: TimeBudget | None = None) -> dict:
    """Fetch and upsert the stats of start_day..end_day (inclusive); commits. Returns the
    receipt: videos, batches, fetched, malformed, stored (valid rows merged), inserted,
    updated (changed rows rewritten), unexpected (rows of videos not asked for) and repeated
    (a (video, day) seen twice), both skipped."""
    if not 1 <= batch_size <= MAX_FILTER_IDS:
        raise ValueError(f"batch_size must be 1..{MAX_FILTER_IDS}, got {batch_size}")
    if start_day > end_day:
        raise ValueError(f"start_day {start_day} is after end_day {end_day}")
    total_videos = repository.count_success_videos(conn)
    total_batches = -(-total_videos // batch_size)
    report = BatchReport()
    receipt = {"start_day": start_day.isoformat(), "end_day": end_day.isoformat(), "videos": 0,
               "batches": 0, "unexpected": 0, "repeated": 0}
    repository.create_stage(conn)

    def fetch() -> Iterator[dict]:  # each batch is staged; the merge below commits them all
        for batch in _batches(repository.iter_success_videos(conn), batch_size):
            rows = client.daily_stats(list(batch), start_day, end_day, report)
            report.stored += repository.stage_rows(conn, _keyed(rows, batch, receipt))
            yield {"videos": len(batch), "batches": 1}

    stopped: SoftTimeLimitExceeded | None = None
    try:
        run_batches(fetch(), budget, result=receipt, total=total_batches)
    except SoftTimeLimitExceeded as stop:
        stopped = stop  # merge and commit what was fetched, then say so
    report.check(malformed_threshold)
    inserted, updated = repository.merge_stage(conn)
    conn.commit()
    receipt.update(report.as_dict(), inserted=inserted, updated=updated)
    log.info("stats %s..%s: %s", start_day, end_day, receipt)
    if stopped:
        raise SoftTimeLimitExceeded(stopped.done, total_batches, receipt)
    return receipt


def _keyed(rows, batch: dict[str, int], receipt: dict) -> Iterator[repository.StatRow]:
    """Rows with our video id. A row of a video this batch did not ask for is logged and
    skipped; so is a repeated (video, day), which offset paging over a report that grew
    between two pages can produce (videos differ between batches, so one set per batch
    finds every repeat)."""
    seen: set[tuple[str, date]] = set()
    for r in rows:
        video_id = batch.get(r.video)
        if video_id is None:
            receipt["unexpected"] += 1
            log.warning("skipped a row of video %s, which this batch did not ask for", r.video)
            continue
        if (r.video, r.day) in seen:
            receipt["repeated"] += 1
            log.warning("skipped a repeated row of video %s on %s", r.video, r.day)
            continue
        seen.add((r.video, r.day))
        yield (video_id, r.day, r.views, r.likes, r.comments, r.shares, r.estimatedMinutesWatched)
