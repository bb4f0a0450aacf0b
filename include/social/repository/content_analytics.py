"""SQL of the daily content analytics: one statement counts the interval and upserts its day."""

from __future__ import annotations

from datetime import date, datetime

import psycopg
from psycopg.rows import dict_row


def upsert_day(conn: psycopg.Connection, day: date, start: datetime, end: datetime, top_n: int) -> dict:
    """Count what happened in [start, end) and upsert it as `day` of
    `social.daily_content_analytics`, writing only when a number differs from the stored row
    (a rerun leaves the row, computed_at included, as it was).

    top_posts: the posts created or engaged in the interval, ranked by the likes + comments
    they received in it (ties by post id), with both counts. Returns the row's values and
    `written` (whether the row was inserted or changed).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            WITH new_posts AS (
                SELECT id, author_id FROM social.posts
                 WHERE created_at >= %(start)s AND created_at < %(end)s
            ), new_comments AS (
                SELECT post_id, author_id FROM social.comments
                 WHERE created_at >= %(start)s AND created_at < %(end)s
            ), new_likes AS (
                SELECT post_id, user_id FROM social.likes
                 WHERE created_at >= %(start)s AND created_at < %(end)s
            ), engaged AS (
                SELECT post_id, sum(likes)::int AS likes, sum(comments)::int AS comments
                  FROM (SELECT id AS post_id, 0 AS likes, 0 AS comments FROM new_posts
                        UNION ALL SELECT post_id, 1, 0 FROM new_likes
                        UNION ALL SELECT post_id, 0, 1 FROM new_comments) e
                 GROUP BY post_id
            ), top AS (
                SELECT coalesce(jsonb_agg(jsonb_build_object('post_id', post_id, 'likes', likes,
                                                             'comments', comments)
                                          ORDER BY likes + comments DESC, post_id), '[]'::jsonb) AS posts
                  FROM (SELECT * FROM engaged ORDER BY likes + comments DESC, post_id LIMIT %(top_n)s) t
            ), stats AS (
                SELECT %(day)s::date AS day,
                       (SELECT count(*) FROM new_posts)::int AS new_posts,
                       (SELECT count(*) FROM new_comments)::int AS new_comments,
                       (SELECT count(*) FROM new_likes)::int AS new_likes,
                       (SELECT count(*) FROM social.users
                         WHERE created_at >= %(start)s AND created_at < %(end)s)::int AS new_users,
                       (SELECT count(DISTINCT user_id)
                          FROM (SELECT author_id AS user_id FROM new_posts
                                UNION ALL SELECT author_id FROM new_comments
                                UNION ALL SELECT user_id FROM new_likes) a)::int AS active_users,
                       (SELECT posts FROM top) AS top_posts
            ), upserted AS (
                INSERT INTO social.daily_content_analytics AS d
                       (day, new_posts, new_comments, new_likes, new_users, active_users, top_posts)
                SELECT day, new_posts, new_comments, new_likes, new_users, active_users, top_posts FROM stats
                ON CONFLICT (day) DO UPDATE
                   SET new_posts = EXCLUDED.new_posts, new_comments = EXCLUDED.new_comments,
                       new_likes = EXCLUDED.new_likes, new_users = EXCLUDED.new_users,
                       active_users = EXCLUDED.active_users, top_posts = EXCLUDED.top_posts,
                       computed_at = now()
                 WHERE (d.new_posts, d.new_comments, d.new_likes, d.new_users, d.active_users, d.top_posts)
                       IS DISTINCT FROM (EXCLUDED.new_posts, EXCLUDED.new_comments, EXCLUDED.new_likes,
                                         EXCLUDED.new_users, EXCLUDED.active_users, EXCLUDED.top_posts)
                RETURNING 1
            )
            SELECT stats.*, EXISTS (SELECT FROM upserted) AS written FROM stats
            """,
            {"day": day, "start": start, "end": end, "top_n": top_n},
        )
        return cur.fetchone()
