"""Chart syncs (seed 001's process_scheduled_chart_syncs + sync_chart_rankings_task).

1. `claim_due_schedules`: one statement takes the active schedules whose `next_sync_at` has
   come, under a lease (`lease_until`, `lease_owner` = the run), with a pending execution row
   each; `FOR UPDATE SKIP LOCKED` and the lease keep two overlapping runs from taking the same
   schedule; a retry of the same run gets its own claims back.
2. `sync_chart` (one mapped task per claim): lists the chart's available ranking dates, and
   syncs every date newer than the schedule's resume point (`last_ranking_date`, and never
   older than the retention window: `music_cleanup_old_data` would delete it that night),
   oldest first. The periods fetched are stored and committed together with the resume point
   and the execution's counts (new tracks, the rankings upserted, COPY-staged) every 50 periods
   or 5 seconds, whichever comes first: a commit per period at the API's 2 requests a minute,
   fewer and larger ones when the API is fast. The execution goes pending -> running ->
   completed / partial / failed.
   - completed: `next_sync_at` advances by the frequency from the schedule's own slot (not
     from now: no drift), skipping slots already past; counters total + successful.
   - partial: the soft time limit came first (at 2 requests a minute a far-behind chart takes
     several runs). The finished periods stay, the execution says how many are left, the
     schedule stays due so the next hourly run continues. Not an error: the task succeeds.
   - failed: the error is recorded, the schedule stays due (the next run retries) and counts a
     failure; the exception propagates, so Airflow's error policy decides about retries.
   Malformed ranking entries are counted and skipped; more than 5 % of a period fails the chart.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from include.common.errors import PermanentError
from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, run_batches
from include.common.validation import BatchReport
from include.music.repository import chart_sync as repository
from include.music.soundcharts_client import SoundchartsClient

log = logging.getLogger(__name__)

FREQUENCIES = ("daily", "weekly", "monthly")
MALFORMED_THRESHOLD = 0.05
MAX_ERROR_CHARS = 2000
FLUSH_PERIODS = 50  # periods stored per transaction at most (10k rankings of a 200-position chart)
FLUSH_SECONDS = 5.0  # ... and a commit at least this often, so progress is saved as it comes


class UnknownChart(PermanentError, LookupError):
    def __init__(self, chart_id: int):
        super().__init__(f"no chart with id {chart_id} in music.charts")


@dataclass(frozen=True)
class Claim:
    schedule_id: int
    execution_id: int
    chart_id: int
    slug: str
    frequency: str
    next_sync_at: datetime
    last_ranking_date: datetime | None

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> Claim:
        parse = {"next_sync_at", "last_ranking_date"}
        return cls(**{k: (datetime.fromisoformat(v) if k in parse and v else v) for k, v in data.items()})


def step(slot: datetime, frequency: str) -> datetime:
    """The slot one period after `slot` (a month keeps its day, clamped: Jan 31 -> Feb 28)."""
    if frequency == "daily":
        return slot + timedelta(days=1)
    if frequency == "weekly":
        return slot + timedelta(weeks=1)
    if frequency == "monthly":
        year, month = (slot.year + 1, 1) if slot.month == 12 else (slot.year, slot.month + 1)
        return slot.replace(year=year, month=month, day=min(slot.day, calendar.monthrange(year, month)[1]))
    raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")


def next_slot(slot: datetime, frequency: str, now: datetime) -> datetime:
    """The first slot after `now` on the schedule's own grid (`slot` + n periods)."""
    nxt = step(slot, frequency)
    while nxt <= now:
        nxt = step(nxt, frequency)
    return nxt


def claim_due_schedules(conn: psycopg.Connection, now: datetime, run_id: str, *,
                        lease: timedelta = timedelta(hours=2), limit: int = 1000) -> list[Claim]:
    """Lease up to `limit` due schedules to `run_id` (committed); see the module docstring."""
    if now.tzinfo is None:
        raise ValueError(f"now must be time-zone aware, got {now!r}")
    claims = [Claim(*row) for row in repository.claim_due(conn, now, run_id, lease, limit)]
    conn.commit()
    return claims


def missing_periods(available: list[datetime], resume_after: datetime | None, oldest: datetime) -> list[datetime]:
    """The available dates still to sync, oldest first."""
    return sorted(d for d in available if d >= oldest and (resume_after is None or d > resume_after))


