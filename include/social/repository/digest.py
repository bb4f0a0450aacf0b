"""SQL of the weekly content digest: who gets one, and each recipient's top posts of the
week, computed for a whole key range of recipients in one statement."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

EXCERPT_CHARS = 200

# Who may get a digest: active, recently seen, not opted out. Shared by both statements so
# the batch bounds and the batches agree.
_ELIGIBLE = """
    u.is_active AND NOT u.digest_opt_out AND u.last_activity_at >= %(active_since)s
"""


def recipient_id_bounds(conn: psycopg.Connection, active_since: datetime) -> tuple[int, int] | None:
    """(lowest, highest) id of the users who may get a digest, or None when nobody may."""
    row = conn.execute(
        f"SELECT min(u.id), max(u.id) FROM social.users u WHERE {_ELIGIBLE}",
        {"active_since": active_since},
    ).fetchone()
    return None if row[0] is None else (row[0], row[1])


_TOP_POSTS = f"""
    WITH recipients AS (
        SELECT u.id, u.email, u.username, u.full_name
          FROM social.users u
         WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {_ELIGIBLE}
    ),
    -- each recipient's candidate posts: the week's posts of the accounts they followed by
    -- the interval end (a follow made later did not exist in that week)
    candidates AS (
        SELECT f.follower_id, p.id AS post_id
          FROM recipients r
          JOIN social.follows f ON f.follower_id = r.id AND f.created_at < %(end)s
          JOIN social.posts p ON p.author_id = f.followee_id
                             AND p.created_at >= %(start)s AND p.created_at < %(end)s
    ),
    week_posts AS (SELECT DISTINCT post_id FROM candidates),
    -- engagement as it stood at the interval end, so a rerun or backfill ranks the same
    like_counts AS (
        SELECT l.post_id, count(*) AS n
          FROM social.likes l JOIN week_posts w ON w.post_id = l.post_id
         WHERE l.created_at < %(end)s
         GROUP BY l.post_id
    ),
    comment_counts AS (
        SELECT c.post_id, count(*) AS n
          FROM social.comments c JOIN week_posts w ON w.post_id = c.post_id
         WHERE c.created_at < %(end)s
         GROUP BY c.post_id
    ),
    ranked AS (
        SELECT k.follower_id, k.post_id,
               coalesce(lc.n, 0) AS likes, coalesce(cc.n, 0) AS comments,
               ROW_NUMBER() OVER (PARTITION BY k.follower_id
                                  ORDER BY coalesce(lc.n, 0) + 3 * coalesce(cc.n, 0) DESC, k.post_id) AS rank
          FROM candidates k
          LEFT JOIN like_counts lc ON lc.post_id = k.post_id
          LEFT JOIN comment_counts cc ON cc.post_id = k.post_id
    )
    SELECT r.id AS user_id, r.email, r.username, r.full_name,
           json_agg(json_build_object(
               'post_id', t.post_id,
               'author_username', a.username,
               'author_name', a.full_name,
               'excerpt', CASE WHEN length(b.text) > %(excerpt)s
                               THEN rtrim(left(b.text, %(excerpt)s - 1)) || '…' ELSE b.text END,
               'likes', t.likes,
               'comments', t.comments,
               'score', t.likes + 3 * t.comments
           ) ORDER BY t.rank) AS posts
      FROM ranked t
      JOIN recipients r ON r.id = t.follower_id
      JOIN social.posts p ON p.id = t.post_id
      JOIN social.users a ON a.id = p.author_id
     CROSS JOIN LATERAL (SELECT btrim(regexp_replace(p.body, '\\s+', ' ', 'g')) AS text) b
     WHERE t.rank <= %(top_n)s
     GROUP BY r.id, r.email, r.username, r.full_name
     ORDER BY r.id
"""


def top_posts_by_recipient(conn: psycopg.Connection, lo: int, hi: int, *, start: datetime, end: datetime,
                           active_since: datetime, top_n: int) -> list[dict]:
    """The digests of the eligible users with lo <= id < hi whose followees posted in
    [start, end): one row per recipient {"user_id", "email", "username", "full_name",
    "posts": [{"post_id", "author_username", "author_name", "excerpt", "likes",
    "comments", "score"}, ...]}, posts best first (likes + 3 * comments made before `end`,
    ties by lower post id), at most `top_n` of them."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_TOP_POSTS, {"lo": lo, "hi": hi, "start": start, "end": end,
                                 "active_since": active_since, "top_n": top_n, "excerpt": EXCERPT_CHARS})
        return cur.fetchall()

