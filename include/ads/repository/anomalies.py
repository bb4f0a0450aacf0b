"""SQL of the anomaly detector: one statement per key range of ad accounts scores every
campaign-day of the evaluated days against its trailing baseline (median and MAD of the
previous N days, `percentile_cont` over each campaign's baseline values), inserts the
anomalies once (ON CONFLICT DO NOTHING on the natural key) and returns the new ones with
what their email needs. Campaigns are those of `ads.campaigns` (the fetch merges a campaign
before its stats); stats rows of an unknown campaign id are not scored."""

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
# One pass of plain aggregates over every evaluated campaign-day's baseline days [day - N,
# day - 1] (history, mean spend, the minimum CPA and maximum ROAS); then the exact pruning
# below leaves the few campaign-days that could reach the threshold, and only those get their
# median and MAD (`percentile_cont`) from their campaign's baseline rows, read by primary key.
_DETECT = """
    WITH observed AS (  -- the evaluated campaign-days that spent at least min_spend: per campaign of
                        -- the range one primary-key lookup (a day-index scan would read every
                        -- account's rows of the day in every batch)
        SELECT s.account_id, s.campaign_id, s.day,
               s.spend::float8 / nullif(s.conversions::float8, 0) AS cpa,
               s.revenue::float8 / nullif(s.spend::float8, 0) AS roas
          FROM ads.campaigns c
          JOIN ads.campaign_daily_stats s ON s.account_id = c.account_id AND s.campaign_id = c.id
                                         AND s.day >= %(first)s AND s.day <= %(last)s
         WHERE c.account_id >= %(lo)s AND c.account_id < %(hi)s AND s.spend >= %(min_spend)s
    ),
    baselines AS (  -- per observed campaign-day, plain aggregates of its baseline days, read by
                    -- primary key (one index range of N rows each; NUMERIC is cheaper here than
                    -- float8 conversions of every row)
        SELECT o.*, b.*
          FROM observed o
         CROSS JOIN LATERAL (
             SELECT avg(s.spend) AS baseline_spend,
                    count(*) FILTER (WHERE s.conversions > 0) AS cpa_days,
                    min(s.spend / nullif(s.conversions, 0))::float8 AS cpa_min,
                    count(s.revenue) FILTER (WHERE s.spend > 0) AS roas_days,
                    max(s.revenue / nullif(s.spend, 0))::float8 AS roas_max
               FROM ads.campaign_daily_stats s
              WHERE s.account_id = o.account_id AND s.campaign_id = o.campaign_id
                AND s.day >= o.day - %(baseline_days)s AND s.day < o.day
         ) b
    ),
    candidates AS (  -- one row per campaign-day and metric with enough spend and history: scored
        SELECT b.account_id, b.campaign_id, b.day, m.metric, m.x, m.bound
          FROM baselines b
         CROSS JOIN LATERAL (VALUES ('cpa', b.cpa, b.cpa_min, b.cpa_days),
                                    ('roas', b.roas, b.roas_max, b.roas_days)) AS m(metric, x, bound, days)
         WHERE b.baseline_spend >= %(min_spend)s AND m.x IS NOT NULL AND m.days >= %(min_history)s
    ),
    -- Exact pruning before any median: the MAD is floored at mad_floor x median, so an alert
    -- needs |x - median| >= reach x median (reach = threshold x 1.4826 x mad_floor). A CPA
    -- spike then has x >= (1 + reach) x median >= (1 + reach) x the baseline's minimum, a ROAS
    -- drop x <= (1 - reach) x median <= (1 - reach) x its maximum. Only the few campaign-days
    -- that pass (a tiny slack against rounding) get their median and MAD computed.
    suspects AS (
        SELECT c.*,
               (SELECT array_agg(v.v) FROM ads.campaign_daily_stats t  -- by its primary key: one campaign
                 CROSS JOIN LATERAL (SELECT CASE c.metric
                     WHEN 'cpa' THEN t.spend::float8 / nullif(t.conversions::float8, 0)
                     ELSE t.revenue::float8 / nullif(t.spend::float8, 0) END AS v) v
                 WHERE t.account_id = c.account_id AND t.campaign_id = c.campaign_id
                   AND t.day >= c.day - %(baseline_days)s AND t.day < c.day AND v.v IS NOT NULL) AS vals
          FROM candidates c
         WHERE CASE c.metric
                   WHEN 'cpa' THEN c.x >= (1 + %(reach)s) * c.bound * (1 - 1e-9)
                   ELSE c.x <= (1 - %(reach)s) * c.bound * (1 + 1e-9) END
    ),
    medians AS (
        SELECT s.*, med.median
          FROM suspects s
         CROSS JOIN LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS median
                               FROM unnest(s.vals) AS v) med
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
           (SELECT count(*) FROM candidates) AS scored,
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
                              "mad_floor": mad_floor, "mad_scale": MAD_SCALE,
                              "reach": threshold * MAD_SCALE * mad_floor})
        return cur.fetchone()
