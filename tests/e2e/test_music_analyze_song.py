"""music_analyze_song end to end with dag.test() against the sandbox's ACRCloud and SMTP sink:
the analysis row and exactly one email, a rerun sends nothing, no match is a result, a missing
file or a bad signature fails at once without retries, throttling (3015) is retried, a bad
--conf is refused naming song_id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.include.music.songs import add_song

WHEN = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
DAG_ID = "music_analyze_song"
API = "acrcloud"


def _connection(port: int, secret: str = "sandbox-acr-secret") -> str:
    return json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}", "login": "sandbox-acr-key",
                       "password": secret, "extra": {"rate_limit": "acrcloud"}})


@pytest.fixture
def upload_root(tmp_path, monkeypatch, sandbox, session_env) -> Path:
    root = tmp_path / "music"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_MUSIC_UPLOAD_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW_CONN_ACRCLOUD_API", _connection(session_env["http_port"]))
    monkeypatch.setenv("AIRFLOW_VAR_RATE_LIMITS", json.dumps({"acrcloud": [1, 1]}))  # not 1 a minute
    sandbox.reset_faults()
    sandbox.clear_requests()
    yield root
    sandbox.reset_faults()


@pytest.fixture
def new_song(app_db, upload_root):
    def make(**kwargs) -> dict:
        with psycopg.connect(app_db) as conn:
            return add_song(conn, upload_root, **kwargs)
    return make


def _analysis(app_db, song_id: int) -> dict | None:
    with psycopg.connect(app_db) as conn:
        cur = conn.execute("SELECT s.status AS song_status, a.* FROM music.songs s "
                           "LEFT JOIN music.song_analyses a ON a.song_id = s.id WHERE s.id = %s", (song_id,))
        row = cur.fetchone()
        return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def _outbox_count(app_db, song_id: int) -> int:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT count(*) FROM platform.outbox WHERE dedupe_key = %s",
                            (f"song-analysis:{song_id}",)).fetchone()[0]


def _run_with_retries(dag, monkeypatch, when, conf):
    """dag.test with retries left on (3) but no delay: a retry shows as try 2."""
    for task in dag.tasks:
        monkeypatch.setattr(task, "retries", 3)
        monkeypatch.setattr(task, "retry_delay", timedelta(0))
    monkeypatch.setattr(dag, "deadline", None)  # see run_dag
    run = dag.test(logical_date=when, run_conf=conf)
    return run, {ti.task_id: ti for ti in run.get_task_instances()}


def test_a_match_is_stored_and_emailed_once_and_a_rerun_sends_nothing(repo_dags, app_db, sandbox, new_song):
    dag = repo_dags[DAG_ID]
    assert dag.get_task("identify_song").pool == "acrcloud"
    song = new_song(matched=True, title="Garage take 3")
    run = run_dag(dag, WHEN, {"song_id": song["id"]})
    assert run.state == "success", task_states(run)
    result = task_result(run, "identify_song")
    assert result["analysed"] is True and result["matched"] is True and result["email_queued"] is True

    row = _analysis(app_db, song["id"])
    assert (row["song_status"], row["status"], row["matched"], row["acr_status_code"]) == (
        "analyzed", "completed", True, 0)
    assert row["title"] == result["title"] and row["score"] >= 70 and row["sample_seconds"] == pytest.approx(12)
    [call] = sandbox.requests(API)
    assert call["body"]["signature"] and call["body"]["timestamp"].isdigit()

    [mail] = sandbox.emails(to=song["uploader_email"])
    assert mail["dedupe_key"] == f"song-analysis:{song['id']}"
    assert mail["subject"].startswith('"Garage take 3" identified: ') and row["title"] in mail["subject"]
    assert "Hi Uma Uploader," in mail["text"] and f"Title:     {row['title']}" in mail["text"]
    assert row["title"] in mail["html"]

    sandbox.clear_requests()
    again = run_dag(dag, WHEN + timedelta(minutes=5), {"song_id": song["id"]})
    assert again.state == "success", task_states(again)
    rerun = task_result(again, "identify_song")
    assert rerun["analysed"] is False and rerun["reason"].startswith("already analysed on 20")
    assert sandbox.requests(API) == []
    assert len(sandbox.emails(to=song["uploader_email"])) == 1

    forced = run_dag(dag, WHEN + timedelta(minutes=10), {"song_id": song["id"], "force": True})
    assert forced.state == "success", task_states(forced)
    assert task_result(forced, "identify_song")["email_queued"] is False
    assert len(sandbox.requests(API)) == 1 and len(sandbox.emails(to=song["uploader_email"])) == 1


def test_no_match_completes_unmatched_and_says_so_by_email(repo_dags, app_db, sandbox, new_song):
    song = new_song(matched=False, title="My own tune")
    run = run_dag(repo_dags[DAG_ID], WHEN + timedelta(hours=1), {"song_id": song["id"]})
    assert run.state == "success", task_states(run)
    row = _analysis(app_db, song["id"])
    assert (row["song_status"], row["status"], row["matched"], row["acr_status_code"]) == (
        "analyzed", "completed", False, 1001)
    [mail] = sandbox.emails(to=song["uploader_email"])
    assert mail["subject"] == '"My own tune": no match found' and "found no match" in mail["text"]


def test_a_missing_file_fails_at_once_without_retries(repo_dags, app_db, sandbox, new_song, monkeypatch):
    song = new_song(audio_path="deleted/song.wav")
    run, tis = _run_with_retries(repo_dags[DAG_ID], monkeypatch, WHEN + timedelta(hours=2), {"song_id": song["id"]})
    assert run.state == "failed"
    assert tis["identify_song"].state == "failed"
    assert tis["identify_song"].try_number == 1  # UnreadableAudio is permanent: no retry
    assert tis["deliver_notifications"].state == "upstream_failed"
    row = _analysis(app_db, song["id"])
    assert (row["song_status"], row["status"]) == ("failed", "failed") and "not found" in row["error"]
    assert _outbox_count(app_db, song["id"]) == 0 and sandbox.requests(API) == []


def test_a_bad_signature_fails_at_once(repo_dags, app_db, sandbox, new_song, monkeypatch, session_env):
    monkeypatch.setenv("AIRFLOW_CONN_ACRCLOUD_API", _connection(session_env["http_port"], secret="wrong-secret"))
    song = new_song()
    run, tis = _run_with_retries(repo_dags[DAG_ID], monkeypatch, WHEN + timedelta(hours=3), {"song_id": song["id"]})
    assert run.state == "failed"
    assert tis["identify_song"].state == "failed" and tis["identify_song"].try_number == 1
    assert len(sandbox.requests(API)) == 1  # refused once, not retried
    row = _analysis(app_db, song["id"])
    assert (row["song_status"], row["status"], row["acr_status_code"]) == ("failed", "failed", 3014)
    assert _outbox_count(app_db, song["id"]) == 0


def test_the_qps_limit_is_retried(repo_dags, app_db, sandbox, new_song, monkeypatch):
    from include.music.acrcloud_client import AcrCloudLimitExceeded
    from include.orchestration.errors import ERROR_POLICY

    decision = ERROR_POLICY.evaluate(AcrCloudLimitExceeded("3015 QpS limit exceeded", code=3015), 1, 4)
    assert decision.action.value == "retry"

    song = new_song()
    sandbox.set_faults(API, status_429=1)  # the stand-in answers HTTP 200 with code 3015
    run, tis = _run_with_retries(repo_dags[DAG_ID], monkeypatch, WHEN + timedelta(hours=4), {"song_id": song["id"]})
    assert run.state == "success", task_states(run)
    assert tis["identify_song"].try_number == 2  # the throttled try, then the retry
    assert [c["status"] for c in sandbox.requests(API)] == [200, 200]
    assert _analysis(app_db, song["id"])["status"] == "completed"
    assert len(sandbox.emails(to=song["uploader_email"])) == 1


def test_an_unknown_song_fails_naming_the_id(repo_dags, app_db, monkeypatch, upload_root):
    with psycopg.connect(app_db) as conn:
        missing = conn.execute("SELECT coalesce(max(id), 0) + 100000 FROM music.songs").fetchone()[0]
    run, tis = _run_with_retries(repo_dags[DAG_ID], monkeypatch, WHEN + timedelta(hours=5), {"song_id": missing})
    assert run.state == "failed"
    assert tis["identify_song"].state == "failed" and tis["identify_song"].try_number == 1


@pytest.mark.parametrize(("conf", "why"), [
    ({"song_id": 0}, "0 is less than the minimum of 1"),
    ({"song_id": "abc"}, "'abc' is not of type 'integer'"),
    ({"song_id": 2**63}, "9223372036854775808 is greater than the maximum of 9223372036854775807"),
    ({}, "No value passed"),
])
def test_bad_conf_is_rejected_naming_song_id(repo_dags, conf, why):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"param song_id: {why}"):
        repo_dags[DAG_ID].test(logical_date=WHEN + timedelta(hours=6), run_conf=conf)


def test_force_must_be_a_boolean(repo_dags):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="param force"):
        repo_dags[DAG_ID].test(logical_date=WHEN + timedelta(hours=7), run_conf={"song_id": 1, "force": "yes"})
