"""The soak's backfill windows per schedule, without a stack: which logical dates each DAG's
backfill covers decides which DAGs the soak exercises at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from tests.soak import harness

END = datetime(2026, 12, 3, tzinfo=UTC)  # a Thursday midnight, as default_window() picks
NOW = END + timedelta(hours=18)


@pytest.mark.parametrize(("summary", "cron"), [
    ("0 9 * * 1", "0 9 * * 1"),
    ("Asset or 0 3 * * *", "0 3 * * *"),  # AssetOrTimeSchedule: the first five fields start with "Asset"
    ("Asset or 0 * * * *", "0 * * * *"),
    ("  */5 * * * *  ", "*/5 * * * *"),
    ("Never, external triggers only", None),
    ("", None),
])
def test_the_cron_is_read_from_the_end_of_the_summary(summary, cron):
    assert harness.cron_of(summary) == cron


@pytest.mark.parametrize(("cron", "kind"), [
    ("0 9 * * 1", "weekly"), ("0 1 * * 0", "weekly"), ("0 3 * * *", "daily"), ("30 1 * * *", "daily"),
    ("0 * * * *", "hourly"), ("0 */6 * * *", "hourly"), ("*/15 * * * *", "subhourly"),
])
def test_cadence(cron, kind):
    assert harness.cadence(cron) == kind


def _complete_runs(window: harness.Window, cron: str) -> list[datetime]:
    """The logical dates Airflow's backfill would create: interval starts in the range whose
    interval (to the next fire) has ended by NOW."""
    start, end = window.range_for(cron)
    fires = croniter(cron, start - timedelta(seconds=1))
    out = []
    while (t := fires.get_next(datetime)) <= end:
        if croniter(cron, t).get_next(datetime) < NOW:
            out.append(t)
    return out


@pytest.mark.parametrize("days", [1, 7])
def test_every_cadence_gets_runs_in_the_default_and_the_full_window(days):
    window = harness.Window(end=END, days=days, hours=3, subhourly_hours=1)
    assert len(_complete_runs(window, "0 3 * * *")) == days
    assert len(_complete_runs(window, "0 * * * *")) == 3
    assert len(_complete_runs(window, "0 */3 * * *")) == 1
    assert len(_complete_runs(window, "0 */6 * * *")) == 1  # a 6-hour interval in a 3-hour window
    assert len(_complete_runs(window, "*/5 * * * *")) == 12
    # A weekly DAG: its last complete week (Monday Nov 23 to Nov 30), whatever the window.
    assert _complete_runs(window, "0 9 * * 1") == [datetime(2026, 11, 23, 9, tzinfo=UTC)]
    assert _complete_runs(window, "0 1 * * 0") == [datetime(2026, 11, 22, 1, tzinfo=UTC)]
