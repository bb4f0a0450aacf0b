"""Timetables and deadlines per JOBS.md: wall-clock crons in the domain's time zone, with
real data intervals, and a deadline alert on every scheduled DAG."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

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


def current_interval() -> tuple[datetime, datetime]:
    """The running task's data interval.

    A run triggered by hand without a logical date (the REST API's or the CLI's default in
    Airflow 3) has none; it then covers the last complete interval of the DAG's schedule
    before it was triggered, as the scheduler's own run would have.
    """
    from airflow.sdk import get_current_context

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None:
        return start, end
    timetable = context["dag"].timetable
    expression = getattr(timetable, "expression", None)
    if expression is None:
        raise ValueError(f"{context['dag'].dag_id} has no schedule, so its runs have no data interval")
    from airflow.timetables.interval import CronDataIntervalTimetable as CoreCronDataIntervalTimetable

    core = CoreCronDataIntervalTimetable(expression, timetable.timezone)
    interval = core.infer_manual_data_interval(run_after=context["dag_run"].run_after)
    return interval.start, interval.end
