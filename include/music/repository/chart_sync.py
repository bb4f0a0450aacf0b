"""SQL of the chart syncs (include/music/chart_sync.py): claiming due schedules under a lease,
the execution rows, and storing one ranking period (new tracks + rankings) by COPY."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg

_CLAIM = """
    WITH due AS (
        SELECT s.id FROM music.chart_sync_schedules s
         WHERE s.is_active
           AND ((s.next_sync_at <= %(now)s AND (s.lease_until IS NULL OR s.lease_until < %(now)s))
                OR s.lease_owner = %(run)s)  -- a retry of the same run gets its claims back
         ORDER BY s.next_sync_at, s.id
         LIMIT %(limit)s
           FOR UPDATE OF s SKIP LOCKED
    ), claimed AS (
        UPDATE music.chart_sync_schedules s
           SET lease_until = %(now)s + %(lease)s, lease_owner = %(run)s, updated_at = now()
          FROM due WHERE s.id = due.id
        RETURNING s.id, s.chart_id, s.frequency, s.next_sync_at, s.last_ranking_date
    ), executions AS (
        INSERT INTO music.chart_sync_executions (schedule_id, run_id)
        SELECT id, %(run)s FROM claimed
        ON CONFLICT (schedule_id, run_id) DO UPDATE SET run_id = EXCLUDED.run_id
        RETURNING id, schedule_id
    )
    SELECT c.id, e.id, c.chart_id, ch.slug, c.frequency, c.next_sync_at, c.last_ranking_date
      FROM claimed c JOIN executions e ON e.schedule_id = c.id JOIN music.charts ch ON ch.id = c.chart_id
     ORDER BY c.next_sync_at, c.id
