"""SQL of the denormalised user counters (followers, following, posts)."""

from __future__ import annotations

import psycopg


def user_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    """(lowest, highest) user id, or None when there are no users."""
    low, high = conn.execute("SELECT min(id), max(id) FROM social.users").fetchone()
    return None if low is None else (low, high)


def full_run_done(conn: psycopg.Connection) -> bool:
    """Whether a full run has completed since the change tracking (migration 0005) exists."""
    return conn.execute("SELECT 1 FROM social.job_state WHERE job = 'user_statistics'").fetchone() is not None


def clear_marks(conn: psycopg.Connection, table: str) -> None:
    """Empty a table of change marks before a full run, which recounts everything at later
    snapshots than this (a change committed afterwards leaves a new mark). TRUNCATE is
    instant, but it waits for writers that hold the table; after 1 s it gives up for a DELETE
    that does not block them."""
    if table not in ("social.stats_dirty_users", "social.engagement_dirty_posts"):
        raise ValueError(f"not a table of change marks: {table!r}")
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '1s'")
            conn.execute(f"TRUNCATE {table}")
    except psycopg.errors.LockNotAvailable:
        conn.execute(f"DELETE FROM {table}")


def record_full_run(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO social.job_state (job) VALUES ('user_statistics') "
                 "ON CONFLICT (job) DO UPDATE SET updated_at = now()")


def refresh_marked_counts(conn: psycopg.Connection, limit: int) -> tuple[int, int]:
    """Drain the marks of the `limit` lowest marked user ids from social.stats_dirty_users
    (filled by the triggers on users, follows and posts) and recompute the counters their marks
    name (a new post recounts its author's posts only), in one statement (drain and recount see
    the same snapshot, so a change committed meanwhile stays marked for the next run).
    Returns (users drained, users updated)."""
    conn.execute("SET LOCAL jit = off")
    drained, updated = conn.execute(
        """
        WITH picked AS (
            SELECT DISTINCT user_id FROM social.stats_dirty_users ORDER BY user_id LIMIT %(limit)s
        ), drained AS (
            DELETE FROM social.stats_dirty_users WHERE user_id IN (SELECT user_id FROM picked)
            RETURNING user_id, counter
        ), dirty AS (  -- which of a user's counters a change can have moved
            SELECT user_id,
                   bool_or(counter IN ('all', 'followers')) AS followers,
                   bool_or(counter IN ('all', 'following')) AS following,
                   bool_or(counter IN ('all', 'posts')) AS posts
              FROM drained GROUP BY user_id
        ), counts AS MATERIALIZED (  -- once per user (inlined, the UPDATE would count twice)
            SELECT u.id,
                   CASE WHEN d.followers THEN (SELECT count(*) FROM social.follows WHERE followee_id = u.id)::integer
                        ELSE u.followers_count END AS followers_count,
                   CASE WHEN d.following THEN (SELECT count(*) FROM social.follows WHERE follower_id = u.id)::integer
                        ELSE u.following_count END AS following_count,
                   CASE WHEN d.posts THEN (SELECT count(*) FROM social.posts WHERE author_id = u.id)::integer
                        ELSE u.posts_count END AS posts_count
              FROM dirty d JOIN social.users u ON u.id = d.user_id
        ), updated AS (
            UPDATE social.users u
               SET followers_count = c.followers_count,
                   following_count = c.following_count,
                   posts_count = c.posts_count
              FROM counts c
             WHERE u.id = c.id
               AND (u.followers_count, u.following_count, u.posts_count)
                   IS DISTINCT FROM (c.followers_count, c.following_count, c.posts_count)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM dirty), (SELECT count(*) FROM updated)
        """,
        {"limit": limit},
    ).fetchone()
    return drained, updated


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
