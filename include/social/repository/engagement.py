"""SQL of the post engagement scores used for feed ranking.

The formula (documented in include/social/engagement.py, which keeps a Python twin of it):

    score = (likes * 1 + comments * 3) / (age_hours + 2) ^ 1.5

with likes and comments made before the interval end, age_hours the post's age at the
interval end, computed in double precision (numeric power is ten times slower) and rounded
to 9 decimals (through numeric, which rounds exactly), so that equal inputs give bit-equal
scores and a rerun compares equal.
"""

from __future__ import annotations

from datetime import datetime

import psycopg


def window_batch_bounds(conn: psycopg.Connection, start: datetime, end: datetime, batch_size: int) -> list[int]:
    """Key-range bounds [b0, b1, ..., bn] over the ids of the posts created in [start, end), so
    that each range [b(i), b(i+1)) holds `batch_size` of them (the last one fewer); [] when
    there are none. Ranges follow the window's posts rather than cutting the whole id space
    into equal slices, so a window whose ids are spread over the table still takes few batches.
    """
    return [row[0] for row in conn.execute(
        """
        WITH window_posts AS (
            SELECT id, row_number() OVER (ORDER BY id) AS n FROM social.posts
             WHERE created_at >= %(start)s AND created_at < %(end)s
        )
        SELECT id FROM window_posts WHERE n %% %(size)s = 1
        UNION ALL
        SELECT max(id) + 1 FROM window_posts HAVING count(*) > 0
        ORDER BY 1
        """,
        {"start": start, "end": end, "size": batch_size},
    )]


def scores_complete_for(conn: psycopg.Connection) -> datetime | None:
    """The interval end of the last complete run (the one the dirty posts are relative to)."""
    row = conn.execute("SELECT last_end FROM social.job_state WHERE job = 'engagement_scores'").fetchone()
    return None if row is None else row[0]


def set_scores_complete_for(conn: psycopg.Connection, end: datetime | None) -> None:
    conn.execute("INSERT INTO social.job_state (job, last_end) VALUES ('engagement_scores', %(end)s) "
                 "ON CONFLICT (job) DO UPDATE SET last_end = EXCLUDED.last_end, updated_at = now()",
                 {"end": end})


