"""Rows for the ads service tests: users, accounts, campaigns and daily stats, built by the test."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import psycopg

from include.ads.repository.fetch import refresh_priors


def user(conn: psycopg.Connection, *, active: bool = True, opt_out: bool = False, name: str = "Ada") -> tuple[int, str]:
    email = f"{name.lower()}_{uuid.uuid4().hex[:10]}@ads.test"
    uid = conn.execute("INSERT INTO ads.users (email, name, is_active, report_opt_out) VALUES (%s, %s, %s, %s) "
                       "RETURNING id", (email, name, active, opt_out)).fetchone()[0]
    return uid, email


def account(conn: psycopg.Connection, user_id: int, *, currency: str = "USD", platform: str = "meta",
            name: str = "Shop") -> int:
    return conn.execute("INSERT INTO ads.ad_accounts (user_id, platform, external_account_id, name, currency) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                        (user_id, platform, uuid.uuid4().hex[:16], name, currency)).fetchone()[0]


def campaign(conn: psycopg.Connection, account_id: int, name: str = "Always On") -> int:
    return conn.execute("INSERT INTO ads.campaigns (account_id, external_campaign_id, name, status) "
                        "VALUES (%s, %s, %s, 'ACTIVE') RETURNING id",
                        (account_id, uuid.uuid4().hex[:12], name)).fetchone()[0]


def stats(conn: psycopg.Connection, account_id: int, campaign_id: int, last_day: date,
          rows: Sequence[tuple[Decimal | float, Decimal | float, Decimal | float | None]]) -> None:
    """(spend, conversions, revenue) per day, the last one on `last_day`; written as a writer
    other than the fetch merge must: rows, then `refresh_priors` (the running totals the
    anomaly detector reads)."""
    first = last_day - timedelta(days=len(rows) - 1)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ads.campaign_daily_stats (account_id, campaign_id, day, spend, impressions, clicks, "
            "conversions, revenue) VALUES (%s, %s, %s, %s, 1000, 10, %s, %s)",
            [(account_id, campaign_id, first + timedelta(days=i), Decimal(str(s)), Decimal(str(c)),
              None if r is None else Decimal(str(r))) for i, (s, c, r) in enumerate(rows)])
    refresh_priors(conn, [account_id])
