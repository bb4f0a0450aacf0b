"""SQL of the denormalised user counters (followers, following, posts)."""

from __future__ import annotations

import psycopg


def user_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    """(lowest, highest) user id, or None when there are no users."""
    low, high = conn.execute("SELECT min(id), max(id) FROM social.users").fetchone()
    return None if low is None else (low, high)


def refresh_counts(conn: psycopg.Connection, low: int, high: int) -> tuple[int, int]:
    """Recompute the three counters of the users with ids in [low, high) in one statement,
    writing only the rows where a counter differs. Returns (users scanned, users updated).

    Each aggregate is restricted to the id range, so it reads one slice of an index
    (follows' primary key for following, follows_followee_idx for followers,
    posts_author_idx for posts) instead of the whole table.
    """
    conn.execute("SET LOCAL jit = off")  # compiling costs more than the batch itself
    scanned, updated = conn.execute(
        """
        WITH followers AS (
            SELECT followee_id AS id, count(*) AS n FROM social.follows
             WHERE followee_id >= %(low)s AND followee_id < %(high)s GROUP BY followee_id
        ), following AS (
            SELECT follower_id AS id, count(*) AS n FROM social.follows
             WHERE follower_id >= %(low)s AND follower_id < %(high)s GROUP BY follower_id
        ), posts AS (
            SELECT author_id AS id, count(*) AS n FROM social.posts
             WHERE author_id >= %(low)s AND author_id < %(high)s GROUP BY author_id
        ), counts AS (
            SELECT u.id,
                   coalesce(fr.n, 0)::integer AS followers_count,
                   coalesce(fg.n, 0)::integer AS following_count,
                   coalesce(p.n, 0)::integer AS posts_count
              FROM social.users u
              LEFT JOIN followers fr ON fr.id = u.id
              LEFT JOIN following fg ON fg.id = u.id
              LEFT JOIN posts p ON p.id = u.id
             WHERE u.id >= %(low)s AND u.id < %(high)s
        ), updated AS (
            UPDATE social.users u
               SET followers_count = c.followers_count,
                   following_count = c.following_count,
                   posts_count = c.posts_count
              FROM counts c
             WHERE u.id = c.id AND u.id >= %(low)s AND u.id < %(high)s  -- a range scan, not the whole table
               AND (u.followers_count, u.following_count, u.posts_count)
                   IS DISTINCT FROM (c.followers_count, c.following_count, c.posts_count)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM counts), (SELECT count(*) FROM updated)
        """,
        {"low": low, "high": high},
    ).fetchone()
    return scanned, updated
