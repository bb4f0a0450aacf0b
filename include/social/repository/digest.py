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


# The week's candidates, once per run: each author's top N posts of the week with their
# engagement at the interval end. A recipient's top N are always among their followees' top N
# (the same total order: score, then lower post id), so per recipient only these few rows are
# ranked. Two temp tables of the session (kept across the batches' commits): the narrow
# ranking table, written in author order and indexed by author, and the posts' cards (author
# names and excerpt, computed once per post instead of once per recipient), by post id.
STAGE_TABLE = "digest_top_posts"
CARDS_TABLE = "digest_post_cards"

_STAGE = f"""
    CREATE TEMP TABLE {STAGE_TABLE} ON COMMIT PRESERVE ROWS AS
    WITH week AS MATERIALIZED (
        SELECT p.id, p.author_id,
               (SELECT count(*) FROM social.likes l
                 WHERE l.post_id = p.id AND l.created_at < %(end)s) AS likes,
               (SELECT count(*) FROM social.comments c
                 WHERE c.post_id = p.id AND c.created_at < %(end)s) AS comments
          FROM social.posts p
         WHERE p.created_at >= %(start)s AND p.created_at < %(end)s
    ),
    ranked AS (
        SELECT w.id, w.author_id, w.likes, w.comments, w.likes + 3 * w.comments AS score,
               ROW_NUMBER() OVER (PARTITION BY w.author_id
                                  ORDER BY w.likes + 3 * w.comments DESC, w.id) AS rank
          FROM week w
    )
    SELECT t.author_id, t.id AS post_id, t.likes, t.comments, t.score
      FROM ranked t
     WHERE t.rank <= %(top_n)s
     ORDER BY t.author_id, t.score DESC, t.id
"""

_CARDS = f"""
    CREATE TEMP TABLE {CARDS_TABLE} ON COMMIT PRESERVE ROWS AS
    SELECT t.post_id, a.username AS author_username, a.full_name AS author_name,
           CASE WHEN length(b.text) > %(excerpt)s THEN rtrim(left(b.text, %(excerpt)s - 1)) || '…'
                ELSE b.text END AS excerpt
      FROM pg_temp.{STAGE_TABLE} t
      JOIN social.posts p ON p.id = t.post_id
      JOIN social.users a ON a.id = t.author_id
     CROSS JOIN LATERAL (SELECT btrim(regexp_replace(p.body, '\\s+', ' ', 'g')) AS text) b
"""


def stage_top_posts(conn: psycopg.Connection, *, start: datetime, end: datetime, top_n: int) -> int:
    """(Re)build the session's tables of each author's top `top_n` posts of [start, end)
    (score likes + 3 * comments made before `end`, ties by lower post id) and of their
    cards, which `top_posts_by_recipient` ranks from; returns how many posts were staged.
    A few statements over the week's posts (each post's likes and comments counted by
    index), then indexes and ANALYZE so the batches' plans see the real sizes. In the
    caller's transaction; the tables live until `drop_staged_top_posts` or the session's
    end, across commits."""
    drop_staged_top_posts(conn)
    _no_jit(conn)
    with conn.cursor() as cur:
        cur.execute(_STAGE, {"start": start, "end": end, "top_n": top_n})
        staged = cur.rowcount
        cur.execute(f"CREATE INDEX ON pg_temp.{STAGE_TABLE} (author_id)")
        cur.execute(f"ANALYZE pg_temp.{STAGE_TABLE}")
        cur.execute(_CARDS, {"excerpt": EXCERPT_CHARS})
        cur.execute(f"ALTER TABLE pg_temp.{CARDS_TABLE} ADD PRIMARY KEY (post_id)")
        cur.execute(f"ANALYZE pg_temp.{CARDS_TABLE}")
    return staged


def _no_jit(conn: psycopg.Connection) -> None:
    """No JIT for the rest of this transaction: these statements are many cheap index probes
    whose summed cost passes jit_above_cost, and compiling them costs more (0.5-1.2 s a
    statement) than running them."""
    conn.execute("SELECT set_config('jit', 'off', true)")


def drop_staged_top_posts(conn: psycopg.Connection) -> None:
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGE_TABLE}, pg_temp.{CARDS_TABLE}")


# Per recipient of the key range: their follows (made before the end) joined with the staged
# top posts of those authors, the best `top_n` taken by a small top-N sort; recipients whose
# followees posted nothing that week get no row.
_TOP_POSTS = f"""
    SELECT u.id AS user_id, u.email, u.username, u.full_name, t.posts
      FROM social.users u
     CROSS JOIN LATERAL (
        SELECT json_agg(json_build_object(
                   'post_id', x.post_id,
                   'author_username', c.author_username,
                   'author_name', c.author_name,
                   'excerpt', c.excerpt,
                   'likes', x.likes,
                   'comments', x.comments,
                   'score', x.score
               ) ORDER BY x.score DESC, x.post_id) AS posts
          FROM (SELECT d.post_id, d.likes, d.comments, d.score
                  FROM social.follows f
                  JOIN pg_temp.{STAGE_TABLE} d ON d.author_id = f.followee_id
                 WHERE f.follower_id = u.id AND f.created_at < %(end)s
                 ORDER BY d.score DESC, d.post_id
                 LIMIT %(top_n)s) x
          JOIN pg_temp.{CARDS_TABLE} c ON c.post_id = x.post_id
     ) t
     WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {_ELIGIBLE}
       AND t.posts IS NOT NULL
     ORDER BY u.id
"""


def top_posts_by_recipient(conn: psycopg.Connection, lo: int, hi: int, *, start: datetime, end: datetime,
                           active_since: datetime, top_n: int) -> list[dict]:
    """The digests of the eligible users with lo <= id < hi whose followees posted in
    [start, end): one row per recipient {"user_id", "email", "username", "full_name",
    "posts": [{"post_id", "author_username", "author_name", "excerpt", "likes",
    "comments", "score"}, ...]}, posts best first (likes + 3 * comments made before `end`,
    ties by lower post id), at most `top_n` of them.

    Ranks from the session's `stage_top_posts` table, which must have been built for the
    same `start`, `end` and a `top_n` at least this one (a missing table raises)."""
    if conn.execute(f"SELECT to_regclass('pg_temp.{STAGE_TABLE}')").fetchone()[0] is None:
        raise RuntimeError("top_posts_by_recipient needs stage_top_posts(conn, start=, end=, top_n=) first "
                           "in this session")
    _no_jit(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_TOP_POSTS, {"lo": lo, "hi": hi, "end": end, "active_since": active_since, "top_n": top_n})
        return cur.fetchall()
