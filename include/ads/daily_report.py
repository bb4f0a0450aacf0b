"""The ads daily report: each active user who has not opted out (`report_opt_out`) gets ONE
email about yesterday, with per ad account the spend, CPA (spend / conversions) and ROAS
(revenue / spend) in the account's currency, their change vs the previous 7 days, and a
30-day chart of spend per currency (amounts in different currencies are never summed).

Which day: the DAG runs at 09:00 UTC; the day is the one its data interval starts in
(`local_days("ads").first`: yesterday). Users without accounts, or whose accounts spent
nothing that day, get none. Figures come exact from SQL (include/ads/repository/daily_report.py,
which documents each definition). Once per user and day: dedupe key
`ads-report:<user_id>:<day>`, so a rerun or backfill queues nothing new (and renders nothing:
the keys already queued are skipped before rendering).

Set-based: recipients are taken in key ranges of user ids, one statement per range computes
every figure, the range's emails are queued in its transaction and committed, under
`run_batches` and a TimeBudget.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby

import psycopg

from include.ads.repository import daily_report as repository
from include.common.charts import bar_chart_png
from include.common.email import inline_png
from include.common.outbox import OutboxMessage, enqueue, existing_keys
from include.common.time_budget import TimeBudget, run_batches
from include.common.unsubscribe import UnsubscribeLinks

TEMPLATE = "ads/daily_report"
LIST_ID = "daily_report"  # the one-click unsubscribe list (include/common/unsubscribe.py)
PLATFORM_NAMES = {"meta": "Meta", "tiktok": "TikTok", "google": "Google Ads"}


def dedupe_key(user_id: int, day: date) -> str:
    return f"ads-report:{user_id}:{day.isoformat()}"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


def money(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else f"{value:,.2f} {currency}"


def ratio(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:,.2f}x"


def change(absolute: Decimal | None, pct: Decimal | None, unit: str = "") -> str | None:
    """"+12.50 USD (+8.3%)"; None when there is nothing to compare with."""
    if absolute is None:
        return None
    text = f"{absolute:+,.2f}{unit}"
    return f"{text} ({pct:+.1f}%)" if pct is not None else text


def _account_context(row: dict) -> dict:
    cur = row["currency"].strip()
    return {
        "name": row["account_name"] or row["external_account_id"],
        "platform": PLATFORM_NAMES.get(row["platform"], row["platform"]),
        "external_account_id": row["external_account_id"],
        "currency": cur,
        "spend": money(row["spend"], cur),
        "conversions": f"{row['conversions'].normalize():,f}",
        "revenue": money(row["revenue"], cur),
        "cpa": money(row["cpa"], cur),
        "roas": ratio(row["roas"]),
        "mean_spend_7d": money(row["mean_spend_7d"], cur),
        "cpa_7d": money(row["cpa_7d"], cur),
        "roas_7d": ratio(row["roas_7d"]),
        "spend_change": change(row["spend_change"], row["spend_change_pct"], f" {cur}"),
        "cpa_change": change(row["cpa_change"], row["cpa_change_pct"], f" {cur}"),
        "roas_change": change(row["roas_change"], row["roas_change_pct"], "x"),
    }


def _chart(currency: str, rows: list[dict], day: date) -> tuple[dict, object]:
    """The 30-day spend of the user's accounts in one currency: its context and inline PNG."""
    first = day - timedelta(days=repository.CHART_DAYS - 1)
    daily = [sum(values, Decimal(0)) for values in zip(*(r["spend_series"] for r in rows), strict=True)]
    title = f"Daily spend ({currency}), {first} to {day}"
    image = inline_png(f"spend-30d-{currency.lower()}", bar_chart_png([float(v) for v in daily], first,
                                                                       title=title, unit=currency))
    context = {
        "currency": currency,
        "cid": image.cid,
        "alt": f"{title}: max {max(daily):,.2f} {currency}/day",
        "first_day": first.isoformat(),
        "total": money(sum(daily, Decimal(0)), currency),
        "days": [{"day": (first + timedelta(days=i)).isoformat(), "spend": f"{v:,.2f}"} for i, v in enumerate(daily)],
    }
    return context, image


def user_email(rows: list[dict], day: date, unsubscribe: UnsubscribeLinks | None = None) -> OutboxMessage:
    """The report of one user (`rows`: their accounts that spent on `day`, by currency), with
    `unsubscribe` their one-click unsubscribe link (list `daily_report`)."""
    first = rows[0]
    charts, images = [], []
    for currency, group in groupby(rows, key=lambda r: r["currency"].strip()):
        context, image = _chart(currency, list(group), day)
        charts.append(context)
        images.append(image)
    totals = [money(sum((r["spend"] for r in rows if r["currency"].strip() == c["currency"]), Decimal(0)),
                    c["currency"]) for c in charts]
    context = {
        "name": first["user_name"].strip() or first["email"],
        "day": day.isoformat(),
        "account_count": len(rows),
        "total_spend": totals,
        "accounts": [_account_context(r) for r in rows],
        "charts": charts,
    }
    return OutboxMessage(dedupe_key(first["user_id"], day), "email", "ads", first["email"], TEMPLATE, context,
                         images=tuple(images),
                         unsubscribe_url=unsubscribe.url(LIST_ID, first["user_id"]) if unsubscribe else None)


def queue_daily_reports(conn: psycopg.Connection, day: date, *, batch_size: int = 200,
                        budget: TimeBudget | None = None, unsubscribe: UnsubscribeLinks | None = None) -> dict:
    """Queue the reports of `day`, committing after each batch of `batch_size` user ids; with
    `unsubscribe` (the DAG always passes it) each carries its one-click unsubscribe link.

    Returns {"day", "recipients", "accounts", "queued", "skipped_already_sent", "batches"};
    raises SoftTimeLimitExceeded when `budget` runs out with batches left (a rerun continues:
    nothing is queued twice)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    bounds = repository.recipient_id_bounds(conn)
    conn.commit()
    ranges = key_ranges(*bounds, batch_size) if bounds else []

    def batches() -> Iterator[dict]:
        for lo, hi in ranges:
            rows = repository.account_figures(conn, lo, hi, day)
            users = [list(group) for _, group in groupby(rows, key=lambda r: r["user_id"])]
            done = existing_keys(conn, [dedupe_key(u[0]["user_id"], day) for u in users])
            queued = enqueue(conn, (user_email(u, day, unsubscribe) for u in users
                                    if dedupe_key(u[0]["user_id"], day) not in done))
            conn.commit()
            yield {"recipients": len(users), "accounts": len(rows), "queued": queued,
                   "skipped_already_sent": len(users) - queued, "batches": 1}

    result = {"day": day.isoformat(), "recipients": 0, "accounts": 0, "queued": 0, "skipped_already_sent": 0,
              "batches": 0}
    return run_batches(batches(), budget, result=result, total=len(ranges))
