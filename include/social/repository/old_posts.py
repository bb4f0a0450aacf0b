"""SQL of the old-post cleanup: candidates found by post-id range, deleted a bounded batch
per transaction with their children."""

from __future__ import annotations

from datetime import datetime

import psycopg

# A post's engagement is its likes + comments; counting stops at the threshold (LIMIT), so a
# popular old post costs two short index probes however many likes it has.
_LOW_ENGAGEMENT = """
    (SELECT count(*) FROM (SELECT 1 FROM social.likes l WHERE l.post_id = p.id LIMIT %(min)s) l)
  + (SELECT count(*) FROM (SELECT 1 FROM social.comments c WHERE c.post_id = p.id LIMIT %(min)s) c)
  < %(min)s
"""


def post_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    low, high = conn.execute("SELECT min(id), max(id) FROM social.posts").fetchone()
    return None if low is None else (int(low), int(high))


def find_candidates(conn: psycopg.Connection, low: int, high: int, cutoff: datetime,
                    min_engagement: int) -> list[int]:
    """Ids in [low, high) of posts created before `cutoff` with fewer than `min_engagement`
    likes + comments, ascending. Only the old posts are probed, each at most
    2 x `min_engagement` index entries: the cost does not grow with a range's popular posts
    (counting a range's likes by one index scan was 2-4x slower at 1M posts / 3M skewed
    likes once deletes had left the heap pages not all-visible)."""
    rows = conn.execute(
        f"""
        SELECT p.id FROM social.posts p
         WHERE p.id >= %(low)s AND p.id < %(high)s AND p.created_at < %(cutoff)s
           AND {_LOW_ENGAGEMENT}
         ORDER BY p.id
        """,  # noqa: S608 - the only interpolation is the constant predicate above
        {"low": low, "high": high, "cutoff": cutoff, "min": min_engagement},
    ).fetchall()
    return [r[0] for r in rows]


def lock_still_eligible(conn: psycopg.Connection, ids: list[int], cutoff: datetime,
                        min_engagement: int) -> list[int]:
    """Lock the posts of `ids` that still qualify (a like may have arrived since they were
    found); a like or comment inserted from now on waits for the batch's commit."""
    rows = conn.execute(
        f"""
        SELECT p.id FROM social.posts p
         WHERE p.id = ANY(%(ids)s) AND p.created_at < %(cutoff)s AND {_LOW_ENGAGEMENT}
         ORDER BY p.id
           FOR UPDATE OF p
        """,  # noqa: S608 - the only interpolation is the constant predicate above
        {"ids": ids, "cutoff": cutoff, "min": min_engagement},
    ).fetchall()
    return [r[0] for r in rows]


def media_files(conn: psycopg.Connection, post_ids: list[int]) -> list[tuple[int, str, list[str]]]:
    """(media id, original path, variant paths) of the media uploads of `post_ids`: read
    before the delete, which cascades to the variant rows."""
    return conn.execute(
        """
        SELECT m.id, m.original_path,
               coalesce(array_agg(v.path ORDER BY v.variant) FILTER (WHERE v.path IS NOT NULL), '{}')
          FROM social.media_uploads m
          LEFT JOIN social.media_variants v ON v.media_id = m.id
         WHERE m.post_id = ANY(%s)
         GROUP BY m.id
         ORDER BY m.id
        """,
        (post_ids,),
    ).fetchall()


def delete_posts(conn: psycopg.Connection, post_ids: list[int]) -> dict[str, int]:
    """Delete the posts and their children, children first with one set-based statement each
    (the counts come from them; the cascades of the post delete then find nothing)."""
    counts = {}
    for key, table, column in (("deleted_likes", "likes", "post_id"),
                               ("deleted_comments", "comments", "post_id"),
                               ("deleted_hashtag_links", "post_hashtags", "post_id"),
                               ("deleted_media_uploads", "media_uploads", "post_id"),
                               ("deleted_posts", "posts", "id")):
        cur = conn.execute(f"DELETE FROM social.{table} WHERE {column} = ANY(%s)",  # noqa: S608 - fixed names
                           (post_ids,))
        counts[key] = cur.rowcount
    return counts