"""


def claim_due(conn: psycopg.Connection, now: datetime, run_id: str, lease: timedelta, limit: int) -> list[tuple]:
    """(schedule_id, execution_id, chart_id, slug, frequency, next_sync_at, last_ranking_date)
    of up to `limit` due schedules, leased to `run_id` with a pending execution each."""
    return conn.execute(_CLAIM, {"now": now, "run": run_id, "lease": lease, "limit": limit}).fetchall()


def start_execution(conn: psycopg.Connection, execution_id: int) -> None:
    conn.execute("UPDATE music.chart_sync_executions SET status = 'running', started_at = coalesce(started_at, now()),"
                 " finished_at = NULL, error = NULL WHERE id = %s", (execution_id,))


# The song uuid is staged as text: callers hold it as a string, and one cast per batch in SQL
# is cheaper than building a UUID object per row in Python.
_STAGE_TYPES = ("timestamptz", "int4", "text", "text", "text", "int8", "int4", "text", "int4")


def store_periods(conn: psycopg.Connection, chart_id: int, periods: Iterable[tuple[datetime, Iterable[tuple]]]
                  ) -> tuple[int, int]:
    """Upsert one chart's rankings of several dates in the caller's transaction: `periods` are
    (ranking_date, rows) with rows (position, uuid, title, artist, metric, position_evolution,
    entry_state, time_on_chart). New tracks are created from the ranking's song fields (their
    metadata comes later). Returns (rankings written, tracks created).

    One COPY into a temporary stage (emptied first, so two calls in one transaction never
    see each other's rows), one INSERT of the new tracks, one upsert of the rankings that
    rewrites only rows that changed: the cost is per call more than per row (~20 ms here), so
    callers pass as many periods per call as they have at hand."""
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS music_ranking_stage (
                        ranking_date timestamptz, position int, uuid text, title text, artist text, metric bigint,
                        position_evolution int, entry_state text, time_on_chart int)""")
    conn.execute("TRUNCATE music_ranking_stage")
    # The chart's key lock, once per call (rankings have no per-row key check: migration 0014).
    if conn.execute("SELECT 1 FROM music.charts WHERE id = %s FOR KEY SHARE", (chart_id,)).fetchone() is None:
        raise LookupError(f"music chart {chart_id} does not exist")
    # The transaction does not wait for its WAL flush: after a server crash the last periods
    # (rows and resume point alike: one transaction) are simply fetched again, and upserted.
    conn.execute("SET LOCAL synchronous_commit = off")
    with conn.cursor().copy("COPY music_ranking_stage FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_STAGE_TYPES)
        for at, rows in periods:
            for row in rows:
                copy.write_row((at, *row))
    # Only the stage's rows of unknown songs are sorted (a chart's songs are mostly known).
    created = conn.execute("""
        INSERT INTO music.tracks (uuid, title, artist)
        SELECT DISTINCT ON (s.uuid) s.uuid::uuid, s.title, s.artist
          FROM music_ranking_stage s
         WHERE NOT EXISTS (SELECT 1 FROM music.tracks t WHERE t.uuid = s.uuid::uuid)
         ORDER BY s.uuid, s.ranking_date, s.position
        ON CONFLICT (uuid) DO NOTHING""").rowcount
    written = conn.execute("""
        INSERT INTO music.chart_rankings (chart_id, ranking_date, position, track_id, metric,
                                          position_evolution, entry_state, time_on_chart)
        SELECT %(chart)s, s.ranking_date, s.position, t.id, s.metric, s.position_evolution, s.entry_state,
               s.time_on_chart
          FROM music_ranking_stage s JOIN music.tracks t ON t.uuid = s.uuid::uuid
        ON CONFLICT (chart_id, ranking_date, position) DO UPDATE
           SET track_id = EXCLUDED.track_id, metric = EXCLUDED.metric,
               position_evolution = EXCLUDED.position_evolution, entry_state = EXCLUDED.entry_state,
               time_on_chart = EXCLUDED.time_on_chart, fetched_at = now()
         WHERE (music.chart_rankings.track_id, music.chart_rankings.metric, music.chart_rankings.position_evolution,
                music.chart_rankings.entry_state, music.chart_rankings.time_on_chart)
               IS DISTINCT FROM (EXCLUDED.track_id, EXCLUDED.metric, EXCLUDED.position_evolution,
                                 EXCLUDED.entry_state, EXCLUDED.time_on_chart)""", {"chart": chart_id}).rowcount
    return written, created


def record_progress(conn: psycopg.Connection, schedule_id: int, execution_id: int, ranking_date: datetime,
                    periods: int, periods_left: int, rankings: int, tracks: int, malformed: int) -> None:
    """The resume point (the newest stored date) and the counts of `periods` stored periods,
    in the transaction that stored them."""
    conn.execute("""UPDATE music.chart_sync_schedules
                       SET last_ranking_date = greatest(last_ranking_date, %s), periods_left = %s, updated_at = now()
                     WHERE id = %s""", (ranking_date, periods_left, schedule_id))
    conn.execute("""UPDATE music.chart_sync_executions
                       SET periods_synced = periods_synced + %s, periods_left = %s,
                           rankings_created = rankings_created + %s, tracks_created = tracks_created + %s,
                           malformed = malformed + %s
                     WHERE id = %s""", (periods, periods_left, rankings, tracks, malformed, execution_id))


def finish(conn: psycopg.Connection, schedule_id: int, execution_id: int, run_id: str, status: str, *,
           periods_left: int | None, next_sync_at: datetime | None, error: str | None = None) -> None:
    """End an execution (completed, partial or failed), update the schedule's counters and
    release its lease. `next_sync_at` None keeps the schedule due (partial, failed)."""
    conn.execute("""UPDATE music.chart_sync_executions
                       SET status = %s, finished_at = now(), error = %s, periods_left = coalesce(%s, periods_left)
                     WHERE id = %s""", (status, error, periods_left, execution_id))
    conn.execute("""UPDATE music.chart_sync_schedules
                       SET total_executions = total_executions + 1,
                           successful_executions = successful_executions + (%(status)s = 'completed')::int,
                           failed_executions = failed_executions + (%(status)s = 'failed')::int,
                           last_sync_at = CASE WHEN %(status)s = 'failed' THEN last_sync_at ELSE now() END,
                           next_sync_at = coalesce(%(next)s, next_sync_at),
                           periods_left = coalesce(%(left)s, periods_left),
                           lease_until = NULL, lease_owner = NULL, updated_at = now()
                     WHERE id = %(id)s AND lease_owner = %(run)s""",
                 {"status": status, "next": next_sync_at, "left": periods_left, "id": schedule_id, "run": run_id})


def run_outcomes(conn: psycopg.Connection, run_id: str) -> list[tuple]:
    """(slug, status, periods_synced, periods_left, rankings_created, tracks_created, error) of a run."""
    return conn.execute("""
        SELECT ch.slug, e.status, e.periods_synced, e.periods_left, e.rankings_created, e.tracks_created, e.error
          FROM music.chart_sync_executions e
          JOIN music.chart_sync_schedules s ON s.id = e.schedule_id JOIN music.charts ch ON ch.id = s.chart_id
         WHERE e.run_id = %s ORDER BY ch.slug""", (run_id,)).fetchall()


def upsert_schedule(conn: psycopg.Connection, chart_id: int, frequency: str, next_sync_at: datetime) -> tuple:
    """Create or update a chart's schedule (music_schedule_chart_sync); returns (id, created)."""
    return conn.execute("""
        INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
        VALUES (%s, %s, %s)
        ON CONFLICT (chart_id) DO UPDATE
           SET frequency = EXCLUDED.frequency, next_sync_at = EXCLUDED.next_sync_at, is_active = true,
               updated_at = now()
        RETURNING id, (xmax = 0)""", (chart_id, frequency, next_sync_at)).fetchone()


def chart(conn: psycopg.Connection, chart_id: int) -> tuple | None:
    return conn.execute("SELECT id, slug, frequency FROM music.charts WHERE id = %s", (chart_id,)).fetchone()
