"""music_fetch_track_metadata end to end with dag.test() against the sandbox's Soundcharts:
new tracks get the catalogue's metadata, an unknown uuid is counted and skipped, a 429 with
Retry-After is waited out by the client, a rerun asks nothing; malformed song objects (the
sandbox's `malformed_fraction`) are counted, and more than 5 % fail the run at once leaving
the batch unstamped. The app database is shared: each test empties music.tracks first."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import psycopg
import pytest
from pydantic import ValidationError

from include.demo import music_data
from include.music.soundcharts_client import SongMetadata
from tests.e2e.conftest import run_dag, task_result, task_states

DAG_ID = "music_fetch_track_metadata"
T = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
UNKNOWN = str(uuid.UUID(int=12345))


def corrupted_by_sandbox(song_uuid: str, fraction: float) -> bool:
    """Whether the sandbox's malformed switch turns this song's object into one our client
    refuses (its own corruption function, applied as it does to a request)."""
    from sandbox.apis import soundcharts

    request = SimpleNamespace(state=SimpleNamespace(malformed_fraction=fraction))
    [answer] = soundcharts._malformed(request, [music_data.song(song_uuid)], soundcharts.SONG_CORRUPTIONS)
    try:
        SongMetadata.model_validate(answer)
    except ValidationError:
        return True
    return False


@pytest.fixture
def tracks(app_db):
    def add(uuids: list[str]) -> None:
        with psycopg.connect(app_db) as conn:
            conn.execute("TRUNCATE music.tracks RESTART IDENTITY CASCADE")
            for u in uuids:
                conn.execute("INSERT INTO music.tracks (uuid, title) VALUES (%s, 'from a ranking')", (u,))
    return add


def stored(app_db) -> dict[str, tuple]:
    with psycopg.connect(app_db) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT uuid::text, title, artist, release_date, genres, isrc, duration_seconds, metadata_updated_at "
            "FROM music.tracks")}


def test_new_tracks_get_metadata_a_429_is_waited_out_and_a_rerun_asks_nothing(repo_dags, app_db, sandbox, tracks):
    pool = music_data.song_uuids()[:30]
    tracks([*pool, UNKNOWN])
    sandbox.reset()
    sandbox.set_faults("soundcharts", status_429=1, retry_after=1)
    run = run_dag(repo_dags[DAG_ID], T)
    assert run.state == "success", task_states(run)
    assert task_result(run, "fetch_metadata") == {"tracks": 31, "updated": 30, "malformed": 0, "not_found": 1,
                                                  "batches": 2}
    rows = stored(app_db)
    for u in pool:
        song = music_data.song(u)
        assert rows[u] == (song["name"], song["creditName"], date.fromisoformat(song["releaseDate"][:10]),
                           [g["root"] for g in song["genres"]], song["isrc"]["value"], song["duration"],
                           rows[u][-1])
    assert rows[UNKNOWN][:2] == ("from a ranking", None), "an unknown uuid keeps its ranking fields"
    assert len({r[-1] for r in rows.values()}) == 1, "every track was stamped with the run's time"
    calls = sandbox.requests("soundcharts")
    assert [c["status"] for c in calls].count(429) == 1 and calls[0]["path"] == calls[1]["path"]
    assert len(calls) == 31 + 1

    sandbox.clear_requests()
    again = run_dag(repo_dags[DAG_ID], T)
    assert again.state == "success", task_states(again)
    assert task_result(again, "fetch_metadata") == {"tracks": 0, "updated": 0, "malformed": 0, "not_found": 0,
                                                    "batches": 0}
    assert sandbox.requests("soundcharts") == [] and stored(app_db) == rows


def test_malformed_songs_are_counted_and_more_than_5_percent_fail_the_run(repo_dags, app_db, sandbox, tracks):
    fraction = 0.2
    pool = music_data.song_uuids()
    bad = [u for u in pool[:400] if corrupted_by_sandbox(u, fraction)]
    good = [u for u in pool[:400] if u not in bad]
    assert len(bad) >= 4 and len(good) >= 48
    sandbox.reset()
    sandbox.set_faults("soundcharts", malformed_fraction=fraction)

    tracks(good[:48] + bad[:2])  # 2 of 50: 4 %, counted and skipped
    run = run_dag(repo_dags[DAG_ID], T)
    assert run.state == "success", task_states(run)
    assert task_result(run, "fetch_metadata")["malformed"] == 2
    rows = stored(app_db)
    assert all(rows[u][0] == "from a ranking" and rows[u][-1] is not None for u in bad[:2]), "stamped, not asked again"

    tracks(good[:16] + bad[:4])  # 4 of 20: 20 %, one batch, the run's last
    failed = run_dag(repo_dags[DAG_ID], T)
    assert failed.state == "failed"
    [ti] = failed.get_task_instances()
    assert ti.state == "failed"
    assert all(r[-1] is None for r in stored(app_db).values()), "the failing batch was not stored"
