"""SQL of the anomaly detector: one statement per key range of ad accounts scores every
campaign-day of the evaluated days against its trailing baseline (median and MAD of the
previous N days, `percentile_cont` over each campaign's baseline values), inserts the
anomalies once (ON CONFLICT DO NOTHING on the natural key) and returns the new ones with
what their email needs."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg.rows import dict_row

MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of a normal series


def account_id_bounds(conn: psycopg.Connection, first: date, last: date) -> tuple[int, int] | None:
    """(lowest, highest) id of the accounts with stats on a day of [first, last], or None."""
    row = conn.execute("SELECT min(account_id), max(account_id) FROM ads.campaign_daily_stats "
                       "WHERE day >= %s AND day <= %s", (first, last)).fetchone()
    return None if row[0] is None else (row[0], row[1])


# Daily values per campaign: CPA only where there were conversions, ROAS only where the
# platform reported revenue and something was spent (NULL revenue is "no value", not 0).
# Each observed campaign-day (spend >= min_spend) is joined once to its baseline days
# [day - N, day - 1] and both metrics' baseline values are collected in that one pass; the
# median and MAD are then percentile_cont over those few values.
_DETECT = """
    WITH daily AS (
        SELECT s.account_id, s.campaign_id, s.day, s.spend::float8 AS spend,
               CASE WHEN s.conversions > 0 THEN (s.spend / s.conversions)::float8 END AS cpa,
               CASE WHEN s.spend > 0 AND s.revenue IS NOT NULL THEN (s.revenue / s.spend)::float8 END AS roas
          FROM ads.campaign_daily_stats s
         WHERE s.account_id >= %(lo)s AND s.account_id < %(hi)s
           AND s.day >= %(first)s::date - %(baseline_days)s AND s.day <= %(last)s
    ),
    observed AS (
        SELECT * FROM daily WHERE day >= %(first)s AND spend >= %(min_spend)s
    ),
    baselines AS (
        SELECT o.account_id, o.campaign_id, o.day, o.cpa, o.roas,
               avg(b.spend) AS baseline_spend,
               array_agg(b.cpa) FILTER (WHERE b.cpa IS NOT NULL) AS cpa_values,
               array_agg(b.roas) FILTER (WHERE b.roas IS NOT NULL) AS roas_values
          FROM observed o
          JOIN daily b ON b.account_id = o.account_id AND b.campaign_id = o.campaign_id
                      AND b.day >= o.day - %(baseline_days)s AND b.day < o.day
         GROUP BY o.account_id, o.campaign_id, o.day, o.cpa, o.roas
    ),
    candidates AS (  -- one row per campaign-day and metric with enough spend and history
        SELECT b.account_id, b.campaign_id, b.day, m.metric, m.x, m.vals
          FROM baselines b
         CROSS JOIN LATERAL (VALUES ('cpa', b.cpa, b.cpa_values), ('roas', b.roas, b.roas_values)) AS m(metric, x, vals)
         WHERE b.baseline_spend >= %(min_spend)s AND m.x IS NOT NULL
           AND cardinality(m.vals) >= %(min_history)s
    ),
    medians AS (
        SELECT c.*, med.median
          FROM candidates c
         CROSS JOIN LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS median
                               FROM unnest(c.vals) AS v) med
    ),
    scored AS (
        SELECT m.account_id, m.campaign_id, m.day, m.metric, m.x, m.median,
               (m.x - m.median) / (%(mad_scale)s * greatest(mad.mad, %(mad_floor)s * m.median)) AS z
          FROM medians m
         CROSS JOIN LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v - m.median)) AS mad
                               FROM unnest(m.vals) AS v) mad
         WHERE m.median > 0
    ),
    flagged AS (
        SELECT * FROM scored
         WHERE (metric = 'cpa' AND z >= %(threshold)s) OR (metric = 'roas' AND z <= -%(threshold)s)
    ),
    inserted AS (
        INSERT INTO ads.anomalies (account_id, campaign_id, metric, period, period_start, observed, baseline,
                                   deviation)
        SELECT account_id, campaign_id, metric, 'day', day::timestamp AT TIME ZONE 'UTC', x, median, z
          FROM flagged
        ON CONFLICT (account_id, campaign_id, metric, period, period_start) DO NOTHING
        RETURNING id, account_id, campaign_id, metric, period_start, observed, baseline, deviation
    )
    SELECT (SELECT count(*) FROM observed) AS observed_days,
           (SELECT count(*) FROM scored) AS scored,
           (SELECT count(*) FROM flagged) AS flagged,
           coalesce((
               SELECT json_agg(json_build_object(
                          'id', i.id, 'account_id', i.account_id, 'campaign_id', i.campaign_id,
                          'metric', i.metric, 'day', (i.period_start AT TIME ZONE 'UTC')::date,
                          'observed', i.observed, 'baseline', i.baseline, 'deviation', i.deviation,
                          'account_name', a.name, 'platform', a.platform, 'currency', a.currency,
                          'external_account_id', a.external_account_id,
                          'campaign_name', coalesce(c.name, ''), 'external_campaign_id', c.external_campaign_id,
                          'user_id', u.id, 'email', u.email, 'user_name', u.name, 'user_active', u.is_active)
                          ORDER BY i.id)
                 FROM inserted i
                 JOIN ads.ad_accounts a ON a.id = i.account_id
                 JOIN ads.users u ON u.id = a.user_id
                 LEFT JOIN ads.campaigns c ON c.id = i.campaign_id
           ), '[]'::json) AS new_anomalies
"""


def detect_range(conn: psycopg.Connection, lo: int, hi: int, *, first: date, last: date, baseline_days: int,
                 min_history: int, min_spend: float, threshold: float, mad_floor: float) -> dict:
    """Score the campaign-days of [first, last] of the accounts lo <= id < hi and insert
    their new anomalies (in the caller's transaction). Returns {"observed_days" (campaign-days
    with spend >= min_spend), "scored" (campaign-day metrics with enough spend and history),
    "flagged" (over the threshold, new or not), "new_anomalies": [{id, account_id,
    campaign_id, metric, day, observed, baseline, deviation, account_name, platform,
    currency, external_account_id, campaign_name, external_campaign_id, user_id, email,
    user_name, user_active}, ...]}."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_DETECT, {"lo": lo, "hi": hi, "first": first, "last": last, "baseline_days": baseline_days,
                              "min_history": min_history, "min_spend": min_spend, "threshold": threshold,
                              "mad_floor": mad_floor, "mad_scale": MAD_SCALE})
        return cur.fetchone()
