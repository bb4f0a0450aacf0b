"""Video variants with the ffmpeg binary of the imageio-ffmpeg wheel (no system install):
a poster JPEG (and a square thumbnail) from about one second in, and an H.264/AAC MP4
rendition, with no metadata of the original (location, device, titles).

There is no ffprobe in the wheel, so the probe reads what `ffmpeg -i` prints.
"""

from __future__ import annotations

import errno
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from include.social.media import images
from include.social.media.errors import UnprocessableMedia
from include.social.media.model import MediaSettings, Rendered, Variant

DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$")
# "320x240" but not the hex of a codec tag such as "0x31637661".
DIMENSIONS = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{0,4})x([1-9]\d{0,4})(?![0-9A-Za-z])")
ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)


@dataclass(frozen=True)
class Probe:
    width: int  # as displayed: coded size with the display rotation applied
    height: int
    duration_seconds: float | None
    has_audio: bool


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def parse_probe(output: str) -> Probe:
    """Width, height, duration and audio presence from `ffmpeg -i` output (stderr)."""
    if "Input #0" not in output:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        raise UnprocessableMedia(f"not a readable video: {lines[-1] if lines else 'ffmpeg printed nothing'}")
    video: tuple[int, int] | None = None
    rotation = 0.0
    has_audio = in_video = False
    for line in output.splitlines():
        stream = STREAM.match(line)
        if stream:
            kind, details = stream.groups()
            in_video = False
            if kind == "Audio":
                has_audio = True
            elif video is None and "(attached pic)" not in details and (size := DIMENSIONS.search(details)):
                video, in_video = (int(size.group(1)), int(size.group(2))), True
        elif in_video and (rotated := ROTATION.search(line)):
            rotation = float(rotated.group(1))
        elif line.lstrip().startswith("Stream #"):
            in_video = False
    if video is None:
        raise UnprocessableMedia("no video stream in the file")
    width, height = video
    if round(abs(rotation)) % 180 == 90:
        width, height = height, width
    duration = DURATION.search(output)
    seconds = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
               if duration else None)
    return Probe(width, height, seconds, has_audio)


def _run(cmd: list[str], what: str, settings: MediaSettings) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=settings.ffmpeg_timeout_seconds, check=False)
    except subprocess.TimeoutExpired as err:
        raise UnprocessableMedia(f"{what} took longer than {settings.ffmpeg_timeout_seconds} s") from err
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        if "No space left on device" in message:  # the worker's fault, not the file's: retry
            raise OSError(errno.ENOSPC, f"{what}: {message[-500:]}")
        raise UnprocessableMedia(f"ffmpeg could not {what}: {message[-500:] or f'exit code {done.returncode}'}")
    return done


def probe(path: Path, settings: MediaSettings) -> Probe:
    # `ffmpeg -i` alone exits 1 ("At least one output file must be specified"): read stderr.
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, timeout=settings.ffmpeg_timeout_seconds, check=False)
    return parse_probe(done.stderr.decode(errors="replace"))


def _even_scale(max_width: int) -> str:
    """At most `max_width` wide, never upscaled, even width and height (yuv420p needs them)."""
    return f"scale='trunc(min({max_width},iw)/2)*2':-2"


def _frame_png(src: Path, at_seconds: float, settings: MediaSettings) -> bytes:
    done = _run([ffmpeg_exe(), "-v", "error", "-nostdin", "-ss", f"{at_seconds:.3f}", "-i", str(src),
                 "-map", "0:v:0", "-frames:v", "1", "-map_metadata", "-1",
                 "-vf", f"scale='min({settings.video_max_width},iw)':-1",
                 "-f", "image2pipe", "-c:v", "png", "-"], "extract a poster frame", settings)
    return done.stdout


def _poster(src: Path, found: Probe, out_dir: Path, settings: MediaSettings) -> list[Variant]:
    """poster.jpg at about `poster_at_seconds` (the first frame of shorter videos, or when
    the seek lands past the last frame), plus the square thumb.jpg, both encoded like the
    image variants."""
    at = settings.poster_at_seconds if (found.duration_seconds or 0) > settings.poster_at_seconds else 0.0
    frame = _frame_png(src, at, settings)
    if not frame and at:
        frame = _frame_png(src, 0.0, settings)
    if not frame:
        raise UnprocessableMedia("ffmpeg decoded no video frame")
    img = images.decode(frame)
    return [images.save_jpeg(img, out_dir, "poster.jpg", settings), images.square_thumbnail(img, out_dir, settings)]


def _transcode(src: Path, found: Probe, out_dir: Path, settings: MediaSettings) -> Variant:
    out = out_dir / "h264.mp4"
    audio = ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"] if found.has_audio else ["-an"]
    _run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", str(src),
          "-map", "0:v:0", *audio, "-sn", "-dn",
          "-c:v", "libx264", "-preset", settings.video_preset, "-crf", str(settings.video_crf),
          "-pix_fmt", "yuv420p", "-vf", _even_scale(settings.video_max_width),
          # no global, per-stream or chapter metadata of the original (GPS location, device)
          "-map_metadata", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
          "-movflags", "+faststart", str(out)], "transcode the video to H.264", settings)
    made = probe(out, settings)
    return Variant(out.name, "mp4", made.width, made.height, out.stat().st_size)


def render_video(src: Path, out_dir: Path, settings: MediaSettings) -> Rendered:
    found = probe(src, settings)
    variants = [*_poster(src, found, out_dir, settings), _transcode(src, found, out_dir, settings)]
    return Rendered("video", found.width, found.height, tuple(variants), found.duration_seconds)
