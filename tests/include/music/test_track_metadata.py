"""Track metadata against PostgreSQL with a fake Soundcharts (the API is not the point here):
which tracks are due and in what order, the set-based update writing only changes, malformed
and unknown songs counted, stamped and not asked again, the 5 % limit, the soft limit's
resume, and a run with nothing to do."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.common.http import ApiError
from include.common.time_budget import SoftTimeLimitExceeded
from include.common.validation import TooManyMalformed
from include.music.soundcharts_client import SongMetadata
from include.music.track_metadata import fetch_track_metadata
from tests.budgets import ScriptedBudget

AS_OF = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def uid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"track-{n}"))


class FakeSoundcharts:
    """Song n: "Title n" by "Artist n", released 2020-01-n%28+1, genre pop, 200+n seconds.
    `malformed` / `missing` are track numbers answered with a ValueError / a 404."""

    def __init__(self, malformed=(), missing=(), title=lambda n: f"Title {n}"):
        self.asked: list[str] = []
        self.malformed, self.missing, self.title = set(malformed), set(missing), title
        self.numbers = {uid(n): n for n in range(1000)}

    def song(self, song_uuid: str) -> SongMetadata:
        self.asked.append(song_uuid)
        n = self.numbers[song_uuid]
        if n in self.missing:
            raise ApiError("Song not found", status=404)
        if n in self.malformed:
            raise ValueError(f"malformed song {song_uuid}: duration is not an integer")
        return SongMetadata.model_validate({
            "uuid": song_uuid, "name": self.title(n), "creditName": f"Artist {n}",
            "releaseDate": f"2020-01-{n % 28 + 1:02d}T00:00:00+00:00", "genres": [{"root": "pop", "sub": []}],
            "isrc": {"value": f"USXX{n:08d}"}, "duration": 200 + n})


@pytest.fixture
def conn(music_db):
    with psycopg.connect(music_db) as conn:
        conn.execute("TRUNCATE music.tracks CASCADE")
        conn.commit()
        yield conn


def add_tracks(conn, numbers, fetched_at=None) -> dict[int, int]:
    """Tracks with only the ranking's fields (title 'ranked n'); number -> id."""
    ids = {}
    for n in numbers:
        ids[n] = conn.execute("INSERT INTO music.tracks (uuid, title, artist, metadata_updated_at) "
                              "VALUES (%s, %s, 'someone', %s) RETURNING id",
                              (uid(n), f"ranked {n}", fetched_at)).fetchone()[0]
    conn.commit()
    return ids


def row(conn, track_id):
    return conn.execute("SELECT title, artist, album, release_date, genres, isrc, duration_seconds, "
                        "metadata_updated_at FROM music.tracks WHERE id = %s", (track_id,)).fetchone()


def test_new_and_stale_tracks_are_fetched_new_first_then_stalest_and_fresh_ones_left(conn):
    new = add_tracks(conn, [1, 2, 3])
    stale = add_tracks(conn, [4], AS_OF - 40 * DAY) | add_tracks(conn, [5], AS_OF - 60 * DAY)
    fresh = add_tracks(conn, [6], AS_OF - 10 * DAY)
    client = FakeSoundcharts()
    result = fetch_track_metadata(conn, client, AS_OF, batch_size=2)
    assert result == {"tracks": 5, "updated": 5, "malformed": 0, "not_found": 0, "batches": 3}
    assert client.asked == [uid(1), uid(2), uid(3), uid(5), uid(4)]  # new by id, then the stalest first
    assert row(conn, new[2]) == ("Title 2", "Artist 2", None, date(2020, 1, 3), ["pop"], "USXX00000002", 202, AS_OF)
    assert row(conn, stale[5])[-1] == AS_OF
    assert row(conn, fresh[6]) == ("ranked 6", "someone", None, None, [], None, None, AS_OF - 10 * DAY)


