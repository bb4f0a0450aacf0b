"""SQL of the temporary-data cleanup: expired uploads deleted a bounded batch per
transaction, stale cached stats recomputed in one set-based statement."""

from __future__ import annotations

from datetime import datetime

import psycopg


def delete_expired_uploads(conn: psycopg.Connection, cutoff: datetime, limit: int) -> list[tuple[int, str]]:
    """Delete up to `limit` uploads created before `cutoff` (lowest ids first; rows another
    run holds are skipped) and return their (id, file_path). Not committed here."""
    return conn.execute(
        """
        DELETE FROM fitness.temporary_uploads
         WHERE id IN (SELECT id FROM fitness.temporary_uploads
                       WHERE created_at < %(cutoff)s
                       ORDER BY id LIMIT %(limit)s
                         FOR UPDATE SKIP LOCKED)
        RETURNING id, file_path
        """,
        {"cutoff": cutoff, "limit": limit},
    ).fetchall()


def refresh_stale_stats(conn: psycopg.Connection, stale_before: datetime, as_of: datetime) -> int:
    """Recompute `stats` of every cached_stats row last updated before `stale_before` from
    the user's workouts started before `as_of` (users without any get zeros), stamping them
    `as_of`. One statement; returns the rows refreshed. Not committed here."""
    return conn.execute(
        """
        WITH stale AS (
            SELECT user_id FROM fitness.cached_stats WHERE last_updated < %(stale_before)s
        ), totals AS (
            SELECT w.user_id, count(*) AS workouts, sum(w.duration_minutes) AS minutes,
                   sum(w.calories) AS calories, max(w.started_at) AS last_workout_at
              FROM fitness.workouts w JOIN stale s ON s.user_id = w.user_id
             WHERE w.started_at < %(as_of)s
             GROUP BY w.user_id
        )
        UPDATE fitness.cached_stats c
           SET stats = jsonb_build_object(
                   'workouts', coalesce(t.workouts, 0),
                   'total_minutes', coalesce(t.minutes, 0),
                   'total_calories', coalesce(t.calories, 0),
                   'last_workout_at', t.last_workout_at,
                   'as_of', %(as_of)s::timestamptz),
               last_updated = %(as_of)s
          FROM stale s LEFT JOIN totals t ON t.user_id = s.user_id
         WHERE c.user_id = s.user_id AND c.last_updated < %(stale_before)s
        """,
        {"stale_before": stale_before, "as_of": as_of},
    ).rowcount
