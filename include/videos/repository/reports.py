"""SQL of the daily AI reports: the facts of every tracked video of a range of creators in
one statement, and the idempotent write of the day's reports."""

from __future__ import annotations

import json
from datetime import date, datetime

import psycopg
from psycopg.rows import dict_row

CHART_DAYS = 30
TOP_KEYWORDS = 5

_TRACKED = "v.status = 'success' AND v.published_at < %(day_end)s"


def creator_id_bounds(conn: psycopg.Connection, day_end: datetime) -> tuple[int, int] | None:
    """(lowest, highest) id of the creators with a tracked video published before
    `day_end`, or None when there is none."""
    row = conn.execute(f"SELECT min(v.creator_id), max(v.creator_id) FROM videos.videos v WHERE {_TRACKED}",
                       {"day_end": day_end}).fetchone()
    return None if row[0] is None else (row[0], row[1])


# One row per tracked video of the creators lo <= id < hi. The 30-day grid (a day without
# stats is NULL, never 0) gives the chart series and every windowed number in one pass over
# the (video_id, day) primary key. Percentages and the mean are rounded here, once: the
# narrative shows them exactly as stored.
_FACTS = f"""
    WITH tracked AS (
        SELECT v.id, v.creator_id, v.platform_id, v.title, v.language,
               c.name AS creator_name, c.email AS creator_email
          FROM videos.videos v
          JOIN videos.creators c ON c.id = v.creator_id
         WHERE v.creator_id >= %(lo)s AND v.creator_id < %(hi)s AND {_TRACKED}
    ),
    grid AS (
        SELECT t.id AS video_id, %(day)s::date - g.back AS day,
               s.views, s.likes, s.comments, s.shares, s.watch_minutes
          FROM tracked t
         CROSS JOIN generate_series(0, %(chart_days)s - 1) AS g(back)
          LEFT JOIN videos.daily_stats s ON s.video_id = t.id AND s.day = %(day)s::date - g.back
    ),
    windows AS (
        SELECT video_id,
               max(views) FILTER (WHERE day = %(day)s) AS views,
               max(likes) FILTER (WHERE day = %(day)s) AS likes,
               max(comments) FILTER (WHERE day = %(day)s) AS comments,
               max(shares) FILTER (WHERE day = %(day)s) AS shares,
               max(watch_minutes) FILTER (WHERE day = %(day)s) AS watch_minutes,
               max(views) FILTER (WHERE day = %(day)s::date - 1) AS views_prev,
               avg(views) FILTER (WHERE day >= %(day)s::date - 7 AND day < %(day)s) AS mean_7d,
               count(views) FILTER (WHERE day >= %(day)s::date - 7 AND day < %(day)s) AS days_7d,
               array_agg(views ORDER BY day) AS views_series
          FROM grid
         GROUP BY video_id
    )
    SELECT t.id AS video_id, t.creator_id, t.creator_name, t.creator_email, t.platform_id,
           w.views_series,
           jsonb_build_object(
               'day', to_jsonb(%(day)s::date),
               'title', t.title,
               'language', t.language,
               'views', w.views,
               'likes', w.likes,
               'comments', w.comments,
               'shares', w.shares,
               'watch_minutes', w.watch_minutes,
               'views_prev_day', w.views_prev,
               'change_prev_day', w.views - w.views_prev,
               'change_prev_day_pct', round((w.views - w.views_prev) * 100.0 / nullif(w.views_prev, 0), 2),
               'mean_7d', round(w.mean_7d, 1),
               'days_in_mean_7d', w.days_7d,
               'change_vs_mean_7d', round(w.views - w.mean_7d, 1),
               'change_vs_mean_7d_pct', round((w.views - w.mean_7d) * 100 / nullif(w.mean_7d, 0), 2),
               'engagement_rate', round((w.likes + w.comments + w.shares)::numeric / nullif(w.views, 0), 4),
               'prediction', CASE WHEN p.made_for IS NOT NULL THEN jsonb_build_object(
                   'made_for', to_jsonb(p.made_for),
                   'method', p.method,
                   'model_version', p.model_version,
                   'next_7_days_views', p.next_7_days_views) END,
               'keywords', coalesce(k.keywords, '[]'::jsonb)
           ) AS facts
      FROM tracked t
      JOIN windows w ON w.video_id = t.id
      LEFT JOIN LATERAL (
          SELECT pr.made_for, pr.method, pr.model_version,
                 (SELECT sum(x) FROM unnest(pr.predicted_views) AS x) AS next_7_days_views
            FROM videos.predictions pr
           WHERE pr.video_id = t.id AND pr.made_for <= %(day)s
           ORDER BY pr.made_for DESC
           LIMIT 1
      ) p ON true
      LEFT JOIN LATERAL (
          SELECT jsonb_agg(top.keyword ORDER BY top.rank, top.keyword) AS keywords
            FROM (SELECT kw.keyword, kw.rank FROM videos.video_keywords kw
                   WHERE kw.video_id = t.id ORDER BY kw.rank, kw.keyword LIMIT %(top_keywords)s) top
      ) k ON true
     ORDER BY t.creator_id, t.id
"""