def sync_chart(conn: psycopg.Connection, client: SoundchartsClient, claim: Claim, *, now: datetime, run_id: str,
               retention_days: int = 90, budget: TimeBudget | None = None,
               flush_periods: int = FLUSH_PERIODS) -> dict:
    """Sync one claimed schedule (see the module docstring); returns the execution's receipt
    {slug, status, periods_synced, periods_left, rankings_created, tracks_created, malformed}."""
    result = {"slug": claim.slug, "status": "running", "periods_synced": 0, "periods_left": None,
              "rankings_created": 0, "tracks_created": 0, "malformed": 0}
    repository.start_execution(conn, claim.execution_id)
    conn.commit()
    try:
        oldest = now - timedelta(days=retention_days)
        periods = missing_periods(client.available_rankings(claim.slug, since=oldest), claim.last_ranking_date, oldest)
        result["periods_left"] = len(periods)
        run_batches(_periods(conn, client, claim, periods, flush_periods=flush_periods), budget, result=result)
    except SoftTimeLimitExceeded:
        conn.rollback()
        if result["periods_left"] == 0:  # out of time right after the last period: that is complete
            return _complete(conn, claim, now, run_id, result)
        repository.finish(conn, claim.schedule_id, claim.execution_id, run_id, "partial",
                          periods_left=result["periods_left"], next_sync_at=None)
        conn.commit()
        log.warning("chart %s: soft time limit, %s periods synced, %s left for the next run",
                    claim.slug, result["periods_synced"], result["periods_left"])
        return {**result, "status": "partial"}
    except Exception as exc:
        conn.rollback()
        repository.finish(conn, claim.schedule_id, claim.execution_id, run_id, "failed", periods_left=None,
                          next_sync_at=None, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        conn.commit()
        raise
    return _complete(conn, claim, now, run_id, result)


def _complete(conn: psycopg.Connection, claim: Claim, now: datetime, run_id: str, result: dict) -> dict:
    repository.finish(conn, claim.schedule_id, claim.execution_id, run_id, "completed", periods_left=0,
                      next_sync_at=next_slot(claim.next_sync_at, claim.frequency, now))
    conn.commit()
    return {**result, "status": "completed", "periods_left": 0}


def _periods(conn: psycopg.Connection, client: SoundchartsClient, claim: Claim, periods: list[datetime], *,
             flush_periods: int, flush_seconds: float = FLUSH_SECONDS,
             clock: Callable[[], float] = time.monotonic) -> Iterator[dict]:
    """Fetch the periods oldest first; each step stores and commits the ones fetched since the
    last (with the resume point at the newest): after `flush_periods` of them, or once
    `flush_seconds` passed since the last commit. At 2 requests a minute that is a commit per
    period; when the API is fast (a generous limit, the benchmark) a commit stores many, since
    a store costs ~20 ms per call however few rows it has (see repository.store_periods). When
    a fetch fails, what was fetched before it is stored first, then the error goes on."""
    pending: list[tuple[datetime, list[tuple]]] = []
    counts = {"malformed": 0, "last_commit": clock()}

    def flush(index: int) -> dict:
        written, created = repository.store_periods(conn, claim.chart_id, pending)
        newest, stored = pending[-1][0], len(pending)
        repository.record_progress(conn, claim.schedule_id, claim.execution_id, newest, stored,
                                   len(periods) - index - 1, written, created, counts["malformed"])
        conn.commit()
        step = {"periods_synced": stored, "periods_left": -stored,  # counts down from the total
                "rankings_created": written, "tracks_created": created, "malformed": counts["malformed"]}
        pending.clear()
        counts.update(malformed=0, last_commit=clock())
        return step

    for index, at in enumerate(periods):
        try:
            report = BatchReport()
            ranking = client.ranking(claim.slug, at, report)
            report.check(MALFORMED_THRESHOLD)
        except Exception:
            if pending:
                flush(index - 1)
            raise
        counts["malformed"] += report.malformed
        pending.append((at, [(e.position, e.uuid, e.song.name, e.song.creditName, e.metric, e.positionEvolution,
                              e.entryState, e.timeOnChart) for e in ranking.entries]))
        if (index == len(periods) - 1 or len(pending) >= flush_periods
                or clock() - counts["last_commit"] >= flush_seconds):
            yield flush(index)


def schedule_chart_sync(conn: psycopg.Connection, chart_id: int, frequency: str, now: datetime) -> dict:
    """Create or update the chart's schedule, due at once (its first sync catches up); returns
    {schedule_id, chart_id, slug, frequency, next_sync_at, created}. Committed here."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    found = repository.chart(conn, chart_id)
    if found is None:
        raise UnknownChart(chart_id)
    schedule_id, created = repository.upsert_schedule(conn, chart_id, frequency, now)
    conn.commit()
    return {"schedule_id": schedule_id, "chart_id": chart_id, "slug": found[1], "frequency": frequency,
            "next_sync_at": now.isoformat(), "created": bool(created)}


def run_report(conn: psycopg.Connection, run_id: str) -> dict:
    """The executions of one run: {"charts": {slug: {...}}, "failed": [slugs]}."""
    charts = {slug: {"status": status, "periods_synced": synced, "periods_left": left, "rankings_created": rankings,
                     "tracks_created": tracks, "error": error}
              for slug, status, synced, left, rankings, tracks, error in repository.run_outcomes(conn, run_id)}
    return {"charts": charts, "failed": sorted(s for s, c in charts.items() if c["status"] in ("failed", "running",
                                                                                                "pending"))}
