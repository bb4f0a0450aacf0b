"""Audience sync against PostgreSQL with a fake Soundcharts: the window and each pair's
missing range, one request per behind (track, platform) and none for an up-to-date one,
the upsert writing only changed values, untracked tracks left alone, malformed points
counted (and the 5 % limit), unknown songs, and the soft limit's resume."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import psycopg
import pytest

from include.common.http import ApiError
from include.common.time_budget import SoftTimeLimitExceeded
from include.common.validation import TooManyMalformed
from include.music.audience import sync_audience, window
from include.music.soundcharts_client import AudiencePoint
from tests.budgets import ScriptedBudget

LAST = date(2026, 6, 9)
KEYS = ("tracks", "requests", "points", "inserted", "updated", "malformed", "not_found", "batches")


def uid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"audience-{n}"))


class FakeSoundcharts:
    """Song n on platform p: value n * 1000 + day-of-year (+ `bump`); `missing` songs 404,
    `bad_days` are counted malformed and left out, as the client does."""

    def __init__(self, bump: int = 0, missing=(), bad_days=()):
        self.calls: list[tuple[str, str, date, date]] = []
        self.bump, self.missing, self.bad_days = bump, set(missing), set(bad_days)
        self.numbers = {uid(n): n for n in range(100)}

    def audience(self, song_uuid, platform, start, end, report):
        self.calls.append((self.numbers[song_uuid], platform, start, end))
        if self.numbers[song_uuid] in self.missing:
            raise ApiError("Song not found", status=404)
        points, day = [], start
        while day <= end:
            report.fetched += 1
            if day in self.bad_days:
                report.malformed += 1
            else:
                value = self.numbers[song_uuid] * 1000 + day.timetuple().tm_yday + self.bump
                points.append(AudiencePoint.model_validate({"date": f"{day}T00:00:00+00:00",
                                                            "plots": [{"identifier": "x", "value": value}]}))
            day += timedelta(days=1)
        return points


@pytest.fixture
def conn(music_db):
    with psycopg.connect(music_db) as conn:
        conn.execute("TRUNCATE music.tracks CASCADE")
        conn.commit()
        yield conn


def add_tracks(conn, numbers, tracked=True) -> dict[int, int]:
    ids = {n: conn.execute("INSERT INTO music.tracks (uuid, title, is_tracked) VALUES (%s, %s, %s) RETURNING id",
                           (uid(n), f"t{n}", tracked)).fetchone()[0] for n in numbers}
    conn.commit()
    return ids


def stored(conn) -> dict[tuple[int, str, date], int]:
    return {(t, p, d): v for t, p, d, v in conn.execute(
        "SELECT track_id, platform, day, value FROM music.track_audience")}


def test_window_ends_with_the_last_day():
    assert window(LAST, 30) == (date(2026, 5, 11), LAST)
    assert window(LAST, 1) == (LAST, LAST)


def test_first_run_fills_the_window_per_platform_and_skips_untracked(conn):
    ids = add_tracks(conn, [1, 2])
    add_tracks(conn, [3], tracked=False)
    client = FakeSoundcharts()
    result = sync_audience(conn, client, LAST, platforms=["spotify", "deezer"], days=7)
    assert result == dict(zip(KEYS, (2, 4, 28, 28, 0, 0, 0, 1), strict=True))
    assert sorted(client.calls) == [(n, p, date(2026, 6, 3), LAST) for n in (1, 2) for p in ("deezer", "spotify")]
    rows = stored(conn)
    assert rows[(ids[2], "spotify", LAST)] == 2000 + LAST.timetuple().tm_yday
    assert {d for (_, _, d) in rows} == {date(2026, 6, 3) + timedelta(days=k) for k in range(7)}


def test_a_rerun_asks_nothing_and_the_next_day_asks_only_that_day(conn):
    add_tracks(conn, [1, 2])
    sync_audience(conn, FakeSoundcharts(), LAST, days=7)
    again = FakeSoundcharts()
    assert sync_audience(conn, again, LAST, days=7) == dict(zip(KEYS, (2, 0, 0, 0, 0, 0, 0, 1), strict=True))
    assert again.calls == []
    nxt = FakeSoundcharts()
    result = sync_audience(conn, nxt, LAST + timedelta(days=1), days=7)
    assert result["requests"] == 2 and result["inserted"] == 2
    assert {(s, e) for _, _, s, e in nxt.calls} == {(LAST + timedelta(days=1), LAST + timedelta(days=1))}


def test_resume_point_is_the_latest_stored_day_and_changed_values_are_updated(conn):
    ids = add_tracks(conn, [1])
    with conn.transaction():  # days 3 and 4 of the 7-day window stored
        for day, value in ((date(2026, 6, 5), 1), (date(2026, 6, 6), 2)):
            conn.execute("INSERT INTO music.track_audience (track_id, platform, day, value) "
                         "VALUES (%s, 'spotify', %s, %s)", (ids[1], day, value))
    client = FakeSoundcharts()
    result = sync_audience(conn, client, LAST, days=7)
    assert client.calls == [(1, "spotify", date(2026, 6, 7), LAST)]
    assert result["inserted"] == 3 and result["updated"] == 0
    assert stored(conn)[(ids[1], "spotify", date(2026, 6, 5))] == 1, "days before the resume point are kept"
    # An upsert of an overlapping range writes only the values that differ.
    from include.music.repository.audience import upsert_points

    day = date(2026, 6, 7)
    same = stored(conn)[(ids[1], "spotify", day)]
    assert upsert_points(conn, [(ids[1], "spotify", day, same), (ids[1], "spotify", LAST, 5)]) == (0, 1)


def test_malformed_points_are_counted_and_too_many_fail_before_storing(conn):
    add_tracks(conn, range(1, 6))
    result = sync_audience(conn, FakeSoundcharts(bad_days={LAST}), LAST, days=30)
    assert result["malformed"] == 5 and result["points"] == 5 * 29  # 5 of 150: 3.3 %
    conn.execute("TRUNCATE music.track_audience")
    conn.commit()
    with pytest.raises(TooManyMalformed):
        sync_audience(conn, FakeSoundcharts(bad_days={LAST, LAST - timedelta(days=1)}), LAST, days=30)  # 6.7 %
    assert stored(conn) == {}


def test_unknown_songs_are_counted_and_skipped(conn):
    ids = add_tracks(conn, [1, 2])
    result = sync_audience(conn, FakeSoundcharts(missing={1}), LAST, days=3)
    assert result["not_found"] == 1 and result["inserted"] == 3
    assert {t for t, _, _ in stored(conn)} == {ids[2]}


def test_the_soft_limit_stops_between_batches_and_the_next_run_continues(conn):
    add_tracks(conn, range(1, 6))
    with pytest.raises(SoftTimeLimitExceeded) as stop:
        sync_audience(conn, FakeSoundcharts(), LAST, days=2, batch_size=2, budget=ScriptedBudget([True, True]))
    assert stop.value.result["tracks"] == 4 and stop.value.result["inserted"] == 8
    rest = FakeSoundcharts()
    assert sync_audience(conn, rest, LAST, days=2, batch_size=2)["inserted"] == 2
    assert [n for n, *_ in rest.calls] == [5]


def test_bad_arguments_are_refused(conn):
    with pytest.raises(ValueError, match="platforms"):
        sync_audience(conn, FakeSoundcharts(), LAST, platforms=[])
    with pytest.raises(ValueError, match="days"):
        sync_audience(conn, FakeSoundcharts(), LAST, days=0)
