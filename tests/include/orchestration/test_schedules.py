"""Manual runs get the last complete interval on every day of the year, DST switch days
included, and intervals become local calendar days the same way everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pendulum
import pytest

from include.orchestration.schedules import LocalDays, last_complete_interval

ZONES = ("America/New_York", "Europe/Berlin")
CRONS = ("0 2 * * *", "30 2 * * *", "0 2 * * 0", "0 3 * * *", "0 9 * * 1")


def scheduled_intervals(cron: str, zone: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The intervals the scheduler itself would run between `start` and `end`."""
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(cron, zone)
    restriction = TimeRestriction(earliest=pendulum.instance(start), latest=pendulum.instance(end), catchup=True)
    found, last = [], None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)):
        last = info.data_interval
        found.append((last.start, last.end))
    return found


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("cron", CRONS)
def test_every_day_of_the_year_gets_the_schedulers_last_complete_interval(zone, cron):
    runs = scheduled_intervals(cron, zone, datetime(2025, 12, 20, tzinfo=UTC), datetime(2027, 1, 10, tzinfo=UTC))
    ends = [end for _, end in runs]
    for day in range(365):
        for hour in (1, 2, 3, 12):  # around the switch hour and mid-day, local time
            local = pendulum.datetime(2026, 1, 1, hour, 30, tz=zone).add(days=day)
            start, end = last_complete_interval(cron, zone, local)
            assert start < end, f"{cron} {zone} at {local}: empty interval"
            expected = runs[max(i for i, e in enumerate(ends) if e <= local)]
            assert (start, end) == expected, f"{cron} {zone} at {local}"


@pytest.mark.parametrize(("zone", "switch"), [("America/New_York", date(2026, 3, 8)),
                                              ("Europe/Berlin", date(2026, 3, 29))])
def test_the_spring_forward_day_of_a_02_00_cron(zone, switch):
    """Airflow 3.3 infers [03:00, 03:00) here; we give the scheduler's 24-hour interval."""
    run_after = pendulum.datetime(switch.year, switch.month, switch.day, 12, tz=zone)
    start, end = last_complete_interval("0 2 * * *", zone, run_after)
    assert pendulum.instance(end).in_tz(zone).hour == 3 and pendulum.instance(end).in_tz(zone).date() == switch
    assert pendulum.instance(start).in_tz(zone).date() == switch - timedelta(days=1)
    days = LocalDays.of(start, end, zone)
    assert (days.first, days.last) == (switch - timedelta(days=1), switch)


def test_local_days_of_intervals_and_their_midnights():
    days = LocalDays.of(datetime(2026, 6, 10, 18, tzinfo=UTC), datetime(2026, 6, 11, 18, tzinfo=UTC), "Asia/Shanghai")
    assert (days.first, days.last) == (date(2026, 6, 11), date(2026, 6, 12))
    assert days.days() == [date(2026, 6, 11), date(2026, 6, 12)]
    start, end = days.bounds(date(2026, 6, 11))
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (datetime(2026, 6, 10, 16, tzinfo=UTC),
                                                            datetime(2026, 6, 11, 16, tzinfo=UTC))
    # an interval ending exactly at midnight does not touch the next day
    whole = LocalDays.of(datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 11, tzinfo=UTC), "UTC")
    assert (whole.first, whole.last) == (date(2026, 6, 10), date(2026, 6, 10))
    # a midnight that DST skips (Santiago, 2026-09-06) is the first real instant of that day
    skipped = LocalDays.of(datetime(2026, 9, 6, 12, tzinfo=UTC), datetime(2026, 9, 7, 12, tzinfo=UTC),
                           "America/Santiago").midnight(date(2026, 9, 6))
    assert skipped.astimezone(UTC) == datetime(2026, 9, 6, 4, tzinfo=UTC) and skipped.hour == 1
    with pytest.raises(ValueError, match="non-empty"):
        LocalDays.of(datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC), "UTC")


def test_a_stdlib_run_after_as_the_task_sdk_hands_it():
    """The Task SDK's dag_run.run_after is a stdlib datetime, not pendulum's (a manual run without a logical date)."""
    start, end = last_complete_interval("0 4 * * *", "Europe/Berlin", datetime(2026, 12, 2, 9, 30, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, 3, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        last_complete_interval("0 4 * * *", "Europe/Berlin", datetime(2026, 12, 2, 9, 30))
