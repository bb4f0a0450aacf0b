"""Removal of old posts nobody engaged with.

A post goes when it was created more than `older_than_days` before the data interval's end
and its engagement (likes + comments) is below `min_engagement`. The posts table is walked
by id range (`scan_size` ids per read: under 0.3 s each at 1M posts), and the candidates of a
range are deleted `batch_size` posts per transaction with their likes, comments, hashtag
links and media rows. The media files (originals and variants, under the media root) are
deleted after the batch's commit: a rollback never leaves rows pointing at deleted files.
A missing file is logged and counted, not an error.

A dry run walks the same ranges and reports the count and a sample of ids, changing nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.social.repository import old_posts as repo

log = logging.getLogger(__name__)

SAMPLE_SIZE = 20


def cleanup_old_posts(conn: psycopg.Connection, interval_end: datetime, *, media_root: Path,
                      older_than_days: int = 365, min_engagement: int = 5, batch_size: int = 2000,
                      scan_size: int = 10_000, dry_run: bool = False, budget: TimeBudget | None = None) -> dict:
    """Delete (or with `dry_run` only count) the old low-engagement posts, committing each
    batch on `conn`. Returns {candidates, deleted_posts, deleted_comments, deleted_likes,
    deleted_hashtag_links, deleted_media_uploads, deleted_media_files, missing_media_files,
    skipped_media_files, batches, dry_run, cutoff, sample_ids}.

    The scans and deletes run under `run_batches`: when `budget` runs out the loop stops
    before the next read or batch and raises SoftTimeLimitExceeded (its `result` is this
    receipt): what was committed stays, and a rerun continues where it stopped, since
    deleted posts are gone.
    """
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    for name, value in (("older_than_days", older_than_days), ("min_engagement", min_engagement),
                        ("batch_size", batch_size), ("scan_size", scan_size)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value!r}")

    cutoff = interval_end - timedelta(days=older_than_days)
    receipt = {"candidates": 0, "deleted_posts": 0, "deleted_comments": 0, "deleted_likes": 0,
               "deleted_hashtag_links": 0, "deleted_media_uploads": 0, "deleted_media_files": 0,
               "missing_media_files": 0, "skipped_media_files": 0, "batches": 0, "dry_run": dry_run,
               "cutoff": cutoff.isoformat(), "sample_ids": []}
    bounds = repo.post_id_bounds(conn)
    conn.commit()
    if bounds is None:
        return receipt
    steps = _steps(conn, range(bounds[0], bounds[1] + 1, scan_size), scan_size, batch_size, cutoff,
                   min_engagement, media_root, dry_run, receipt)
    return run_batches(steps, budget, result=receipt)


def _steps(conn: psycopg.Connection, lows: range, scan_size: int, batch_size: int, cutoff: datetime,
           min_engagement: int, media_root: Path, dry_run: bool, receipt: dict) -> Iterator[None]:
    """Each scan of a key range, then each delete batch of its candidates, is one step; the
    steps write their counts into `receipt` themselves (the sample ids need the running list)."""
    for low in lows:
        ids = repo.find_candidates(conn, low, low + scan_size, cutoff, min_engagement)
        conn.commit()  # end the read's transaction: nothing is held between ranges
        receipt["candidates"] += len(ids)
        receipt["sample_ids"] += ids[:SAMPLE_SIZE - len(receipt["sample_ids"])]
        yield None
        if dry_run:
            continue
        for start in range(0, len(ids), batch_size):
            _delete_batch(conn, ids[start:start + batch_size], cutoff, min_engagement, media_root, receipt)
            yield None


def _delete_batch(conn: psycopg.Connection, ids: list[int], cutoff: datetime, min_engagement: int,
                  media_root: Path, receipt: dict) -> None:
    eligible = repo.lock_still_eligible(conn, ids, cutoff, min_engagement)
    files = repo.media_files(conn, eligible) if eligible else []
    counts = repo.delete_posts(conn, eligible) if eligible else {}
    conn.commit()
    for key, n in counts.items():
        receipt[key] += n
    receipt["batches"] += 1
    for _media_id, original, variants in files:
        _remove_files(media_root, [original], receipt)
        _remove_files(media_root, variants, receipt, remove_empty_parent=True)


def _remove_files(media_root: Path, paths: Iterable[str], receipt: dict, *,
                  remove_empty_parent: bool = False) -> None:
    """Delete files recorded under the media root (relative paths are taken from it). A
    path outside the root is refused (a bad row must not delete other files); the emptied
    folder of a variant (its media's variant folder) is removed too, never the root."""
    root = media_root.resolve()
    for recorded in paths:
        path = (root / recorded).resolve()  # an absolute `recorded` replaces root
        if not path.is_relative_to(root) or path == root:
            log.error("media file %s is outside the media root %s: not deleted", recorded, root)
            receipt["skipped_media_files"] += 1
            continue
        if not path.is_file():
            log.warning("media file %s is already gone", path)
            receipt["missing_media_files"] += 1
        else:
            path.unlink()
            receipt["deleted_media_files"] += 1
        folder = path.parent
        if remove_empty_parent and folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
