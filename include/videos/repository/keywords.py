"""SQL of the keyword-analysis job: the next batch of videos to analyse, the delete-and-insert
of their keywords, and the per-keyword performance of a day in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg


@dataclass(frozen=True)
class VideoText:
    id: int
    title: str
    description: str
    tags: list[str]
    language: str


def next_videos(conn: psycopg.Connection, day: date, after_id: int, limit: int) -> list[VideoText]:
    """Up to `limit` `success` videos with id > `after_id`, in id order, whose keywords were
    not computed for `day` or a later day (so a rerun resumes where a stopped run left off,
    and a backfill of an older day leaves a later day's keywords alone)."""
    rows = conn.execute("""
        SELECT v.id, v.title, v.description, v.tags, v.language
          FROM videos.videos v
         WHERE v.status = 'success' AND v.id > %(after)s
           AND NOT EXISTS (SELECT 1 FROM videos.video_keywords k
                            WHERE k.video_id = v.id AND k.computed_for >= %(day)s)
         ORDER BY v.id
         LIMIT %(limit)s""", {"day": day, "after": after_id, "limit": limit}).fetchall()
    return [VideoText(*row) for row in rows]


def replace_keywords(conn: psycopg.Connection, day: date, video_ids: list[int],
                     keywords: list[tuple[int, str, float, int]]) -> tuple[int, int]:
    """Delete the keywords of `video_ids` and insert `keywords` (video_id, keyword, score,
    rank) computed for `day`. Returns (deleted, inserted). The caller commits, so the
    videos never show half a keyword set."""
    deleted = conn.execute("DELETE FROM videos.video_keywords WHERE video_id = ANY(%s)", (video_ids,)).rowcount
    with conn.cursor().copy(
            "COPY videos.video_keywords (video_id, keyword, score, rank, computed_for) FROM STDIN") as copy:
        for video_id, keyword, score, rank in keywords:
            copy.write_row((video_id, keyword, score, rank, day))
    return deleted, len(keywords)


def update_performance(conn: psycopg.Connection, day: date) -> tuple[int, int, int]:
    """The performance of every keyword of the `success` videos for `day`, in one statement:
    videos = the videos having the keyword; mean_views = mean daily views of those videos
    over the stats rows of day-6..day; trend = (views of day-6..day - views of day-13..day-7)
    / the latter, 0 when the latter is 0. Upserted by (keyword, day), writing only rows that
    change; then the day's rows of keywords no video has any more are deleted.
    Returns (keywords, written, deleted). The caller commits."""
    keywords, written = conn.execute("""
        WITH kv AS (
            SELECT k.keyword, k.video_id
              FROM videos.video_keywords k
              JOIN videos.videos v ON v.id = k.video_id AND v.status = 'success'
        ), per_video AS (
            SELECT s.video_id,
                   sum(s.views) FILTER (WHERE s.day > %(day)s::date - 7) AS last_views,
                   count(*) FILTER (WHERE s.day > %(day)s::date - 7) AS last_days,
                   sum(s.views) FILTER (WHERE s.day <= %(day)s::date - 7) AS previous_views
              FROM videos.daily_stats s
             WHERE s.day > %(day)s::date - 14 AND s.day <= %(day)s
               AND s.video_id IN (SELECT video_id FROM kv)
             GROUP BY s.video_id
        ), performance AS (
            SELECT kv.keyword,
                   count(*)::int AS videos,
                   coalesce(sum(p.last_views) / nullif(sum(p.last_days), 0), 0)::float8 AS mean_views,
                   CASE WHEN coalesce(sum(p.previous_views), 0) = 0 THEN 0
                        ELSE ((coalesce(sum(p.last_views), 0) - sum(p.previous_views))
                              / sum(p.previous_views))::float8 END AS trend
              FROM kv LEFT JOIN per_video p USING (video_id)
             GROUP BY kv.keyword
        ), upserted AS (
            INSERT INTO videos.keyword_performance AS kp (keyword, computed_for, videos, mean_views, trend)
            SELECT keyword, %(day)s, videos, mean_views, trend FROM performance ORDER BY keyword
            ON CONFLICT (keyword, computed_for) DO UPDATE
               SET videos = EXCLUDED.videos, mean_views = EXCLUDED.mean_views, trend = EXCLUDED.trend
             WHERE (kp.videos, kp.mean_views, kp.trend)
                   IS DISTINCT FROM (EXCLUDED.videos, EXCLUDED.mean_views, EXCLUDED.trend)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM performance), (SELECT count(*) FROM upserted)""",
        {"day": day}).fetchone()
    deleted = conn.execute("""
        DELETE FROM videos.keyword_performance kp
         WHERE kp.computed_for = %(day)s
           AND NOT EXISTS (SELECT 1 FROM videos.video_keywords k
                             JOIN videos.videos v ON v.id = k.video_id AND v.status = 'success'
                            WHERE k.keyword = kp.keyword)""", {"day": day}).rowcount
    return int(keywords), int(written), deleted
