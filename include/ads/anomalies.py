"""Anomaly detection on the daily campaign stats: CPA spikes and ROAS drops against a robust
trailing baseline, each recorded once and emailed once to the account's user.

Rule, per campaign and complete UTC day d of the evaluated days:
- the day's value: CPA = spend / conversions (only when conversions > 0), ROAS = revenue /
  spend (only when revenue was reported and spend > 0);
- the baseline: that metric's values on the campaign's days in [d - N, d - 1] (N =
  `baseline_days`, default 28), at least `min_history` (14) of them; median and MAD (median
  absolute deviation from the median), both `percentile_cont(0.5)`;
- robust z = (x - median) / (1.4826 * max(MAD, mad_floor * median)): the floor (10 % of the
  median) keeps a flat series from alerting on a tiny wiggle;
- a CPA spike is z >= threshold (4), a ROAS drop z <= -threshold;
- only campaigns that spent at least `min_spend` (account currency) on d AND on average over
  their baseline days: noise on tiny campaigns does not alert; a baseline median of 0 is not
  scored;
- a slow trend does not alert: the trailing window follows it (a linear trend puts x about
  N/2 days of drift above the median while the MAD is about N/4 days of it: z ~ 1.35).

Which days: complete UTC days only (a partial day's CPA is never compared with whole days).
The last `eval_days` (default 3) days before the interval end's date are re-evaluated each
run, so a day the platforms revised later is scored again; the unique key of ads.anomalies
(account, campaign, metric, period, period_start) with ON CONFLICT DO NOTHING makes reruns
harmless, and an anomaly's email (outbox key `ads-anomaly:<anomaly id>`) is queued in the
transaction that inserted it, so it goes exactly once. Users that are not active get no email
(the anomaly is still recorded).

Set-based: one statement per key range of account ids (include/ads/repository/anomalies.py),
each batch committed, under `run_batches` and the soft limit. It reads no baseline rows for
the gates: every stats row carries its campaign's running totals of the earlier rows
(`prior_*`, kept by the fetch merge; a writer that bypasses it calls `refresh_priors`), so a
baseline's count, mean spend and each metric's mean and standard deviation are the
difference of two rows' totals; only the campaign-days those leave able to alert (any median
lies within one standard deviation of the mean) get their median and MAD from their rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg

from include.ads.repository import anomalies as repository
from include.common.outbox import OutboxMessage, enqueue
from include.common.time_budget import TimeBudget, run_batches

TEMPLATE = "ads/anomaly"
METRIC_NAMES = {"cpa": "CPA (cost per acquisition)", "roas": "ROAS (return on ad spend)"}


def dedupe_key(anomaly_id: int) -> str:
    return f"ads-anomaly:{anomaly_id}"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


def evaluated_days(interval_end: datetime, eval_days: int) -> tuple[date, date]:
    """(first, last) of the `eval_days` complete UTC days before the interval end's UTC date
    (the day the interval ends in is still running, even at 00:00 exactly it has no data)."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    if eval_days < 1:
        raise ValueError(f"eval_days must be at least 1, got {eval_days}")
    last = interval_end.astimezone(UTC).date() - timedelta(days=1)
    return last - timedelta(days=eval_days - 1), last


def _fmt(value: float, metric: str) -> str:
    return f"{value:,.2f}" if metric == "cpa" else f"{value:.2f}x"


def _message(row: dict) -> OutboxMessage:
    metric = row["metric"]
    observed, baseline = row["observed"], row["baseline"]
    change = (observed - baseline) * 100 / baseline
    currency = row["currency"].strip()
    unit = f" {currency}" if metric == "cpa" else ""
    return OutboxMessage(
        dedupe_key=dedupe_key(row["id"]),
        channel="email",
        domain="ads",
        recipient=row["email"],
        template=TEMPLATE,
        context={
            "name": row["user_name"].strip() or row["email"],
            "metric": metric,
            "metric_name": METRIC_NAMES[metric],
            "kind": "spike" if metric == "cpa" else "drop",
            "day": str(row["day"]),
            "account_name": row["account_name"] or row["external_account_id"],
            "platform": row["platform"],
            "external_account_id": row["external_account_id"],
            "campaign_name": row["campaign_name"] or f"campaign {row['campaign_id']}",
            "external_campaign_id": row["external_campaign_id"] or str(row["campaign_id"]),
            "observed": _fmt(observed, metric) + unit,
            "baseline": _fmt(baseline, metric) + unit,
            "change_pct": f"{change:+.1f}%",
            "deviation": f"{row['deviation']:+.1f}",
        },
    )


def detect_anomalies(conn: psycopg.Connection, interval_end: datetime, *, eval_days: int = 3,
                     baseline_days: int = 28, min_history: int = 14, min_spend: float = 50.0,
                     threshold: float = 4.0, mad_floor: float = 0.10, batch_size: int = 500,
                     budget: TimeBudget | None = None) -> dict:
    """Score the last `eval_days` complete UTC days before `interval_end` (see the module
    docstring), insert the new anomalies and queue their emails, one committed batch per
    `batch_size` account ids.

    Returns {"first_day", "last_day", "observed_days", "scored", "flagged", "inserted",
    "emails_queued", "anomalies": [{"id", "account_id", "campaign_id", "metric", "day"}],
    "batches"}; raises SoftTimeLimitExceeded when `budget` runs out with batches left."""
    if not 1 <= min_history <= baseline_days:
        raise ValueError(f"min_history ({min_history}) must lie between 1 and baseline_days ({baseline_days})")
    if min_spend < 0 or threshold <= 0 or not 0 < mad_floor < 1 or batch_size < 1:
        raise ValueError(f"bad parameters: min_spend={min_spend}, threshold={threshold}, mad_floor={mad_floor}, "
                         f"batch_size={batch_size}")
    first, last = evaluated_days(interval_end, eval_days)
    bounds = repository.account_id_bounds(conn, first, last)
    conn.commit()
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    params = {"first": first, "last": last, "baseline_days": baseline_days, "min_history": min_history,
              "min_spend": min_spend, "threshold": threshold, "mad_floor": mad_floor}

    def batches() -> Iterator[dict]:
        for lo, hi in ranges:
            found = repository.detect_range(conn, lo, hi, **params)
            new = found["new_anomalies"]
            queued = enqueue(conn, [_message(row) for row in new if row["user_active"]])
            conn.commit()
            yield {"observed_days": found["observed_days"], "scored": found["scored"], "flagged": found["flagged"],
                   "inserted": len(new), "emails_queued": queued,
                   "anomalies": [{k: row[k] for k in ("id", "account_id", "campaign_id", "metric", "day")}
                                 for row in new],
                   "batches": 1}

    result = {"first_day": first.isoformat(), "last_day": last.isoformat(), "observed_days": 0, "scored": 0,
              "flagged": 0, "inserted": 0, "emails_queued": 0, "anomalies": [], "batches": 0}
    return run_batches(batches(), budget, result=result, total=len(ranges))
