"""Sync an AdSense account's daily earnings for a range of days.

AdSense revises its estimates of recent days, so the job re-reads the last few days every
time and upserts them per (account, day): a revised day is updated, an unchanged one is not
written. Too many malformed rows fail the run before anything is written.
"""

from __future__ import annotations

import logging
from datetime import date

import psycopg

from include.common.validation import BatchReport
from include.videos.adsense_client import AdSenseClient, account_name
from include.videos.repository import adsense_sync as repository

log = logging.getLogger(__name__)

MALFORMED_THRESHOLD = 0.05


def sync_earnings(conn: psycopg.Connection, client: AdSenseClient, account_id: str, start_day: date,
                  end_day: date, *, malformed_threshold: float = MALFORMED_THRESHOLD) -> dict:
    """Fetch and upsert start_day..end_day (inclusive) of the account; commits. Returns the
    receipt: fetched, malformed, stored (valid days written or confirmed), inserted, updated."""
    if start_day > end_day:
        raise ValueError(f"start_day {start_day} is after end_day {end_day}")
    account = account_name(account_id)
    report = BatchReport()
    result = client.daily_earnings(account, start_day, end_day, report)
    report.check(malformed_threshold)
    outside = [r.day for r in result.rows if not start_day <= r.day <= end_day]
    if outside:  # a day we did not ask for would be written under the wrong run
        raise ValueError(f"AdSense answered days outside {start_day}..{end_day}: {outside[:5]}")
    rows = [(r.day, r.estimated_earnings, r.page_views, r.clicks) for r in result.rows]
    inserted, updated = repository.upsert_earnings(conn, account, result.currency, rows)
    conn.commit()
    report.stored = len(rows)
    receipt = {"account_id": account, "start_day": start_day.isoformat(), "end_day": end_day.isoformat(),
               "currency": result.currency, **report.as_dict(), "inserted": inserted, "updated": updated}
    log.info("adsense %s: %s", account, receipt)
    return receipt
