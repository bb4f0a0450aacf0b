"""Timetables and deadlines per JOBS.md: wall-clock crons in the domain's time zone, with
real data intervals, and a deadline alert on every scheduled DAG."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
    before it was triggered, as the scheduler's own run would have (`last_complete_interval`).
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
    return last_complete_interval(expression, str(timetable.timezone), context["dag_run"].run_after)


def last_complete_interval(cron: str, timezone: str, run_after: datetime) -> tuple[datetime, datetime]:
    """The last interval of `cron` in `timezone` that ended at or before `run_after`, taken
    from the scheduler's own sequence (`next_dagrun_info`), so a manual run covers exactly
    what a scheduled run would have.

    Why not Airflow 3.3's `infer_manual_data_interval` alone: it is wrong on DST days. On a
    spring-forward day, for a cron whose hour does not exist (02:00 in America/New_York on
    2026-03-08, Europe/Berlin on 2026-03-29), it returns an empty [03:00, 03:00); in the
    repeated hour of a fall-back day it returns the interval before the last complete one.
    Its answer is only the starting point of a short walk of the scheduler's sequence.
    """
    import pendulum
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable as CoreCronDataIntervalTimetable

    if run_after.tzinfo is None:
        raise ValueError(f"run_after must be time-zone aware, got {run_after!r}")
    # The Task SDK hands a stdlib datetime; the core timetable calls pendulum's in_timezone on it.
    run_after = pendulum.instance(run_after)
    core = CoreCronDataIntervalTimetable(cron, timezone)
    guess = core.infer_manual_data_interval(run_after=run_after)
    length = guess.end - guess.start
    earliest = guess.start - (max(length, timedelta(days=1)) if length > timedelta(0) else timedelta(days=8))
    restriction = TimeRestriction(earliest=earliest, latest=None, catchup=True)
    last = None
    while (info := core.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)) is not None \
            and info.data_interval.end <= run_after:
        last = info.data_interval
    if last is None or not last.start < last.end:
        raise ValueError(f"no complete interval of {cron!r} ({timezone}) ends before {run_after}")
    return last.start, last.end


@dataclass(frozen=True)
class LocalDays:
    """A data interval as the domain's local calendar days (DST-safe).

    `first` is the local date the interval starts in, `last` the local date of its last
    instant; a daily job's "day" is `first` (the last complete local day when it runs after
    midnight: the interval [D 04:00, D+1 04:00) gives D), and `bounds(day)` is that whole
    calendar day [midnight, next midnight) as aware datetimes (23 or 25 hours on DST days).
    Services take these dates or datetimes, never a time-zone name.
    """

    start: datetime
    end: datetime
    first: date
    last: date
    zone: ZoneInfo

    @classmethod
    def of(cls, start: datetime, end: datetime, zone: str | ZoneInfo) -> LocalDays:
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        if start.tzinfo is None or end.tzinfo is None or not start < end:
            raise ValueError(f"not an aware, non-empty interval: [{start!r}, {end!r})")
        local_start, local_end = start.astimezone(tz), end.astimezone(tz)
        return cls(local_start, local_end, local_start.date(), (local_end - timedelta(microseconds=1)).date(), tz)

    def midnight(self, day: date) -> datetime:
        """The first instant of `day` here (a midnight that DST skips becomes the next real time)."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        return self.midnight(day), self.midnight(day + timedelta(days=1))

    def days(self) -> list[date]:
        """Every local date the interval touches, first..last."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def local_days(domain: str) -> LocalDays:
    """The running task's data interval (`current_interval`) as `domain`'s local days: THE
    way a task turns its interval into dates."""
    start, end = current_interval()
    return LocalDays.of(start, end, domain_timezone(domain))