def video_facts(conn: psycopg.Connection, lo: int, hi: int, day: date, day_end: datetime) -> list[dict]:
    """The facts of day `day` of every tracked video (status 'success', published before
    `day_end`) of the creators lo <= id < hi: one row per video {"video_id", "creator_id",
    "creator_name", "creator_email", "platform_id", "views_series" (the 30 days ending at
    `day`, oldest first, None where no stats), "facts" (dict, stored as the report's facts)}.

    `facts`: views/likes/comments/shares/watch_minutes of the day (None without stats);
    views_prev_day, change_prev_day and change_prev_day_pct (2 decimals; None when the day
    before had 0 views); mean_7d (daily mean of the 7 days before that have stats, 1
    decimal), days_in_mean_7d, change_vs_mean_7d (1 decimal) and its _pct; engagement_rate
    ((likes + comments + shares) / views, 4 decimals); prediction {made_for, method,
    model_version, next_7_days_views} of the latest prediction made for a day <= `day`, or
    None; keywords: the top 5 by rank (the table keeps only the latest extraction)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_FACTS, {"lo": lo, "hi": hi, "day": day, "day_end": day_end, "chart_days": CHART_DAYS,
                             "top_keywords": TOP_KEYWORDS})
        return cur.fetchall()


_STAGE = """
    CREATE TEMP TABLE report_stage (
        video_id bigint PRIMARY KEY, facts jsonb NOT NULL, narrative text NOT NULL,
        narrative_source text NOT NULL, fallback_reason text
    ) ON COMMIT DROP
"""

_MERGE = """
    INSERT INTO videos.daily_reports AS r (video_id, day, facts, narrative, narrative_source, fallback_reason)
    SELECT s.video_id, %(day)s, s.facts, s.narrative, s.narrative_source, s.fallback_reason
      FROM report_stage s
    ON CONFLICT (video_id, day) DO UPDATE
       SET facts = EXCLUDED.facts, narrative = EXCLUDED.narrative,
           narrative_source = EXCLUDED.narrative_source, fallback_reason = EXCLUDED.fallback_reason
     WHERE (r.facts, r.narrative, r.narrative_source, r.fallback_reason)
           IS DISTINCT FROM (EXCLUDED.facts, EXCLUDED.narrative, EXCLUDED.narrative_source, EXCLUDED.fallback_reason)
"""

# A report of the day for a video of these creators that is no longer tracked (status changed
# since an earlier run): the rerun replaces the day's reports, so it goes.
_DELETE_STALE = """
    DELETE FROM videos.daily_reports r
     USING videos.videos v
     WHERE r.video_id = v.id AND r.day = %(day)s
       AND v.creator_id >= %(lo)s AND v.creator_id < %(hi)s
       AND NOT EXISTS (SELECT 1 FROM report_stage s WHERE s.video_id = r.video_id)
"""


def replace_reports(conn: psycopg.Connection, day: date, lo: int, hi: int,
                    reports: list[tuple[int, dict, str, str, str | None]]) -> tuple[int, int]:
    """Make `reports` [(video_id, facts, narrative, source, fallback_reason)] the day's
    reports of the creators lo <= id < hi, in the caller's transaction: COPY into a staging
    table, one merge that writes only rows that change, one delete of reports of videos no
    longer tracked. Returns (rows written, rows deleted)."""
    with conn.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy("COPY report_stage (video_id, facts, narrative, narrative_source, fallback_reason) "
                      "FROM STDIN") as copy:
            for video_id, facts, narrative, source, reason in reports:
                copy.write_row((video_id, json.dumps(facts), narrative, source, reason))
        cur.execute(_MERGE, {"day": day})
        written = cur.rowcount
        cur.execute(_DELETE_STALE, {"day": day, "lo": lo, "hi": hi})
        deleted = cur.rowcount
        cur.execute("DROP TABLE report_stage")  # now, so a second call in the same transaction can stage again
    return written, deleted
