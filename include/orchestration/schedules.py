"""Timetables and deadlines per JOBS.md: wall-clock crons in the domain's time zone, with
real data intervals, and a deadline alert on every scheduled DAG."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

UTC_ONLY = {"ads"}  # the ads seed runs on UTC whatever the environment says
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
FREQUENT_DEADLINE = timedelta(minutes=45)  # hourly-or-faster jobs
SLOW_DEADLINE = timedelta(hours=2)  # daily, weekly and every-few-hours jobs


def domain_timezone(domain: str) -> str:
    """`<DOMAIN>_TZ` or UTC (always UTC for ads)."""
    if domain in UTC_ONLY:
        return "UTC"
    name = os.environ.get(f"{domain.upper()}_TZ", "UTC")
    pendulum.timezone(name)  # an unknown zone fails the parse with its name, not at run time
    return name


def interval_timetable(domain: str, cron: str):
    """A cron timetable whose runs cover [previous fire, this fire): a real data interval.

    A bare cron string would be a CronTriggerTimetable, whose runs have an empty interval.
    """
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(cron, timezone=domain_timezone(domain))


def is_frequent(cron: str) -> bool:
    """Hourly or faster: the hour field fires every hour."""
    return cron.split()[1] == "*"


def deadline_alert(domain: str, cron: str):
    """Email the owners when a run is still going well after its interval ended (queued)."""
    limit = FREQUENT_DEADLINE if is_frequent(cron) else SLOW_DEADLINE
    return deadline_alert_after(domain, limit)


def deadline_alert_after(domain: str, limit: timedelta):
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    from include.orchestration.alerts import notify_deadline_missed

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=limit,
        callback=AsyncCallback(notify_deadline_missed, kwargs={"domain": domain, "limit": str(limit)}),
    )
