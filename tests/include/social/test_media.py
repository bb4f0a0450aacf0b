"""Media processing against a real database and real files made here: a rotated JPEG with
EXIF GPS tags, a PNG with alpha, short videos made with the wheel's ffmpeg, and broken or
unsupported files."""

from __future__ import annotations

import io
import random
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest
from PIL import ExifTags, Image, ImageCms

from include.social.media.errors import MediaBusy, MediaNotFound, UnprocessableMedia
from include.social.media.model import MediaSettings
from include.social.media.process import process_upload
from include.social.media.videos import ffmpeg_exe, parse_probe

SECRET_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SecretPlaceXmp 37.7749 -122.4194</x:xmpmeta>'
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)


# --- files -------------------------------------------------------------------------------

def rotated_jpeg_with_gps() -> bytes:
    """Stored 1000x700, left half red, right half blue, EXIF orientation 6 (rotate 90° clockwise
    to display): shown upright it is 700x1000 with red on top. Carries GPS, XMP and ICC."""
    img = Image.new("RGB", (1000, 700), RED)
    img.paste(BLUE, (500, 0, 1000, 700))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "SecretPhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 46.0, 29.64)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (122.0, 25.0, 9.84)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, exif=exif, xmp=SECRET_XMP, icc_profile=srgb)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test file has GPS
    return data