def purge_dirty_outside(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Drop the dirty marks of posts outside [start, end) (or gone): a rerun for this interval
    end never looks at them, and any other interval end rescores its whole window."""
    return conn.execute(
        """
        DELETE FROM social.engagement_dirty_posts d
         WHERE NOT EXISTS (SELECT 1 FROM social.posts p
                            WHERE p.id = d.post_id AND p.created_at >= %(start)s AND p.created_at < %(end)s)
        """,
        {"start": start, "end": end},
    ).rowcount


_ALL_IN_RANGE = """
        picked AS MATERIALIZED (
            SELECT p.id, p.created_at FROM social.posts p
             WHERE p.id >= %(low)s AND p.id < %(high)s
               AND p.created_at >= %(start)s AND p.created_at < %(end)s
        ), like_counts AS (  -- one slice of (post_id, created_at) per table, not a descent per post
            SELECT post_id, count(*)::integer AS n FROM social.likes
             WHERE post_id >= %(low)s AND post_id < %(high)s AND created_at < %(end)s GROUP BY post_id
        ), comment_counts AS (
            SELECT post_id, count(*)::integer AS n FROM social.comments
             WHERE post_id >= %(low)s AND post_id < %(high)s AND created_at < %(end)s GROUP BY post_id
        ), counted AS (
            SELECT p.id, p.created_at, coalesce(l.n, 0) AS likes, coalesce(c.n, 0) AS comments
              FROM picked p
              LEFT JOIN like_counts l ON l.post_id = p.id
              LEFT JOIN comment_counts c ON c.post_id = p.id
        ),"""

_MARKED = """
        todo AS (  -- the next `limit` marks, drained in the statement that rescores their posts
            DELETE FROM social.engagement_dirty_posts
             WHERE post_id IN (SELECT post_id FROM social.engagement_dirty_posts ORDER BY post_id LIMIT %(limit)s)
            RETURNING post_id, post_created_at
        ), candidates AS (  -- the triggers noted each post's creation: most marks are of older posts
            SELECT DISTINCT post_id FROM todo
             WHERE post_created_at IS NULL OR (post_created_at >= %(start)s AND post_created_at < %(end)s)
        ), picked AS (  -- a lookup by key per candidate (the planner cannot know they are few)
            SELECT p.id, p.created_at FROM candidates t
             CROSS JOIN LATERAL (SELECT id, created_at FROM social.posts
                                  WHERE id = t.post_id AND created_at >= %(start)s AND created_at < %(end)s) p
        ), counted AS (  -- marks are scattered over the ids: an index descent per post
            SELECT p.id, p.created_at, l.n AS likes, c.n AS comments
              FROM picked p
             CROSS JOIN LATERAL (SELECT count(*)::integer AS n FROM social.likes
                                  WHERE post_id = p.id AND created_at < %(end)s) l
             CROSS JOIN LATERAL (SELECT count(*)::integer AS n FROM social.comments
                                  WHERE post_id = p.id AND created_at < %(end)s) c
        ),"""


def upsert_marked_scores(conn: psycopg.Connection, start: datetime, end: datetime,
                         limit: int) -> tuple[int, int, int]:
    """Drain up to `limit` dirty marks and rescore those of their posts created in [start, end)
    (the others are out of the window: their marks are just dropped), in one statement, like
    upsert_scores. Returns (marks drained, posts rescored, rows written)."""
    return _upsert(conn, _MARKED, "(SELECT count(*) FROM todo), (SELECT count(*) FROM picked)",
                   {"start": start, "end": end, "limit": limit, "low": None, "high": None})


def upsert_scores(conn: psycopg.Connection, low: int, high: int, start: datetime, end: datetime) -> tuple[int, int]:
    """Score the posts with ids in [low, high) created in [start, end), in one statement.

    A row is written only when it is new or its score, likes or comments changed, and never
    over a score computed for a later interval end (a backfill does not set the live feed
    back in time). Returns (posts scanned, rows written).
    """
    return _upsert(conn, _ALL_IN_RANGE, "(SELECT count(*) FROM picked)",
                   {"low": low, "high": high, "start": start, "end": end})


def _upsert(conn: psycopg.Connection, source: str, counted: str, params: dict) -> tuple[int, ...]:
    """The source's posts scored and upserted; returns the `counted` columns, then rows written."""
    conn.execute("SET LOCAL jit = off")  # compiling costs more than the batch itself
    return conn.execute(
        "WITH" + source + """
        scored AS (
            SELECT p.id AS post_id, p.likes, p.comments,
                   round(((p.likes * 1 + p.comments * 3)
                          / power(extract(epoch FROM %(end)s::timestamptz - p.created_at)::double precision / 3600
                                  + 2, 1.5))::numeric,
                         9)::double precision AS score
              FROM counted p
        ), changed AS (  -- filtered before the INSERT: a speculative insert per unchanged row costs more
            SELECT n.* FROM scored n
              LEFT JOIN social.post_engagement_scores o ON o.post_id = n.post_id
             WHERE o.post_id IS NULL
                OR (o.computed_for <= %(end)s
                    AND (o.score, o.likes, o.comments) IS DISTINCT FROM (n.score, n.likes, n.comments))
        ), written AS (
            INSERT INTO social.post_engagement_scores AS s
                   (post_id, score, likes, comments, computed_for, updated_at)
            SELECT post_id, score, likes, comments, %(end)s, now() FROM changed
            ON CONFLICT (post_id) DO UPDATE
               SET score = EXCLUDED.score, likes = EXCLUDED.likes, comments = EXCLUDED.comments,
                   computed_for = EXCLUDED.computed_for, updated_at = EXCLUDED.updated_at
             WHERE s.computed_for <= EXCLUDED.computed_for
               AND (s.score, s.likes, s.comments) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.likes, EXCLUDED.comments)
            RETURNING 1
        )
        SELECT """ + counted + """, (SELECT count(*) FROM written)
        """,
        params,
    ).fetchone()


def delete_scores_before(conn: psycopg.Connection, start: datetime, end: datetime, limit: int) -> int:
    """Delete up to `limit` score rows of posts created before `start` (out of the window) or
    gone, leaving rows computed for a later interval end than `end` alone. Returns the count.

    Each candidate row's post is looked up by key (an anti-join: the table holds about one
    window of rows, far fewer than the posts older than the window)."""
    return conn.execute(
        """
        DELETE FROM social.post_engagement_scores
         WHERE post_id IN (
               SELECT s.post_id
                 FROM social.post_engagement_scores s
                WHERE s.computed_for <= %(end)s
                  AND NOT EXISTS (SELECT FROM social.posts p WHERE p.id = s.post_id AND p.created_at >= %(start)s)
                LIMIT %(limit)s)
        """,
        {"start": start, "end": end, "limit": limit},
    ).rowcount