def test_a_rerun_asks_nothing_and_a_later_refresh_writes_only_changed_rows(conn):
    add_tracks(conn, [1, 2, 3])
    fetch_track_metadata(conn, FakeSoundcharts(), AS_OF)
    again = FakeSoundcharts()
    assert fetch_track_metadata(conn, again, AS_OF) == {"tracks": 0, "updated": 0, "malformed": 0,
                                                        "not_found": 0, "batches": 0}
    assert again.asked == []
    later = AS_OF + 31 * DAY  # all stale again; only song 2's title changed
    changed = FakeSoundcharts(title=lambda n: "Renamed" if n == 2 else f"Title {n}")
    result = fetch_track_metadata(conn, changed, later, max_age_days=30)
    assert result["tracks"] == 3 and result["updated"] == 1
    assert [r[0] for r in conn.execute("SELECT title FROM music.tracks ORDER BY id")] == \
        ["Title 1", "Renamed", "Title 3"]
    assert {r[0] for r in conn.execute("SELECT metadata_updated_at FROM music.tracks")} == {later}


def test_malformed_and_unknown_songs_are_counted_stamped_and_not_asked_again(conn):
    ids = add_tracks(conn, range(1, 41))
    client = FakeSoundcharts(malformed={7}, missing={9, 30})
    result = fetch_track_metadata(conn, client, AS_OF, batch_size=10)
    assert result == {"tracks": 40, "updated": 37, "malformed": 1, "not_found": 2, "batches": 4}
    assert row(conn, ids[7])[:2] == ("ranked 7", "someone") and row(conn, ids[7])[-1] == AS_OF
    assert row(conn, ids[9])[0] == "ranked 9"
    again = FakeSoundcharts(malformed={7}, missing={9, 30})
    assert fetch_track_metadata(conn, again, AS_OF + DAY)["tracks"] == 0 and again.asked == []


def test_more_than_5_percent_malformed_fails_and_leaves_that_batch_unstamped(conn):
    ids = add_tracks(conn, range(1, 21))
    client = FakeSoundcharts(malformed={12, 13})  # 2 of 20 = 10 %, crossed in the second batch
    with pytest.raises(TooManyMalformed, match="2 of 20 song objects malformed"):
        fetch_track_metadata(conn, client, AS_OF, batch_size=10)
    assert row(conn, ids[5])[-1] == AS_OF, "the first batch was committed"
    assert row(conn, ids[12])[-1] is None and row(conn, ids[15])[-1] is None, "the failing batch was not"


def test_the_soft_limit_stops_between_batches_and_the_next_run_continues(conn):
    add_tracks(conn, range(1, 8))
    with pytest.raises(SoftTimeLimitExceeded) as stop:
        fetch_track_metadata(conn, FakeSoundcharts(), AS_OF, batch_size=3, budget=ScriptedBudget([True, True]))
    assert stop.value.result["tracks"] == 6 and stop.value.result["batches"] == 2
    rest = FakeSoundcharts()
    assert fetch_track_metadata(conn, rest, AS_OF, batch_size=3)["tracks"] == 1
    assert rest.asked == [uid(7)]


def test_nothing_due_is_zeros_and_a_transient_api_error_propagates(conn):
    assert fetch_track_metadata(conn, FakeSoundcharts(), AS_OF) == dict.fromkeys(
        ("tracks", "updated", "malformed", "not_found", "batches"), 0)
    add_tracks(conn, [1])

    class Down(FakeSoundcharts):
        def song(self, song_uuid):
            raise ApiError("Service unavailable", status=503)

    with pytest.raises(ApiError):
        fetch_track_metadata(conn, Down(), AS_OF)
    assert conn.execute("SELECT metadata_updated_at FROM music.tracks").fetchone()[0] is None


def test_bad_arguments_are_refused(conn):
    with pytest.raises(ValueError, match="aware"):
        fetch_track_metadata(conn, FakeSoundcharts(), datetime(2026, 6, 10))
    with pytest.raises(ValueError, match="max_age_days"):
        fetch_track_metadata(conn, FakeSoundcharts(), AS_OF, max_age_days=0)
