"""SQL of the ads daily report: every figure of every account of a key range of users for one
day, in one statement (exact NUMERIC throughout, rounded once here)."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg.rows import dict_row

CHART_DAYS = 30
MEAN_DAYS = 7

_ELIGIBLE = "u.is_active AND NOT u.report_opt_out"


def recipient_id_bounds(conn: psycopg.Connection) -> tuple[int, int] | None:
    """(lowest, highest) id of the users who may get a report (active, not opted out, with
    an ad account), or None when nobody may."""
    row = conn.execute(f"SELECT min(u.id), max(u.id) FROM ads.users u WHERE {_ELIGIBLE} "
                       "AND EXISTS (SELECT 1 FROM ads.ad_accounts a WHERE a.user_id = u.id)").fetchone()
    return None if row[0] is None else (row[0], row[1])


# Per account: the day's totals over its campaigns and the totals of the 7 days before
# (a day without stats spent nothing). CPA = spend / conversions, ROAS = revenue / the spend
# of the campaigns that reported revenue (NULL revenue is "no value", not 0); the 7-day
# CPA and ROAS are those of the 7 days' totals (the spend-weighted mean), the 7-day spend
# the daily mean (total / 7). Changes are taken between the exact values, then rounded:
# money and ratios to 2 decimals, percentages to 1. `spend_series`: the 30 days ending on
# the day, 0 where nothing was spent (the chart's bars).
_FIGURES = f"""
    WITH accounts AS (
        SELECT a.id, a.user_id, a.name, a.platform, a.external_account_id, a.currency,
               u.email, u.name AS user_name
          FROM ads.users u
          JOIN ads.ad_accounts a ON a.user_id = u.id
         WHERE u.id >= %(lo)s AND u.id < %(hi)s AND {_ELIGIBLE}
    ),
    daily AS (
        SELECT s.account_id, s.day, sum(s.spend) AS spend, sum(s.conversions) AS conversions,
               sum(s.revenue) AS revenue, sum(s.spend) FILTER (WHERE s.revenue IS NOT NULL) AS revenue_spend
          FROM accounts a
          JOIN ads.campaign_daily_stats s ON s.account_id = a.id
         WHERE s.day > %(day)s::date - %(chart_days)s AND s.day <= %(day)s
         GROUP BY s.account_id, s.day
    ),
    windows AS (
        SELECT account_id,
               sum(spend) FILTER (WHERE day = %(day)s) AS spend,
               sum(conversions) FILTER (WHERE day = %(day)s) AS conversions,
               sum(revenue) FILTER (WHERE day = %(day)s) AS revenue,
               sum(revenue_spend) FILTER (WHERE day = %(day)s) AS revenue_spend,
               coalesce(sum(spend) FILTER (WHERE day >= %(day)s::date - %(mean_days)s AND day < %(day)s), 0)
                   AS spend_7d,
               sum(conversions) FILTER (WHERE day >= %(day)s::date - %(mean_days)s AND day < %(day)s) AS conversions_7d,
               sum(revenue) FILTER (WHERE day >= %(day)s::date - %(mean_days)s AND day < %(day)s) AS revenue_7d,
               sum(revenue_spend) FILTER (WHERE day >= %(day)s::date - %(mean_days)s AND day < %(day)s)
                   AS revenue_spend_7d
          FROM daily
         GROUP BY account_id
        HAVING sum(spend) FILTER (WHERE day = %(day)s) > 0
    ),
    exact AS (
        SELECT w.*,
               w.spend / nullif(w.conversions, 0) AS cpa,
               w.revenue / nullif(w.revenue_spend, 0) AS roas,
               w.spend_7d / %(mean_days)s AS mean_spend_7d,
               w.spend_7d / nullif(w.conversions_7d, 0) AS cpa_7d,
               w.revenue_7d / nullif(w.revenue_spend_7d, 0) AS roas_7d
          FROM windows w
    )
    SELECT a.user_id, a.email, a.user_name, a.id AS account_id, a.name AS account_name, a.platform,
           a.external_account_id, a.currency,
           round(e.spend, 2) AS spend, e.conversions, round(e.revenue, 2) AS revenue,
           round(e.cpa, 2) AS cpa, round(e.roas, 2) AS roas,
           round(e.mean_spend_7d, 2) AS mean_spend_7d, round(e.cpa_7d, 2) AS cpa_7d, round(e.roas_7d, 2) AS roas_7d,
           round(e.spend - e.mean_spend_7d, 2) AS spend_change,
           round((e.spend - e.mean_spend_7d) * 100 / nullif(e.mean_spend_7d, 0), 1) AS spend_change_pct,
           round(e.cpa - e.cpa_7d, 2) AS cpa_change,
           round((e.cpa - e.cpa_7d) * 100 / nullif(e.cpa_7d, 0), 1) AS cpa_change_pct,
           round(e.roas - e.roas_7d, 2) AS roas_change,
           round((e.roas - e.roas_7d) * 100 / nullif(e.roas_7d, 0), 1) AS roas_change_pct,
           (SELECT array_agg(coalesce(d.spend, 0) ORDER BY g.day)
              FROM generate_series(%(day)s::date - (%(chart_days)s - 1), %(day)s::date, interval '1 day') AS g(day)
              LEFT JOIN daily d ON d.account_id = e.account_id AND d.day = g.day::date) AS spend_series
      FROM exact e
      JOIN accounts a ON a.id = e.account_id
     ORDER BY a.user_id, a.currency, e.spend DESC, a.id
"""


def account_figures(conn: psycopg.Connection, lo: int, hi: int, day: date) -> list[dict]:
    """One row per account that spent on `day` of the eligible users lo <= id < hi, ordered
    by (user, currency, spend descending): {"user_id", "email", "user_name", "account_id",
    "account_name", "platform", "external_account_id", "currency", "spend", "conversions",
    "revenue", "cpa", "roas", "mean_spend_7d", "cpa_7d", "roas_7d", "spend_change",
    "spend_change_pct", "cpa_change", "cpa_change_pct", "roas_change", "roas_change_pct",
    "spend_series"} (Decimals; None where a figure has no value: no conversions, no revenue
    reported, nothing in the 7 days before)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_FIGURES, {"lo": lo, "hi": hi, "day": day, "chart_days": CHART_DAYS, "mean_days": MEAN_DAYS})
        return cur.fetchall()
