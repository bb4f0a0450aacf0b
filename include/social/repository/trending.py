"""SQL of the trending-hashtags job: one aggregate over the 7-day window, the interval's
ranking rows, and the trending marks on `social.hashtags`."""

from __future__ import annotations

from datetime import datetime

import psycopg

LOCK_KEY = "social_trending_hashtags"


def lock(conn: psycopg.Connection) -> None:
    """Serialise runs (a backfill beside the hourly run) until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def replace_ranking(conn: psycopg.Connection, interval_end: datetime, *, half_life_hours: float,
                    min_uses: int, top_n: int) -> tuple[int, int]:
    """Score every hashtag used in [end - 7 days, end), and replace the interval's rows of
    `social.trending_hashtags` with the top `top_n` of those used at least `min_uses` times.

    score = sum over uses of exp(-ln 2 * age_hours / half_life_hours), age taken at `end`.
    `date_part('epoch', ...)` is float8 (EXTRACT is numeric since PostgreSQL 14, far slower);
    each term is summed as numeric so the total does not depend on the order the rows arrive
    in (a parallel aggregate would otherwise differ in the last bits between reruns, and the
    marks would be rewritten for nothing). Returns (hashtags used in the window, rows written).
    """
    conn.execute("DELETE FROM social.trending_hashtags WHERE interval_end = %s", (interval_end,))
    row = conn.execute(
        """
        WITH scored AS (
            SELECT hashtag_id,
                   count(*) AS uses,
                   sum(exp(-ln(2) * date_part('epoch', %(end)s::timestamptz - created_at)
                           / (3600.0 * %(half_life)s))::numeric)::float8 AS score
              FROM social.post_hashtags
             WHERE created_at >= %(end)s::timestamptz - interval '7 days'
               AND created_at < %(end)s::timestamptz
             GROUP BY hashtag_id
        ), ranked AS (
            SELECT s.hashtag_id, s.score, s.uses,
                   row_number() OVER (ORDER BY s.score DESC, h.tag) AS rank
              FROM scored s JOIN social.hashtags h ON h.id = s.hashtag_id
             WHERE s.uses >= %(min_uses)s
             ORDER BY s.score DESC, h.tag
             LIMIT %(top_n)s
        ), inserted AS (
            INSERT INTO social.trending_hashtags (interval_end, rank, hashtag_id, score, uses_7d)
            SELECT %(end)s, rank, hashtag_id, score, uses FROM ranked
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM scored), (SELECT count(*) FROM inserted)
        """,
        {"end": interval_end, "half_life": half_life_hours, "min_uses": min_uses, "top_n": top_n},
    ).fetchone()
    return int(row[0]), int(row[1])


def latest_marks_at(conn: psycopg.Connection) -> datetime | None:
    """The interval end the current marks were written for (None before the first run)."""
    return conn.execute("SELECT max(trending_updated_at) FROM social.hashtags").fetchone()[0]


def apply_marks(conn: psycopg.Connection, interval_end: datetime) -> tuple[int, int]:
    """Mark the interval's ranking on `social.hashtags` and unmark the hashtags that were
    trending and are no more, writing only rows whose is_trending, rank or score change
    (a rerun of the same interval writes nothing). Returns (marked, unmarked) rows written."""
    rows = conn.execute(
        """
        WITH target AS (
            SELECT h.id, t.rank, t.score
              FROM social.hashtags h
              LEFT JOIN social.trending_hashtags t ON t.hashtag_id = h.id AND t.interval_end = %(end)s
             WHERE h.is_trending OR t.hashtag_id IS NOT NULL
        )
        UPDATE social.hashtags h
           SET is_trending = target.rank IS NOT NULL,
               trending_rank = target.rank,
               trending_score = target.score,
               trending_updated_at = %(end)s
          FROM target
         WHERE h.id = target.id
           AND (h.is_trending, h.trending_rank, h.trending_score)
               IS DISTINCT FROM (target.rank IS NOT NULL, target.rank, target.score)
        RETURNING h.is_trending
        """,
        {"end": interval_end},
    ).fetchall()
    marked = sum(1 for (is_trending,) in rows if is_trending)
    return marked, len(rows) - marked
