"""SQL of the AdSense earnings: one set-based upsert per report, keyed by (account, day)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import psycopg

EarningsRow = tuple[date, Decimal, int, int]  # (day, estimated_earnings, page_views, clicks)


def upsert_earnings(conn: psycopg.Connection, account_id: str, currency: str,
                    rows: Sequence[EarningsRow]) -> tuple[int, int]:
    """Insert new days, update days whose figures (or currency) changed; (inserted, updated).
    Money goes over the wire as numeric, never float."""
    if not rows:
        return 0, 0
    days, earnings, page_views, clicks = (list(column) for column in zip(*rows, strict=True))
    inserted, updated = conn.execute(
        """
        WITH merged AS (
            INSERT INTO videos.adsense_earnings AS t
                   (account_id, day, estimated_earnings, page_views, clicks, currency)
            SELECT %(account)s, r.day, r.earnings, r.page_views, r.clicks, %(currency)s
              FROM unnest(%(days)s::date[], %(earnings)s::numeric[], %(page_views)s::bigint[],
                          %(clicks)s::bigint[]) AS r(day, earnings, page_views, clicks)
            ON CONFLICT (account_id, day) DO UPDATE
               SET estimated_earnings = EXCLUDED.estimated_earnings, page_views = EXCLUDED.page_views,
                   clicks = EXCLUDED.clicks, currency = EXCLUDED.currency, synced_at = now()
             WHERE (t.estimated_earnings, t.page_views, t.clicks, t.currency)
                   IS DISTINCT FROM
                   (EXCLUDED.estimated_earnings, EXCLUDED.page_views, EXCLUDED.clicks, EXCLUDED.currency)
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """,
        {"account": account_id, "currency": currency, "days": days, "earnings": earnings,
         "page_views": page_views, "clicks": clicks}).fetchone()
    return inserted, updated
