"""social_process_media_upload end to end with dag.test(): an image and a video become
`ready` with their variants, a rerun replaces them with the same result, a corrupt file
fails at once without a retry, an unknown id fails clearly, a bad --conf is refused."""

from __future__ import annotations

import io
import json
import re
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from PIL import ExifTags, Image

from tests.e2e.conftest import run_dag, task_states

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAG_ID = "social_process_media_upload"


@pytest.fixture
def media_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "media"
    (root / "uploads").mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_MEDIA_ROOT", str(root))
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_IMAGE_WIDTHS", json.dumps([160, 320]))
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_THUMBNAIL_SIZE", "64")
    return root


@pytest.fixture
def upload(app_db, media_root):
    """upload(bytes, name) -> id of a pending upload of a user of this test's own."""
    tag = secrets.token_hex(4)
    with psycopg.connect(app_db) as conn:
        user_id = conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                               (f"media-e2e-{tag}@example.test", f"media_e2e_{tag}")).fetchone()[0]

    def make(data: bytes, name: str) -> int:
        (media_root / "uploads" / name).write_bytes(data)
        with psycopg.connect(app_db) as conn:
            return conn.execute(
                "INSERT INTO social.media_uploads (user_id, original_path) VALUES (%s, %s) RETURNING id",
                (user_id, f"uploads/{name}")).fetchone()[0]
    return make


def rotated_jpeg_with_gps() -> bytes:
    """400x300 stored, EXIF orientation 6: shown upright 300x400. With GPS tags."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (48.0, 51.0, 29.0)
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def short_video(tmp_path: Path) -> bytes:
    import imageio_ffmpeg

    path = tmp_path / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=15",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=60)
    return path.read_bytes()


def upload_state(app_db, media_id) -> tuple:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT status, kind, width, height, failure_reason FROM social.media_uploads "
                            "WHERE id = %s", (media_id,)).fetchone()


def variants(app_db, media_id) -> dict[str, tuple]:
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT variant, format, width, height, size_bytes FROM social.media_variants "
                            "WHERE media_id = %s", (media_id,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_image_becomes_ready_and_a_rerun_changes_nothing(repo_dags, app_db, media_root, upload):
    dag = repo_dags[DAG_ID]
    media_id = upload(rotated_jpeg_with_gps(), "photo.jpg")

    run = run_dag(dag, T0, {"media_id": media_id})
    assert run.state == "success", task_states(run)
    assert upload_state(app_db, media_id) == ("ready", "image", 300, 400, None)
    first = variants(app_db, media_id)
    # 300 wide upright: 320 would be an upscale and is skipped
    assert {name: v[:3] for name, v in first.items()} == {
        "w160.jpg": ("jpeg", 160, 213), "w160.webp": ("webp", 160, 213), "thumb.jpg": ("jpeg", 64, 64)}
    folder = media_root / "variants" / str(media_id)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(files) == set(first)
    with Image.open(folder / "w160.jpg") as img:
        assert not img.getexif()

    run = run_dag(dag, T0, {"media_id": media_id})
    assert run.state == "success", task_states(run)
    assert variants(app_db, media_id) == first
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_video_becomes_ready_with_poster_and_rendition(repo_dags, app_db, media_root, upload, tmp_path):
    media_id = upload(short_video(tmp_path), "clip")

    run = run_dag(repo_dags[DAG_ID], T0, {"media_id": media_id})

    assert run.state == "success", task_states(run)
    assert upload_state(app_db, media_id) == ("ready", "video", 320, 240, None)
    assert {name: v[:3] for name, v in variants(app_db, media_id).items()} == {
        "poster.jpg": ("jpeg", 320, 240), "thumb.jpg": ("jpeg", 64, 64), "h264.mp4": ("mp4", 320, 240)}


def _run_keeping_retries(dag, conf):
    """dag.test with the DAG's real retries (3): a retryable failure would leave the task
    up_for_retry, so a failed state on the first try proves the no-retry path."""
    assert all(t.retries == 3 for t in dag.tasks)
    run = dag.test(logical_date=T0, run_conf=conf)
    [ti] = run.get_task_instances()
    return run, ti


@pytest.fixture
def dag_with_retries(repo_dags):
    dag = repo_dags[DAG_ID]
    saved = {t.task_id: t.retries for t in dag.tasks}
    for t in dag.tasks:
        t.retries = 3
    yield dag
    for t in dag.tasks:
        t.retries = saved[t.task_id]


def test_corrupt_file_fails_at_once_without_retry(dag_with_retries, app_db, media_root, upload):
    media_id = upload(rotated_jpeg_with_gps()[:600], "broken.jpg")

    run, ti = _run_keeping_retries(dag_with_retries, {"media_id": media_id})

    assert run.state == "failed"
    assert (ti.state, ti.try_number) == ("failed", 1)
    status, kind, _, _, reason = upload_state(app_db, media_id)
    assert (status, kind) == ("failed", "image")
    assert reason.startswith("corrupt image")
    assert variants(app_db, media_id) == {}


def test_unknown_media_id_fails_at_once(dag_with_retries, media_root):
    run, ti = _run_keeping_retries(dag_with_retries, {"media_id": 2_000_000_000})

    assert run.state == "failed"
    assert (ti.state, ti.try_number) == ("failed", 1)


@pytest.mark.parametrize(("conf", "why"), [
    ({"media_id": 0}, "0 is less than the minimum of 1"),
    ({"media_id": "abc"}, "'abc' is not of type 'integer'"),
    ({"media_id": 2**63}, "9223372036854775808 is greater than the maximum of 9223372036854775807"),  # beyond bigint
    ({}, "No value passed"),
])
def test_bad_conf_is_refused_naming_the_field(repo_dags, conf, why):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"param media_id: {re.escape(why)}"):
        run_dag(repo_dags[DAG_ID], T0, conf)
