"""Retention of the music time series (seed 001's cleanup_old_data): chart rankings whose
`ranking_date` and audience rows whose `day` lie more than `retention_days` before the run's
interval end go.

`interval_end` is an aware datetime in the music time zone (the DAG passes its local
interval end): rankings go before `interval_end - retention_days` (an instant), audience
days before that instant's local date. `music_process_chart_syncs` never stores a ranking
older than the same window, so the two agree.

Deletes run in bounded batches, each one statement on a primary-key range and committed, so
no lock is held long and no statement is slow at 15M rows: rankings per chart, in whole
ranking dates of at most `batch_size` rows; audience walking (track, platform, day) with at
most `batch_size` rows per batch. They run under `run_batches`: the soft limit stops between
batches, the finished ones stay deleted and the next run continues; a rerun of a finished
day deletes nothing. Returns {rankings, audience, batches}, `batches` counting the
deletes that removed rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.music.repository import cleanup as repository


def cutoffs(interval_end: datetime, retention_days: int) -> tuple[datetime, date]:
    """(rankings before this instant, audience before this day)."""
    cutoff = interval_end - timedelta(days=retention_days)
    return cutoff, cutoff.date()


def cleanup_old_data(conn: psycopg.Connection, interval_end: datetime, *, retention_days: int = 90,
                     batch_size: int = 20_000, budget: TimeBudget | None = None) -> dict[str, int]:
    """Delete rankings and audience rows older than the retention (see the module docstring)."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    if not isinstance(retention_days, int) or retention_days < 1:
        raise ValueError(f"retention_days must be a positive integer, got {retention_days!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    before, before_day = cutoffs(interval_end, retention_days)
    return run_batches(_steps(conn, before, before_day, batch_size), budget,
                       result={"rankings": 0, "audience": 0, "batches": 0})


def _steps(conn: psycopg.Connection, before: datetime, before_day: date, limit: int) -> Iterator[dict[str, int]]:
    for chart_id in repository.chart_ids(conn):
        after: datetime | None = None
        while True:
            deleted, after = repository.delete_rankings(conn, chart_id, after, before, limit)
            conn.commit()
            yield {"rankings": deleted, "batches": int(deleted > 0)}
            if after is None:
                break
    key = None
    while True:
        deleted, key = repository.delete_audience(conn, key, before_day, limit)
        conn.commit()
        yield {"audience": deleted, "batches": int(deleted > 0)}
        if key is None:
            return
