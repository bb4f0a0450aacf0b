"""Chart syncs against PostgreSQL with a scripted Soundcharts: the claim and its lease, the
execution's states and counts, resuming, the soft limit's partial syncs, a failing chart,
malformed rankings, the schedule grid without drift, and scheduling a chart by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.common.http import ApiError
from include.common.validation import TooManyMalformed
from include.music import chart_sync
from include.music.soundcharts_client import Ranking, RankingEntry
from tests.budgets import ScriptedBudget

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def song_uuid(slug: str, position: int, at: datetime) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{slug}/{position}/{at.date() if position > 3 else ''}"))


class FakeSoundcharts:
    """Weekly ranking dates (Thursdays) and `positions` entries each; the top 3 songs stay,
    the rest change every week. `fail_at` raises the API's error for that date."""

    def __init__(self, positions: int = 5, weeks: int = 20, fail_at: datetime | None = None,
                 malformed: int = 0):
        first = datetime(2026, 6, 4, tzinfo=UTC) - timedelta(weeks=weeks - 1)
        self.dates = [first + timedelta(weeks=n) for n in range(weeks)]
        self.positions, self.fail_at, self.malformed = positions, fail_at, malformed
        self.fetched: list[tuple[str, datetime]] = []

    def available_rankings(self, slug: str, since: datetime | None = None) -> list[datetime]:
        return [d for d in self.dates if since is None or d >= since]

    def ranking(self, slug: str, at: datetime, report) -> Ranking:
        self.fetched.append((slug, at))
        if at == self.fail_at:
            raise ApiError("Chart not found", status=404)
        report.fetched += self.positions
        report.malformed += self.malformed
        report.malformed_ids += [f"#{n}" for n in range(self.malformed)]
        entries = [RankingEntry.model_validate({"song": {"uuid": song_uuid(slug, p, at), "name": f"Song {p}",
                                                         "creditName": f"Artist {p}"},
                                                "position": p, "metric": 1000 - p, "positionEvolution": 0,
                                                "entryState": "STABLE", "timeOnChart": 3})
                   for p in range(1, self.positions + 1 - self.malformed)]
        return Ranking(slug, at, entries)


