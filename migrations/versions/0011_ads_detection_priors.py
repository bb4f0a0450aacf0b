"""Ads anomaly detection at scale: running totals on every daily stats row, and a day index that
reads one day of a range of accounts as one contiguous index range.

Every `ads.campaign_daily_stats` row carries the totals of its campaign's rows BEFORE its day
(`prior_*`): the number of rows, their spend, and per metric (CPA where conversions > 0, ROAS
where revenue was reported and spend > 0) the number of values, their sum and their sum of
squares, each value rounded to 6 places (exact NUMERIC, so a recomputation gives the same
totals bit for bit). The totals of a trailing window [d - N, d - 1] are then the difference of
two rows' totals (day d and the first row on or after d - N), whatever N: the detector gets
the baseline's row count, mean spend, and the mean and standard deviation of each metric from
two rows per campaign-day instead of N, and computes the median and MAD only where those
bound an alert as possible (|median - mean| <= standard deviation). The fetch merge
(include/ads/repository/fetch.py) keeps them right; `refresh_priors` there recomputes them for
any other writer.

`campaign_daily_stats_day_idx (day)` becomes `(day, account_id, campaign_id)`: one day of a
range of accounts is one index range (the detector's batches and the fetch's bounds).

Revision ID: 0011
"""

from alembic import op

revision = "0011"
down_revision = "0013"  # the single head when this was written (0010 absent; 0012-0013 chain on 0009)
branch_labels = None
depends_on = None

PRIORS = (
    ("prior_days", "integer"), ("prior_spend", "numeric"),
    ("prior_cpa_days", "integer"), ("prior_cpa_sum", "numeric"), ("prior_cpa_sq", "numeric"),
    ("prior_roas_days", "integer"), ("prior_roas_sum", "numeric"), ("prior_roas_sq", "numeric"),
)


def upgrade() -> None:
    op.execute("ALTER TABLE ads.campaign_daily_stats "
               + ", ".join(f"ADD COLUMN {name} {kind} NOT NULL DEFAULT 0" for name, kind in PRIORS))
    # The totals of the rows already stored (a campaign's first row keeps the default 0s).
    op.execute("""
        UPDATE ads.campaign_daily_stats t
           SET prior_days = r.days, prior_spend = r.spend, prior_cpa_days = r.cpa_days, prior_cpa_sum = r.cpa_sum,
               prior_cpa_sq = r.cpa_sq, prior_roas_days = r.roas_days, prior_roas_sum = r.roas_sum,
               prior_roas_sq = r.roas_sq
          FROM (SELECT s.account_id, s.campaign_id, s.day,
                       count(*) OVER w AS days, sum(s.spend) OVER w AS spend,
                       count(v.cpa) OVER w AS cpa_days, coalesce(sum(v.cpa) OVER w, 0) AS cpa_sum,
                       coalesce(sum(v.cpa * v.cpa) OVER w, 0) AS cpa_sq,
                       count(v.roas) OVER w AS roas_days, coalesce(sum(v.roas) OVER w, 0) AS roas_sum,
                       coalesce(sum(v.roas * v.roas) OVER w, 0) AS roas_sq
                  FROM ads.campaign_daily_stats s
                 CROSS JOIN LATERAL (
                     SELECT CASE WHEN s.conversions > 0 THEN round(s.spend / s.conversions, 6) END AS cpa,
                            CASE WHEN s.revenue IS NOT NULL AND s.spend > 0 THEN round(s.revenue / s.spend, 6) END
                                AS roas) v
                WINDOW w AS (PARTITION BY s.account_id, s.campaign_id ORDER BY s.day
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) r
         WHERE t.account_id = r.account_id AND t.campaign_id = r.campaign_id AND t.day = r.day AND r.days > 0""")
    op.execute("DROP INDEX ads.campaign_daily_stats_day_idx")
    op.execute("CREATE INDEX campaign_daily_stats_day_idx ON ads.campaign_daily_stats (day, account_id, campaign_id)")


def downgrade() -> None:
    op.execute("DROP INDEX ads.campaign_daily_stats_day_idx")
    op.execute("CREATE INDEX campaign_daily_stats_day_idx ON ads.campaign_daily_stats (day)")
    op.execute("ALTER TABLE ads.campaign_daily_stats " + ", ".join(f"DROP COLUMN {name}" for name, _ in PRIORS))