def png_with_alpha() -> bytes:
    """300x200: left half opaque green, right half fully transparent."""
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    img.paste((*GREEN, 255), (0, 0, 150, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def plain_jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 90, 200)).save(out, "JPEG")
    return out.getvalue()


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Real videos: 2 s 320x240 with audio and a GPS location and title in its metadata; the
    same turned 90° by its display matrix; 0.5 s at odd 321x241 without audio (Matroska);
    an audio-only MP4; the first 2 kB of an MP4 (no moov atom)."""
    folder = tmp_path_factory.mktemp("clips")
    clip = folder / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=15",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-metadata", "location=+37.7749-122.4194/", "-metadata", "title=SecretTitle",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip))
    rotated = folder / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated))
    short = folder / "short.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=0.5:size=321x241:rate=15",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(short))
    audio = folder / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", "-f", "mp4", str(audio))
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:2048])
    return {"clip": clip, "rotated": rotated, "short": short, "audio": audio, "truncated": truncated}


# --- database rows -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def user_id(social_db) -> int:
    tag = secrets.token_hex(4)
    with psycopg.connect(social_db) as conn:
        return conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                            (f"media-{tag}@example.test", f"media_{tag}")).fetchone()[0]


@pytest.fixture
def media_root(tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "uploads").mkdir(parents=True)
    return root


@pytest.fixture
def upload(social_db, user_id, media_root):
    """upload(content, name) -> media id of a pending upload of that file."""
    def make(content: bytes | Path, name: str, original_path: str | None = None) -> int:
        data = content.read_bytes() if isinstance(content, Path) else content
        (media_root / "uploads" / name).write_bytes(data)
        with psycopg.connect(social_db) as conn:
            return conn.execute(
                "INSERT INTO social.media_uploads (user_id, original_path, size_bytes) "
                "VALUES (%s, %s, %s) RETURNING id",
                (user_id, original_path or f"uploads/{name}", len(data))).fetchone()[0]
    return make


def upload_row(dsn: str, media_id: int) -> dict:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT status, kind, width, height, size_bytes, failure_reason, processed_at "
                           "FROM social.media_uploads WHERE id = %s", (media_id,))
        return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def variant_rows(dsn: str, media_id: int) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT variant, path, format, width, height, size_bytes FROM social.media_variants "
                            "WHERE media_id = %s", (media_id,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def assert_rows_match_files(dsn: str, media_id: int, media_root: Path) -> dict[str, tuple]:
    rows = variant_rows(dsn, media_id)
    folder = media_root / "variants" / str(media_id)
    assert {p.name for p in folder.iterdir()} == set(rows)
    for name, (path, fmt, width, height, size) in rows.items():
        assert path == f"variants/{media_id}/{name}"
        assert (media_root / path).stat().st_size == size
        if fmt != "mp4":
            with Image.open(media_root / path) as img:
                assert (img.format.lower(), img.size) == (fmt, (width, height)), name
    assert not [p for p in (media_root / "variants").iterdir() if p.name.startswith(".")], "staging left behind"
    return rows


def assert_no_metadata(path: Path) -> None:
    data = path.read_bytes()
    with Image.open(path) as img:
        assert not img.getexif(), f"{path.name} has EXIF"
        assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(img.info), f"{path.name}: {set(img.info)}"
        if img.format == "JPEG":
            assert [marker for marker, _ in img.applist] == ["APP0"], f"{path.name}: {img.applist}"
    for secret in (b"SecretPhoneMaker", b"SecretPlaceXmp", b"Exif\x00\x00", b"ICC_PROFILE"):
        assert secret not in data, f"{secret!r} leaked into {path.name}"


def color_at(path: Path, xy: tuple[float, float]) -> tuple[int, ...]:
    with Image.open(path) as img:
        return img.getpixel((int(xy[0] * (img.width - 1)), int(xy[1] * (img.height - 1))))


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def ffmpeg_info(path: Path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


# --- images ------------------------------------------------------------------------------

def test_rotated_jpeg_with_gps_is_upright_resized_and_stripped(social_db, media_root, upload):
    original = rotated_jpeg_with_gps()
    media_id = upload(original, "IMG_0001.bin")  # the extension says nothing: content decides

    result = process_upload(social_db, media_id, media_root)

    row = upload_row(social_db, media_id)
    assert (row["status"], row["kind"], row["width"], row["height"]) == ("ready", "image", 700, 1000)
    assert row["failure_reason"] is None and row["processed_at"] is not None
    rows = assert_rows_match_files(social_db, media_id, media_root)
    # 700 wide upright: 1280 would be an upscale and is skipped; heights keep the 7:10 ratio.
    assert {name: (fmt, w, h) for name, (_, fmt, w, h, _) in rows.items()} == {
        "w320.jpg": ("jpeg", 320, 457), "w320.webp": ("webp", 320, 457),
        "w640.jpg": ("jpeg", 640, 914), "w640.webp": ("webp", 640, 914),
        "thumb.jpg": ("jpeg", 256, 256),
    }
    folder = media_root / "variants" / str(media_id)
    for name in rows:
        assert_no_metadata(folder / name)
        assert close(color_at(folder / name, (0.5, 0.1)), RED), f"{name} is not upright (top should be red)"
        assert close(color_at(folder / name, (0.5, 0.9)), BLUE), f"{name} is not upright (bottom should be blue)"
    with Image.open(folder / "w640.jpg") as img:
        assert img.info.get("progressive") == 1
    assert result == {
        "media_id": media_id, "kind": "image", "bytes_in": len(original),
        "bytes_out": sum(size for *_, size in rows.values()), "duration_seconds": None,
        "variants": [{"variant": name, "width": rows[name][2], "height": rows[name][3], "size_bytes": rows[name][4]}
                     for name in ("w320.jpg", "w320.webp", "w640.jpg", "w640.webp", "thumb.jpg")],
    }


def test_png_alpha_is_kept_in_webp_and_flattened_to_white_in_jpeg(social_db, media_root, upload):
    media_id = upload(png_with_alpha(), "logo.png")

    process_upload(social_db, media_id, media_root, MediaSettings(widths=(100, 200, 640)))

    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert {name: (w, h) for name, (_, _, w, h, _) in rows.items()} == {
        "w100.jpg": (100, 67), "w100.webp": (100, 67), "w200.jpg": (200, 133), "w200.webp": (200, 133),
        "thumb.jpg": (200, 200),  # no larger than the short side
    }
    folder = media_root / "variants" / str(media_id)
    with Image.open(folder / "w200.webp") as webp:
        assert webp.mode == "RGBA"
        assert close(webp.getpixel((20, 100)), (*GREEN, 255), 30)
        assert webp.getpixel((180, 100))[3] == 0
    assert close(color_at(folder / "w200.jpg", (0.1, 0.5)), GREEN)
    assert close(color_at(folder / "w200.jpg", (0.9, 0.5)), (255, 255, 255), 10)


def test_image_narrower_than_every_width_keeps_its_own_width(social_db, media_root, upload):
    media_id = upload(plain_jpeg((120, 90)), "tiny.jpg")

    process_upload(social_db, media_id, media_root)

    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert {name: (w, h) for name, (_, _, w, h, _) in rows.items()} == {
        "w120.jpg": (120, 90), "w120.webp": (120, 90), "thumb.jpg": (90, 90)}


def test_rerun_replaces_the_variants_and_removes_stale_ones(social_db, media_root, upload):
    media_id = upload(plain_jpeg((800, 600)), "photo.jpg")
    process_upload(social_db, media_id, media_root, MediaSettings(widths=(320, 640)))
    first = assert_rows_match_files(social_db, media_id, media_root)
    assert set(first) == {"w320.jpg", "w320.webp", "w640.jpg", "w640.webp", "thumb.jpg"}

    process_upload(social_db, media_id, media_root, MediaSettings(widths=(320, 640)))
    assert assert_rows_match_files(social_db, media_id, media_root) == first  # same input, same output

    process_upload(social_db, media_id, media_root, MediaSettings(widths=(320,)))
    second = assert_rows_match_files(social_db, media_id, media_root)
    assert set(second) == {"w320.jpg", "w320.webp", "thumb.jpg"}
    assert not (media_root / "variants" / str(media_id) / "w640.jpg").exists()


# --- videos ------------------------------------------------------------------------------

def test_video_gets_poster_thumbnail_and_h264_without_metadata(social_db, media_root, upload, clips):
    media_id = upload(clips["clip"], "clip.mp4")

    result = process_upload(social_db, media_id, media_root)

    row = upload_row(social_db, media_id)
    assert (row["status"], row["kind"], row["width"], row["height"]) == ("ready", "video", 320, 240)
    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert {name: (fmt, w, h) for name, (_, fmt, w, h, _) in rows.items()} == {
        "poster.jpg": ("jpeg", 320, 240), "thumb.jpg": ("jpeg", 240, 240), "h264.mp4": ("mp4", 320, 240)}
    assert (result["kind"], result["duration_seconds"]) == ("video", 2.0)
    assert result["bytes_in"] == clips["clip"].stat().st_size
    folder = media_root / "variants" / str(media_id)
    info = ffmpeg_info(folder / "h264.mp4")
    assert "Video: h264" in info and "yuv420p" in info and "Audio: aac" in info
    assert "location" not in info and "SecretTitle" not in info
    data = (folder / "h264.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "not +faststart"
    assert_no_metadata(folder / "poster.jpg")


def test_short_odd_sized_silent_video_uses_first_frame_and_even_dimensions(social_db, media_root, upload, clips):
    media_id = upload(clips["short"], "short-clip")  # Matroska, no extension

    process_upload(social_db, media_id, media_root)

    row = upload_row(social_db, media_id)
    assert (row["status"], row["width"], row["height"]) == ("ready", 321, 241)
    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert rows["h264.mp4"][2:4] == (320, 240)
    assert rows["poster.jpg"][2:4] == (321, 241)
    assert "Audio:" not in ffmpeg_info(media_root / rows["h264.mp4"][0])


def test_poster_falls_back_to_the_first_frame_when_the_seek_finds_none(social_db, media_root, upload, clips):
    media_id = upload(clips["clip"], "late-poster.mp4")  # 2.0 s at 15 fps: the last frame is at 1.93 s

    process_upload(social_db, media_id, media_root, MediaSettings(poster_at_seconds=1.99))

    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert rows["poster.jpg"][2:4] == (320, 240)


def test_rotated_video_is_measured_and_rendered_upright(social_db, media_root, upload, clips):
    media_id = upload(clips["rotated"], "rotated.mp4")

    process_upload(social_db, media_id, media_root)

    row = upload_row(social_db, media_id)
    assert (row["width"], row["height"]) == (240, 320)
    rows = assert_rows_match_files(social_db, media_id, media_root)
    assert rows["h264.mp4"][2:4] == (240, 320) and rows["poster.jpg"][2:4] == (240, 320)


def test_parse_probe_reads_size_rotation_duration_and_audio():
    output = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 219 kb/s
  Stream #0:0[0x1](und): Video: mjpeg (Baseline), yuvj420p, 600x600, 90k tbn (attached pic)
  Stream #0:1[0x2](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, 1920x1080 [SAR 1:1 DAR 16:9], 30 fps
    Metadata:
      handler_name    : VideoHandler
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:2[0x3](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp
At least one output file must be specified"""
    probe = parse_probe(output)
    assert (probe.width, probe.height, probe.duration_seconds, probe.has_audio) == (1080, 1920, 62.5, True)
    with pytest.raises(UnprocessableMedia, match="Invalid data"):
        parse_probe("[in#0 @ 0x1] Error opening input: Invalid data found when processing input\n")