@pytest.fixture
def conn(music_db):
    with psycopg.connect(music_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings CASCADE")
        conn.commit()
        yield conn


def add_chart(conn, slug: str, *, frequency: str = "weekly", next_sync_at: datetime = NOW - timedelta(hours=1),
              active: bool = True) -> int:
    chart_id = conn.execute("INSERT INTO music.charts (slug, name, platform, frequency) VALUES (%s, %s, 'spotify', %s)"
                            " RETURNING id", (slug, slug.title(), frequency)).fetchone()[0]
    conn.execute("INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at, is_active) "
                 "VALUES (%s, %s, %s, %s)", (chart_id, frequency, next_sync_at, active))
    conn.commit()
    return chart_id


def schedule(conn, slug: str) -> dict:
    row = conn.execute("""
        SELECT s.next_sync_at, s.last_ranking_date, s.periods_left, s.total_executions, s.successful_executions,
               s.failed_executions, s.lease_owner
          FROM music.chart_sync_schedules s JOIN music.charts c ON c.id = s.chart_id WHERE c.slug = %s""",
                       (slug,)).fetchone()
    keys = ("next_sync_at", "last_ranking_date", "periods_left", "total", "successful", "failed", "lease_owner")
    return dict(zip(keys, row, strict=True))


def executions(conn, slug: str) -> list[tuple]:
    return conn.execute("""
        SELECT e.status, e.periods_synced, e.periods_left, e.rankings_created, e.tracks_created, e.malformed, e.error
          FROM music.chart_sync_executions e JOIN music.chart_sync_schedules s ON s.id = e.schedule_id
          JOIN music.charts c ON c.id = s.chart_id WHERE c.slug = %s ORDER BY e.id""", (slug,)).fetchall()


def test_due_schedules_are_claimed_once_under_a_lease(conn):
    add_chart(conn, "due-a")
    add_chart(conn, "due-b", next_sync_at=NOW - timedelta(days=2))
    add_chart(conn, "later", next_sync_at=NOW + timedelta(minutes=1))
    add_chart(conn, "off", active=False)
    first = chart_sync.claim_due_schedules(conn, NOW, "run-1")
    assert [c.slug for c in first] == ["due-b", "due-a"]  # the most overdue first
    assert chart_sync.claim_due_schedules(conn, NOW, "run-2") == []  # leased to run-1
    again = chart_sync.claim_due_schedules(conn, NOW, "run-1")  # a retry of run-1 gets them back
    assert [(c.slug, c.execution_id) for c in again] == [(c.slug, c.execution_id) for c in first]
    later = chart_sync.claim_due_schedules(conn, NOW + timedelta(hours=3), "run-3")  # the 2 h lease expired
    assert sorted(c.slug for c in later) == ["due-a", "due-b", "later"]
    assert [e[0] for e in executions(conn, "due-a")] == ["pending", "pending"]  # one per run


def test_a_sync_stores_every_missing_period_and_advances_the_slot_without_drift(conn):
    add_chart(conn, "global-28", next_sync_at=datetime(2026, 5, 7, 0, 0, tzinfo=UTC))  # a Thursday, long due
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-1")
    api = FakeSoundcharts(weeks=20)
    receipt = chart_sync.sync_chart(conn, api, claim, now=NOW, run_id="run-1")
    in_window = [d for d in api.dates if d >= NOW - timedelta(days=90)]  # older ones would be cleaned up tonight
    assert [at for _, at in api.fetched] == in_window
    assert receipt == {"slug": "global-28", "status": "completed", "periods_synced": len(in_window),
                       "periods_left": 0, "rankings_created": 5 * len(in_window),
                       "tracks_created": 3 + 2 * len(in_window), "malformed": 0}
    assert executions(conn, "global-28") == [("completed", len(in_window), 0, 5 * len(in_window),
                                              3 + 2 * len(in_window), 0, None)]
    state = schedule(conn, "global-28")
    assert state["next_sync_at"] == datetime(2026, 6, 11, 0, 0, tzinfo=UTC)  # the slot's grid, after now
    assert (state["last_ranking_date"], state["periods_left"]) == (api.dates[-1], 0)
    assert (state["total"], state["successful"], state["failed"], state["lease_owner"]) == (1, 1, 0, None)

    # The next run finds nothing new to fetch for the same dates
    conn.execute("UPDATE music.chart_sync_schedules SET next_sync_at = %s", (NOW,))
    conn.commit()
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-2")
    api.fetched.clear()
    assert chart_sync.sync_chart(conn, api, claim, now=NOW, run_id="run-2")["periods_synced"] == 0
    assert api.fetched == []


def test_the_soft_limit_ends_a_partial_sync_that_the_next_run_continues(conn):
    add_chart(conn, "far-behind")
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-1")
    api = FakeSoundcharts(weeks=12)
    receipt = chart_sync.sync_chart(conn, api, claim, now=NOW, run_id="run-1", flush_periods=1,
                                    budget=ScriptedBudget([True, True, True]))
    assert (receipt["status"], receipt["periods_synced"], receipt["periods_left"]) == ("partial", 3, 9)
    state = schedule(conn, "far-behind")
    assert state["next_sync_at"] == NOW - timedelta(hours=1)  # still due
    assert (state["last_ranking_date"], state["periods_left"], state["lease_owner"]) == (api.dates[2], 9, None)
    assert executions(conn, "far-behind")[0][:3] == ("partial", 3, 9)

    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-2")
    api.fetched.clear()
    rest = chart_sync.sync_chart(conn, api, claim, now=NOW, run_id="run-2")  # fast API: one commit of 9
    assert (rest["status"], rest["periods_synced"]) == ("completed", 9)
    assert [at for _, at in api.fetched] == api.dates[3:]  # continued where it stopped
    counted = conn.execute("SELECT count(*) FROM music.chart_rankings").fetchone()[0]
    assert counted == 12 * 5
    assert (schedule(conn, "far-behind")["total"], schedule(conn, "far-behind")["successful"]) == (2, 1)


def test_a_failing_chart_is_recorded_failed_and_stays_due(conn):
    add_chart(conn, "broken")
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-1")
    api = FakeSoundcharts(weeks=6)
    api.fail_at = api.dates[3]
    with pytest.raises(ApiError, match="Chart not found"):
        chart_sync.sync_chart(conn, api, claim, now=NOW, run_id="run-1")
    status, synced, _, _, _, _, error = executions(conn, "broken")[0]
    assert (status, synced) == ("failed", 3) and "Chart not found" in error
    state = schedule(conn, "broken")
    assert (state["failed"], state["successful"], state["last_ranking_date"]) == (1, 0, api.dates[2])
    assert state["next_sync_at"] == NOW - timedelta(hours=1) and state["lease_owner"] is None
    report = chart_sync.run_report(conn, "run-1")
    assert report["failed"] == ["broken"] and report["charts"]["broken"]["status"] == "failed"


def test_too_many_malformed_entries_fail_the_chart_and_a_few_are_skipped(conn):
    add_chart(conn, "noisy")
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-1")
    with pytest.raises(TooManyMalformed):
        chart_sync.sync_chart(conn, FakeSoundcharts(positions=10, weeks=2, malformed=2), claim, now=NOW,
                              run_id="run-1")
    conn.execute("UPDATE music.chart_sync_schedules SET next_sync_at = %s", (NOW,))
    conn.commit()
    [claim] = chart_sync.claim_due_schedules(conn, NOW, "run-2")
    receipt = chart_sync.sync_chart(conn, FakeSoundcharts(positions=100, weeks=2, malformed=1), claim, now=NOW,
                                    run_id="run-2")
    assert (receipt["status"], receipt["malformed"], receipt["rankings_created"]) == ("completed", 2, 2 * 99)


def test_the_grid_of_each_frequency():
    jan31 = datetime(2026, 1, 31, 6, 0, tzinfo=UTC)
    assert chart_sync.step(jan31, "monthly") == datetime(2026, 2, 28, 6, 0, tzinfo=UTC)
    assert chart_sync.step(datetime(2026, 12, 15, tzinfo=UTC), "monthly") == datetime(2027, 1, 15, tzinfo=UTC)
    assert chart_sync.next_slot(datetime(2026, 6, 1, tzinfo=UTC), "daily", NOW) == datetime(2026, 6, 11, tzinfo=UTC)
    assert chart_sync.next_slot(datetime(2026, 6, 10, 12, 0, tzinfo=UTC), "weekly", NOW) == NOW + timedelta(weeks=1)
    with pytest.raises(ValueError, match="frequency"):
        chart_sync.step(jan31, "hourly")


def test_scheduling_a_chart_by_hand(conn):
    chart_id = conn.execute("INSERT INTO music.charts (slug, name, platform, frequency) "
                            "VALUES ('new-one', 'New', 'shazam', 'daily') RETURNING id").fetchone()[0]
    conn.commit()
    created = chart_sync.schedule_chart_sync(conn, chart_id, "daily", NOW)
    assert created["created"] is True and created["slug"] == "new-one"
    updated = chart_sync.schedule_chart_sync(conn, chart_id, "monthly", NOW + timedelta(hours=1))
    assert updated["created"] is False and updated["schedule_id"] == created["schedule_id"]
    assert conn.execute("SELECT frequency, next_sync_at FROM music.chart_sync_schedules WHERE chart_id = %s",
                        (chart_id,)).fetchone() == ("monthly", NOW + timedelta(hours=1))
    with pytest.raises(chart_sync.UnknownChart, match="no chart with id 999999"):
        chart_sync.schedule_chart_sync(conn, 999_999, "daily", NOW)
    with pytest.raises(ValueError, match="frequency must be one of daily, weekly, monthly"):
        chart_sync.schedule_chart_sync(conn, chart_id, "yearly", NOW)


def test_rankings_follow_their_chart_without_a_per_row_key(conn):
    """Migration 0014: store_periods locks the chart once instead of a key check per row; deleting
    or truncating charts still removes their rankings, and a missing chart is refused."""
    from include.music.repository.chart_sync import store_periods

    ids = [conn.execute("INSERT INTO music.charts (slug, name, platform, country_code, frequency) "
                        "VALUES (%s, %s, 'spotify', 'US', 'weekly') RETURNING id", (slug, slug)).fetchone()[0]
           for slug in ("keep", "gone")]
    rows = [(p, song_uuid("x", p, NOW), f"Song {p}", "A", 10, 0, "STABLE", 1) for p in range(1, 4)]
    assert store_periods(conn, ids[0], [(NOW, rows)]) == (3, 3)
    assert store_periods(conn, ids[1], [(NOW, rows)]) == (3, 0)
    conn.execute("DELETE FROM music.charts WHERE id = %s", (ids[1],))
    conn.commit()
    assert conn.execute("SELECT chart_id, count(*) FROM music.chart_rankings GROUP BY 1").fetchall() == [(ids[0], 3)]
    with pytest.raises(LookupError, match=f"chart {ids[1]} does not exist"):
        store_periods(conn, ids[1], [(NOW, rows)])
    conn.rollback()
    conn.execute("TRUNCATE music.charts CASCADE")
    assert conn.execute("SELECT count(*) FROM music.chart_rankings").fetchone()[0] == 0
