"""analyze_song against a real PostgreSQL and the sandbox's ACRCloud: the analysis row, the
song's status and the one outbox email; reruns, force, no match, unreadable files, refusals
and throttling."""

from __future__ import annotations

import psycopg
import pytest

from include.common.errors import classify
from include.common.http import ApiClient
from include.music.acrcloud_client import AcrCloudClient, AcrCloudError, AcrCloudLimitExceeded
from include.music.audio_sample import UnreadableAudio
from include.music.repository import song_analysis as repo
from include.music.song_analysis import SongBusy, UnknownSong, analyze_song
from tests.include.music.songs import add_song

API = "acrcloud"
KEY, SECRET = "sandbox-acr-key", "sandbox-acr-secret"


@pytest.fixture
def upload_root(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    return root


@pytest.fixture
def conn(music_db):
    with psycopg.connect(music_db, autocommit=True) as c:
        yield c


@pytest.fixture
def base_url(sandbox, session_env):
    sandbox.reset_faults()
    sandbox.clear_requests()
    yield f"http://127.0.0.1:{session_env['http_port']}"
    sandbox.reset_faults()


@pytest.fixture
def client(base_url):
    with ApiClient(base_url, sleep=lambda s: None) as api:
        yield AcrCloudClient(api, KEY, SECRET)


def _song_status(conn, song_id: int) -> str:
    return conn.execute("SELECT status FROM music.songs WHERE id = %s", (song_id,)).fetchone()[0]


def _analysis(conn, song_id: int) -> dict | None:
    cur = conn.execute("SELECT * FROM music.song_analyses WHERE song_id = %s", (song_id,))
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def _outbox(conn, song_id: int) -> list[tuple]:
    return conn.execute("SELECT recipient, subject, body_text, domain FROM platform.outbox WHERE dedupe_key = %s",
                        (f"song-analysis:{song_id}",)).fetchall()


def test_a_match_is_stored_and_the_uploader_emailed_once(music_db, conn, upload_root, client, sandbox):
    song = add_song(conn, upload_root, matched=True, title="Sunday demo")
    result = analyze_song(music_db, song["id"], upload_root, client)
    assert result["analysed"] is True and result["matched"] is True and result["email_queued"] is True
    assert result["acr_status_code"] == 0 and result["title"] and result["artists"]
    assert result["dedupe_key"] == f"song-analysis:{song['id']}"

    row = _analysis(conn, song["id"])
    assert row["status"] == "completed" and row["matched"] is True and row["acr_status_code"] == 0
    best = row["raw_response"]["metadata"]["music"][0]
    assert row["title"] == best["title"] == result["title"]
    assert row["artists"] == [a["name"] for a in best["artists"]]
    assert row["album"] == best["album"]["name"] and row["isrc"] == best["external_ids"]["isrc"]
    assert row["score"] == best["score"] and row["acrid"] == best["acrid"]
    assert row["sample_start_s"] == pytest.approx(9, abs=0.05) and row["sample_seconds"] == pytest.approx(12)
    assert row["error"] is None and row["finished_at"] is not None
    assert _song_status(conn, song["id"]) == "analyzed"

    [(recipient, subject, text, domain)] = _outbox(conn, song["id"])
    assert (recipient, domain) == (song["uploader_email"], "music")
    assert subject.startswith('"Sunday demo" identified: ') and best["title"] in subject
    assert "Hi Uma Uploader," in text and f"Title:     {best['title']}" in text and "/ 100" in text
    [call] = sandbox.requests(API)
    assert call["body"]["sample_bytes"] == str(44 + 12 * 8000 * 2)  # 12 s of mono 16-bit 8 kHz WAV


def test_a_rerun_keeps_the_analysis_and_calls_nothing(music_db, conn, upload_root, client, sandbox):
    song = add_song(conn, upload_root)
    analyze_song(music_db, song["id"], upload_root, client)
    before = _analysis(conn, song["id"])
    sandbox.clear_requests()
    again = analyze_song(music_db, song["id"], upload_root, client)
    assert again["analysed"] is False and again["matched"] is True
    assert again["reason"] == f"already analysed on {before['finished_at'].date().isoformat()}"
    assert sandbox.requests(API) == [] and _analysis(conn, song["id"]) == before
    assert len(_outbox(conn, song["id"])) == 1


def test_force_identifies_again_but_never_emails_twice(music_db, conn, upload_root, client, sandbox):
    song = add_song(conn, upload_root)
    analyze_song(music_db, song["id"], upload_root, client)
    first = _analysis(conn, song["id"])
    sandbox.clear_requests()
    forced = analyze_song(conn, song["id"], upload_root, client, force=True, sample_seconds=15)
    assert forced["analysed"] is True and forced["email_queued"] is False
    assert len(sandbox.requests(API)) == 1
    row = _analysis(conn, song["id"])
    assert row["id"] == first["id"] and row["finished_at"] > first["finished_at"]  # one row per song, upserted
    assert row["sample_seconds"] == pytest.approx(15) and row["sample_start_s"] == pytest.approx(7.5, abs=0.05)
    assert len(_outbox(conn, song["id"])) == 1


def test_no_match_is_a_completed_analysis_and_an_email_saying_so(music_db, conn, upload_root, client):
    song = add_song(conn, upload_root, matched=False, title="Original piece")
    result = analyze_song(music_db, song["id"], upload_root, client)
    assert result["analysed"] is True and result["matched"] is False and result["acr_status_code"] == 1001
    row = _analysis(conn, song["id"])
    assert (row["status"], row["matched"], row["acr_status_code"]) == ("completed", False, 1001)
    assert row["title"] is None and row["score"] is None and row["raw_response"]["status"]["code"] == 1001
    assert _song_status(conn, song["id"]) == "analyzed"
    [(_, subject, text, _)] = _outbox(conn, song["id"])
    assert subject == '"Original piece": no match found' and "found no match" in text


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_an_unreadable_file_fails_the_song_without_email(music_db, conn, upload_root, client, sandbox, broken):
    if broken == "corrupt":
        (upload_root / "corrupt.mp3").write_bytes(b"ID3 but then nothing sensible" * 50)
    song = add_song(conn, upload_root, audio_path="corrupt.mp3" if broken == "corrupt" else "gone/song.wav")
    with pytest.raises(UnreadableAudio) as caught:
        analyze_song(music_db, song["id"], upload_root, client)
    assert classify(caught.value) == "permanent"
    row = _analysis(conn, song["id"])
    assert row["status"] == "failed" and row["error"] == str(caught.value) and row["matched"] is None
    assert ("not found" if broken == "missing" else "Invalid data") in row["error"]
    assert _song_status(conn, song["id"]) == "failed"
    assert _outbox(conn, song["id"]) == [] and sandbox.requests(API) == []


def test_a_failed_song_is_analysed_again_once_its_file_is_fixed(music_db, conn, upload_root, client):
    from tests.include.music.songs import write_song_file

    song = add_song(conn, upload_root, audio_path="later/song.wav")
    with pytest.raises(UnreadableAudio):
        analyze_song(music_db, song["id"], upload_root, client)
    fixed = write_song_file(upload_root, matched=True)
    (upload_root / "later").mkdir()
    (upload_root / fixed).rename(upload_root / "later/song.wav")
    assert analyze_song(music_db, song["id"], upload_root, client)["matched"] is True
    assert _analysis(conn, song["id"])["status"] == "completed" and _analysis(conn, song["id"])["error"] is None
    assert len(_outbox(conn, song["id"])) == 1


def test_an_unknown_song_names_the_id(music_db, conn, upload_root, client):
    missing = conn.execute("SELECT coalesce(max(id), 0) + 1000 FROM music.songs").fetchone()[0]
    with pytest.raises(UnknownSong, match=f"song {missing} does not exist") as caught:
        analyze_song(music_db, missing, upload_root, client)
    assert classify(caught.value) == "permanent"


def test_a_bad_signature_fails_the_song_with_the_code(music_db, conn, upload_root, base_url):
    song = add_song(conn, upload_root)
    with ApiClient(base_url) as api, pytest.raises(AcrCloudError, match="code 3014") as caught:
        analyze_song(music_db, song["id"], upload_root, AcrCloudClient(api, KEY, "wrong-secret"))
    assert classify(caught.value) == "permanent"
    row = _analysis(conn, song["id"])
    assert (row["status"], row["acr_status_code"]) == ("failed", 3014)
    assert row["raw_response"]["status"]["code"] == 3014 and "3014" in row["error"]
    assert row["sample_seconds"] == pytest.approx(12)
    assert _song_status(conn, song["id"]) == "failed" and _outbox(conn, song["id"]) == []


def test_throttling_leaves_the_song_analyzing_for_the_retry(music_db, conn, upload_root, client, sandbox):
    song = add_song(conn, upload_root)
    sandbox.set_faults(API, status_429=1)  # the stand-in answers 3015, as ACRCloud does
    with pytest.raises(AcrCloudLimitExceeded) as caught:
        analyze_song(music_db, song["id"], upload_root, client)
    assert classify(caught.value) == "transient"
    assert _song_status(conn, song["id"]) == "analyzing" and _analysis(conn, song["id"])["status"] == "running"
    assert analyze_song(music_db, song["id"], upload_root, client)["analysed"] is True  # the retry
    assert _song_status(conn, song["id"]) == "analyzed"


def test_a_song_held_by_another_run_is_busy(music_db, conn, upload_root, client):
    song = add_song(conn, upload_root)
    with psycopg.connect(music_db, autocommit=True) as other:
        assert repo.try_lock(other, song["id"])
        with pytest.raises(SongBusy) as caught:
            analyze_song(music_db, song["id"], upload_root, client)
    assert classify(caught.value) == "transient"
    assert analyze_song(music_db, song["id"], upload_root, client)["analysed"] is True  # released with `other`


def test_a_transaction_holding_connection_is_refused(music_db, upload_root, client):
    with psycopg.connect(music_db) as conn, pytest.raises(ValueError, match="autocommit"):
        analyze_song(conn, 1, upload_root, client)


def test_the_demo_song_is_identified_by_the_sandbox(music_db, conn, upload_root, client):
    from include.demo.music_songs import seed_demo_song

    with psycopg.connect(music_db) as tx:
        song_id = seed_demo_song(tx, upload_root, name="demo/tone.wav", uploader_email="demo-e2e@music.test")
    assert (upload_root / "demo/tone.wav").is_file() and _song_status(conn, song_id) == "uploaded"
    result = analyze_song(music_db, song_id, upload_root, client)
    assert result["matched"] is True  # the seeded demo shows a match in the UI and the caught email