# --- failures ----------------------------------------------------------------------------

def assert_failed(dsn: str, media_id: int, kind: str | None, reason: str) -> None:
    row = upload_row(dsn, media_id)
    assert (row["status"], row["kind"]) == ("failed", kind)
    assert reason in row["failure_reason"]
    assert variant_rows(dsn, media_id) == {}


@pytest.mark.parametrize(("name", "content", "kind", "reason"), [
    ("truncated.jpg", lambda clips: plain_jpeg((800, 600))[:1500], "image", "corrupt image"),
    ("random.jpg", lambda clips: random.Random(7).randbytes(4096), None, "unsupported file type"),
    ("notes.jpg", lambda clips: b"just some text, not a picture\n" * 20, None, "unsupported file type"),
    ("empty.png", lambda clips: b"", None, "the file is empty"),
    ("truncated.mp4", lambda clips: clips["truncated"], "video", "not a readable video"),
    ("voice.mp4", lambda clips: clips["audio"], "video", "no video stream"),
])
def test_corrupt_or_unsupported_file_fails_with_reason(social_db, media_root, upload, clips, name, content, kind,
                                                       reason):
    media_id = upload(content(clips), name)

    with pytest.raises(UnprocessableMedia, match=reason):
        process_upload(social_db, media_id, media_root)

    assert_failed(social_db, media_id, kind, reason)
    assert not (media_root / "variants" / str(media_id)).exists()
    assert not [p for p in (media_root / "variants").iterdir() if p.name.startswith(".")]


