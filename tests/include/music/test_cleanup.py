"""Music retention against PostgreSQL: rankings and audience rows older than the retention go
(the boundary kept), in bounded batches of whole ranking dates / primary-key ranges, every
chart and track reached, a rerun deletes nothing, and the soft limit's resume."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.music.cleanup import cleanup_old_data, cutoffs
from tests.budgets import ScriptedBudget

END = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # the data interval's end
DAY = timedelta(days=1)


@pytest.fixture
def conn(music_db):
    with psycopg.connect(music_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks CASCADE")
        conn.commit()
        yield conn


def fill(conn, charts=3, days=10, positions=4, tracks=3, platforms=("spotify", "deezer")) -> None:
    """Daily rankings and audience for the `days` days up to END's date - 90 + 5: the oldest
    days - 5 are past the 90-day retention. Rankings at 00:00 UTC."""
    newest = (END - 90 * DAY).date() + 5 * DAY
    for c in range(charts):
        chart_id = conn.execute("INSERT INTO music.charts (slug, name, platform, frequency) "
                                "VALUES (%s, 'c', 'spotify', 'daily') RETURNING id", (f"chart-{c}",)).fetchone()[0]
        conn.execute("""INSERT INTO music.chart_rankings (chart_id, ranking_date, position, track_id)
                        SELECT %s, %s::date - d * interval '1 day', p, 1
                          FROM generate_series(0, %s - 1) d, generate_series(1, %s) p""",
                     (chart_id, newest, days, positions))
    for _ in range(tracks):
        track_id = conn.execute("INSERT INTO music.tracks (uuid, title) VALUES (%s, 't') RETURNING id",
                                (str(uuid.uuid4()),)).fetchone()[0]
        conn.execute("""INSERT INTO music.track_audience (track_id, platform, day, value)
                        SELECT %s, p, %s::date - d, 1 FROM generate_series(0, %s - 1) d, unnest(%s::text[]) p""",
                     (track_id, newest, days, list(platforms)))
    conn.commit()


def oldest(conn) -> tuple:
    return conn.execute("SELECT (SELECT min(ranking_date) FROM music.chart_rankings), "
                        "(SELECT min(day) FROM music.track_audience)").fetchone()


def test_cutoffs():
    assert cutoffs(END, 90) == (END - 90 * DAY, date(2026, 3, 12))


def test_old_rows_go_the_boundary_stays_and_a_rerun_deletes_nothing(conn):
    fill(conn)  # 2026-03-08..17; the cutoff is 2026-03-12 02:00 UTC
    result = cleanup_old_data(conn, END, retention_days=90, batch_size=7)
    # Rankings of 03-08..03-12 (00:00, before 02:00) go: 3 charts x 5 dates x 4, one date per
    # batch (two would be 8 rows > 7); audience days before 03-12 go: 3 tracks x 2 platforms x 4.
    assert result == {"rankings": 60, "audience": 24, "batches": 15 + 4}
    assert oldest(conn) == (datetime(2026, 3, 13, tzinfo=UTC), date(2026, 3, 12))
    assert conn.execute("SELECT count(*) FROM music.chart_rankings").fetchone()[0] == 3 * 5 * 4
    assert conn.execute("SELECT count(*) FROM music.track_audience").fetchone()[0] == 3 * 2 * 6
    assert cleanup_old_data(conn, END, retention_days=90, batch_size=7) == {"rankings": 0, "audience": 0,
                                                                           "batches": 0}


def test_a_date_with_more_positions_than_a_batch_is_one_batch_of_its_own(conn):
    fill(conn, charts=1, tracks=0)
    from include.music.repository.cleanup import delete_rankings

    chart_id = conn.execute("SELECT id FROM music.charts").fetchone()[0]
    before = cutoffs(END, 90)[0]
    deleted, after = delete_rankings(conn, chart_id, None, before, 3)
    assert (deleted, after) == (4, datetime(2026, 3, 9, tzinfo=UTC))
    assert cleanup_old_data(conn, END, batch_size=3) == {"rankings": 16, "audience": 0, "batches": 4}


def test_the_soft_limit_stops_between_batches_and_the_next_run_continues(conn):
    fill(conn, charts=2)
    with pytest.raises(SoftTimeLimitExceeded) as stop:
        cleanup_old_data(conn, END, batch_size=8, budget=ScriptedBudget([True, True]))
    assert stop.value.result == {"rankings": 16, "audience": 0, "batches": 2}
    assert cleanup_old_data(conn, END, batch_size=8) == {"rankings": 24, "audience": 24, "batches": 4 + 3}


def test_bad_arguments_are_refused(conn):
    with pytest.raises(ValueError, match="aware"):
        cleanup_old_data(conn, datetime(2026, 6, 10))
    with pytest.raises(ValueError, match="retention_days"):
        cleanup_old_data(conn, END, retention_days=0)
