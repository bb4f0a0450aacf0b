"""SQL of the anomaly detector: one statement per key range of ad accounts scores every
campaign-day of the evaluated days against its trailing baseline (median and MAD of the
previous N days, `percentile_cont` over each campaign's baseline values), inserts the
anomalies once (ON CONFLICT DO NOTHING on the natural key) and returns the new ones with
what their email needs. Campaigns are those of `ads.campaigns` (the fetch merges a campaign
before its stats); stats rows of an unknown campaign id are not scored."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
from psycopg.rows import dict_row

MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of a normal series
# The running totals sum each metric rounded to 6 places: the scored (float) values differ by
# at most 5e-7 from those, and their median by as much; the mean and standard deviation are
# float8 of exact totals (sd off by < 1e-7 x the mean): the bounds allow 1e-6 x (1 + mean).
VALUE_SLACK = 1e-6


def account_id_bounds(conn: psycopg.Connection, first: date, last: date) -> tuple[int, int] | None:
    """(lowest, highest) id of the accounts with stats on a day of [first, last], or None
    (per day the first and last entry of the day index: no scan of the days' rows)."""
    row = conn.execute("""SELECT min(b.lo), max(b.hi)
                            FROM generate_series(%s::date, %s::date, interval '1 day') d
                           CROSS JOIN LATERAL (SELECT min(s.account_id) AS lo, max(s.account_id) AS hi
                                                 FROM ads.campaign_daily_stats s WHERE s.day = d::date) b""",
                       (first, last)).fetchone()
    return None if row[0] is None else (row[0], row[1])


# One pass over the evaluated days' rows of the account range, with no baseline row read:
# every stats row carries the running totals of its campaign's rows before its day (`prior_*`,
# migration 0011, kept by the fetch merge), so the baseline [day - N, day - 1] of a
# campaign-day is its row's totals minus those of the campaign's first row on or after day - N
# (its row of day - N when the campaign has one: one contiguous index range per day of the
# account range, hash-joined; else one probe). That gives exactly the baseline's rows, mean
# spend and number of CPA and ROAS values (the gates), and the mean and standard deviation of
# each metric's (6-place) values. One aggregate over that pass counts the campaign-days and
# metrics and collects, by an exact pruning, the few metric-days that could alert: only those
# get their median and MAD (`percentile_cont`) from their campaign's baseline rows, read by
# primary key.
# Why this shape (measured at 10k accounts x 20 campaigns x 90 days): the totals' numeric
# differences and float8 casts are most of the per-row cost, so `baselines` computes them once
# (OFFSET 0: not inlined into each expression using them); no CTE of the rows is written and
# no per-metric row built (a LATERAL VALUES re-initialises its expressions for every row);
# ads.campaigns is a LEFT-joined flag because an inner join is estimated at 1 row (campaign and
# account ids are correlated), which led the planner to nested loops over a batch's rows.
_DETECT = """
    WITH window_starts AS (  -- the rows N days before the evaluated days: each baseline's first day
                             -- (inlined: joined on day + N, it stays one range scan, hash-joined)
        SELECT s.account_id, s.campaign_id, s.day + %(baseline_days)s AS day,
               s.prior_days, s.prior_spend, s.prior_cpa_days, s.prior_cpa_sum, s.prior_cpa_sq,
               s.prior_roas_days, s.prior_roas_sum, s.prior_roas_sq
          FROM ads.campaign_daily_stats s
         WHERE s.day = ANY(%(start_days)s::date[]) AND s.account_id >= %(lo)s AND s.account_id < %(hi)s
    ),
    baselines AS (  -- per evaluated campaign-day that spent min_spend: its values and its baseline's totals
        SELECT s.account_id, s.campaign_id, s.day, c.id IS NOT NULL AS known,  -- unknown campaigns: not scored
               s.spend::float8 / nullif(s.conversions::float8, 0) AS cpa,
               s.revenue::float8 / nullif(s.spend::float8, 0) AS roas,
               c.id IS NOT NULL AND s.prior_days - coalesce(w.prior_days, f.prior_days) > 0
                   AND s.prior_spend - coalesce(w.prior_spend, f.prior_spend)
                       >= %(min_spend)s::numeric * (s.prior_days - coalesce(w.prior_days, f.prior_days)) AS gate,
               s.prior_cpa_days - coalesce(w.prior_cpa_days, f.prior_cpa_days) AS cpa_n,
               (s.prior_cpa_sum - coalesce(w.prior_cpa_sum, f.prior_cpa_sum))::float8 AS cpa_sum,
               (s.prior_cpa_sq - coalesce(w.prior_cpa_sq, f.prior_cpa_sq))::float8 AS cpa_sq,
               s.prior_roas_days - coalesce(w.prior_roas_days, f.prior_roas_days) AS roas_n,
               (s.prior_roas_sum - coalesce(w.prior_roas_sum, f.prior_roas_sum))::float8 AS roas_sum,
               (s.prior_roas_sq - coalesce(w.prior_roas_sq, f.prior_roas_sq))::float8 AS roas_sq
          FROM ads.campaign_daily_stats s
          LEFT JOIN ads.campaigns c ON c.id = s.campaign_id AND c.account_id = s.account_id
                                   AND c.account_id >= %(lo)s AND c.account_id < %(hi)s  -- the range's only
          LEFT JOIN window_starts w ON w.account_id = s.account_id AND w.campaign_id = s.campaign_id
                                   AND w.day = s.day
          LEFT JOIN LATERAL (  -- no row on day - N (a gap, a young campaign): the first one after it
             SELECT t.prior_days, t.prior_spend, t.prior_cpa_days, t.prior_cpa_sum, t.prior_cpa_sq,
                    t.prior_roas_days, t.prior_roas_sum, t.prior_roas_sq
               FROM ads.campaign_daily_stats t
              WHERE w.day IS NULL AND t.account_id = s.account_id AND t.campaign_id = s.campaign_id
                AND t.day >= s.day - %(baseline_days)s
              ORDER BY t.day LIMIT 1) f ON true
         WHERE s.day = ANY(%(days)s::date[]) AND s.account_id >= %(lo)s AND s.account_id < %(hi)s
           AND s.spend >= %(min_spend)s
        OFFSET 0
    ),
    gated AS (  -- per campaign-day, for each metric: scored (enough spend and history)? its mean
        SELECT b.*,
               b.gate AND b.cpa IS NOT NULL AND b.cpa_n >= %(min_history)s AS cpa_scored,
               b.gate AND b.roas IS NOT NULL AND b.roas_n >= %(min_history)s AS roas_scored,
               b.cpa_sum / nullif(b.cpa_n, 0) AS cpa_mean, b.roas_sum / nullif(b.roas_n, 0) AS roas_mean
          FROM baselines b
    ),
    spread AS (  -- and the (population) standard deviation
        SELECT g.*,
               sqrt(greatest(g.cpa_sq / nullif(g.cpa_n, 0) - g.cpa_mean * g.cpa_mean, 0)) AS cpa_sd,
               sqrt(greatest(g.roas_sq / nullif(g.roas_n, 0) - g.roas_mean * g.roas_mean, 0)) AS roas_sd
          FROM gated g
    ),
    -- Exact pruning before any median: the MAD is floored at mad_floor x median, so an alert
    -- needs |x - median| >= reach x median (reach = threshold x 1.4826 x mad_floor): a CPA
    -- spike x >= (1 + reach) x median, a ROAS drop x <= (1 - reach) x median. Any median lies
    -- within one (population) standard deviation of the mean, and the 6-place values the
    -- totals sum differ from the scored ones by < 1e-6: so the median is at least
    -- mean - sd - slack and at most mean + sd + slack, the slack also covering the float8
    -- rounding of mean and sd (the totals are exact; sd's error is below 1e-7 x the mean).
    -- Only the metric-days that pass (`suspects`) get their median and MAD computed.
    tally AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE g.known) AS observed_days,
               count(*) FILTER (WHERE g.cpa_scored) + count(*) FILTER (WHERE g.roas_scored) AS scored,
               array_agg(ROW(g.account_id, g.campaign_id, g.day, 'cpa'::text, g.cpa)) FILTER (
                   WHERE g.cpa_scored
                     AND g.cpa >= (1 + %(reach)s) * (g.cpa_mean - g.cpa_sd - %(slack)s * (1 + g.cpa_mean)) * (1 - 1e-9))
               || array_agg(ROW(g.account_id, g.campaign_id, g.day, 'roas'::text, g.roas)) FILTER (
                   WHERE g.roas_scored
                     AND (%(reach)s >= 1
                          OR g.roas <= (1 - %(reach)s) * (g.roas_mean + g.roas_sd + %(slack)s * (1 + g.roas_mean))
                                       * (1 + 1e-9)))
                   AS suspects
          FROM spread g
    ),
    suspects AS (
        SELECT c.*,
               (SELECT array_agg(v.v) FROM ads.campaign_daily_stats t  -- by its primary key: one campaign
                 CROSS JOIN LATERAL (SELECT CASE c.metric
                     WHEN 'cpa' THEN t.spend::float8 / nullif(t.conversions::float8, 0)
                     ELSE t.revenue::float8 / nullif(t.spend::float8, 0) END AS v) v
                 WHERE t.account_id = c.account_id AND t.campaign_id = c.campaign_id
                   AND t.day >= c.day - %(baseline_days)s AND t.day < c.day AND v.v IS NOT NULL) AS vals
          FROM tally
         CROSS JOIN unnest(tally.suspects) AS c(account_id bigint, campaign_id bigint, day date, metric text, x float8)
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
    SELECT (SELECT observed_days FROM tally) AS observed_days, (SELECT scored FROM tally) AS scored,
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
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        # JIT would compile this statement's ~120 expressions for every batch (its cost passes
        # jit_above_cost at 3 evaluated days): ~110 ms a batch, more than the execution. LOCAL:
        # until the caller's commit.
        cur.execute("SET LOCAL jit = off")
        # Always a custom plan: psycopg prepares a statement run 5 times, and PostgreSQL's
        # generic plan for it (lo, hi unknown) then drives the scan from ads.campaigns with a
        # primary-key probe per campaign filtering all its days: ~10x slower.
        cur.execute(_DETECT, {"lo": lo, "hi": hi, "days": days,
                              "start_days": [d - timedelta(days=baseline_days) for d in days],
                              "baseline_days": baseline_days, "slack": VALUE_SLACK,
                              "min_history": min_history, "min_spend": min_spend, "threshold": threshold,
                              "mad_floor": mad_floor, "mad_scale": MAD_SCALE,
                              "reach": threshold * MAD_SCALE * mad_floor}, prepare=False)
        return cur.fetchone()