def test_a_file_gone_bad_drops_the_variants_of_the_earlier_run(social_db, media_root, upload):
    media_id = upload(plain_jpeg((400, 300)), "later-bad.jpg")
    process_upload(social_db, media_id, media_root)
    assert variant_rows(social_db, media_id)

    (media_root / "uploads" / "later-bad.jpg").write_bytes(plain_jpeg((400, 300))[:700])
    with pytest.raises(UnprocessableMedia):
        process_upload(social_db, media_id, media_root)

    assert_failed(social_db, media_id, "image", "corrupt image")
    assert not (media_root / "variants" / str(media_id)).exists()


@pytest.mark.parametrize(("original_path", "reason"), [
    ("../outside.jpg", "outside the media root"),
    ("/etc/hostname", "outside the media root"),
    ("variants/1/w320.jpg", "outside the media root"),
    ("uploads/never-uploaded.jpg", "not found"),
])
def test_paths_outside_the_root_or_missing_fail(social_db, media_root, upload, original_path, reason):
    (media_root.parent / "outside.jpg").write_bytes(plain_jpeg((50, 50)))  # exists, but outside
    media_id = upload(b"unused", "placeholder", original_path=original_path)

    with pytest.raises(UnprocessableMedia, match=reason):
        process_upload(social_db, media_id, media_root)

    assert_failed(social_db, media_id, None, reason)


def test_unknown_media_id(social_db, media_root):
    with pytest.raises(MediaNotFound, match="no media upload with id 987654321"):
        process_upload(social_db, 987654321, media_root)


def test_an_upload_locked_by_another_run_is_left_alone(social_db, media_root, upload):
    media_id = upload(plain_jpeg((100, 100)), "busy.jpg")
    with psycopg.connect(social_db, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('social.media_uploads:' || %s::bigint, 0))",
                      (media_id,))
        with pytest.raises(MediaBusy):
            process_upload(social_db, media_id, media_root)
    assert upload_row(social_db, media_id)["status"] == "pending"
    process_upload(social_db, media_id, media_root)  # the lock went with the other session
    assert upload_row(social_db, media_id)["status"] == "ready"


def test_infrastructure_errors_propagate_without_marking_the_upload(social_db, media_root, upload):
    media_id = upload(plain_jpeg((100, 100)), "infra.jpg")
    with pytest.raises(FileNotFoundError, match="media root"):
        process_upload(social_db, media_id, media_root / "not-mounted")
    with pytest.raises(psycopg.OperationalError):
        process_upload("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2", media_id, media_root)
    assert upload_row(social_db, media_id)["status"] == "pending"


def test_settings_reject_bad_configuration():
    assert MediaSettings(widths=[640, 320]).widths == (640, 320)  # a JSON list from the variable
    for widths in ((320, 0), 640, [], [True]):
        with pytest.raises(ValueError, match="widths"):
            MediaSettings(widths=widths)
    with pytest.raises(ValueError, match="thumbnail"):
        MediaSettings(thumbnail_size="256")
