"""The sample of an uploaded song that goes to ACRCloud: 10-15 s from the middle of the file,
cut and converted with the ffmpeg binary of the imageio-ffmpeg wheel (no system install).

ACRCloud recommends at most 15 s (10-12 s ideal) and accepts under 5 MB, in most formats. The
sample is mono 16-bit PCM WAV at 8 kHz (what ACRCloud's own SDK resamples recordings to):
12 s is about 190 kB, whatever the upload's format and bit depth. The middle of a song is
taken because intros and outros (silence, applause, fades) identify worst. A file shorter
than the sample is converted whole.

There is no ffprobe in the wheel, so the duration is read from what `ffmpeg -i` prints.
A missing, empty or undecodable file, or one without an audio stream, is `UnreadableAudio`
(permanent, with ffmpeg's reason); a missing upload root is the installation's problem and
raised as FileNotFoundError (retried).
"""

from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from include.common.errors import PermanentError

MIN_SAMPLE_SECONDS, MAX_SAMPLE_SECONDS = 10, 15
DEFAULT_SAMPLE_SECONDS = 12
SAMPLE_RATE = 8000
FFMPEG_TIMEOUT_SECONDS = 120

DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: Audio: ", re.MULTILINE)


class UnreadableAudio(PermanentError):
    """The song's file is missing or is not audio ffmpeg can decode: the song's fault, which a
    retry cannot change (replace the file, then trigger again)."""


@dataclass(frozen=True)
class AudioSample:
    data: bytes  # a WAV file
    start_seconds: float  # where in the song it starts
    seconds: float  # its length
    duration_seconds: float | None  # the whole song's, as ffmpeg reports it
    mime: str = "audio/wav"


REPO = Path(__file__).resolve().parents[2]


def default_upload_root() -> Path:
    """`<state folder>/music`: the repository's `.state/music` unless JOBYARD_STATE moves the
    state folder (as tools/devenv.py does for tests)."""
    return Path(os.environ.get("JOBYARD_STATE", REPO / ".state")) / "music"


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def resolve_audio(upload_root: Path, audio_path: str) -> Path:
    """The real path of a song's file under the upload root. A missing root raises
    FileNotFoundError (retried: an unmounted volume, a wrong variable); a path outside the
    root, a missing or empty file raise UnreadableAudio."""
    if not upload_root.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"the music upload root {upload_root} does not exist "
                                "(variable music_upload_root)")
    root = upload_root.resolve()
    path = (root / audio_path).resolve()
    if not path.is_relative_to(root):
        raise UnreadableAudio(f"audio path {audio_path!r} is outside the upload root")
    if not path.is_file():
        raise UnreadableAudio(f"audio file {audio_path!r} not found under the upload root")
    if path.stat().st_size == 0:
        raise UnreadableAudio(f"audio file {audio_path!r} is empty")
    return path


def _reason(stderr: bytes, fallback: str) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    # ffmpeg ends with "Error opening input files: <why>"; the line before names the cause too.
    useful = [line for line in lines if "At least one output file" not in line]
    return useful[-1][:500] if useful else fallback


def _ffmpeg(args: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UnreadableAudio(f"ffmpeg took longer than {timeout:g} s to {what}") from exc


def probe_duration(path: Path, *, timeout: float = FFMPEG_TIMEOUT_SECONDS) -> float | None:
    """The duration in seconds (None when ffmpeg cannot tell, e.g. a raw stream); raises
    UnreadableAudio for a file ffmpeg cannot open or that has no audio stream."""
    # `ffmpeg -i` alone exits 1 ("At least one output file must be specified"): read stderr.
    done = _ffmpeg(["-i", str(path)], "read the file", timeout)
    output = done.stderr.decode(errors="replace")
    if "Input #0" not in output:
        raise UnreadableAudio(f"not a readable audio file: {_reason(done.stderr, 'ffmpeg printed nothing')}")
    if not AUDIO_STREAM.search(output):
        raise UnreadableAudio("the file has no audio stream")
    found = DURATION.search(output)
    if not found:
        return None
    return int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))


def sample_window(duration: float | None, seconds: float) -> tuple[float, float]:
    """(start, length) of the sample: `seconds` centred in the song, the whole song when it
    is shorter, the first `seconds` when the duration is unknown."""
    if duration is None:
        return 0.0, float(seconds)
    if duration <= seconds:
        return 0.0, duration
    return round((duration - seconds) / 2, 3), float(seconds)


def cut_sample(path: Path, seconds: int = DEFAULT_SAMPLE_SECONDS, *,
               timeout: float = FFMPEG_TIMEOUT_SECONDS) -> AudioSample:
    """A mono 16-bit 8 kHz WAV of `seconds` (10..15) from the middle of the file at `path`."""
    if isinstance(seconds, bool) or not MIN_SAMPLE_SECONDS <= seconds <= MAX_SAMPLE_SECONDS:
        raise ValueError(f"sample length must be {MIN_SAMPLE_SECONDS}..{MAX_SAMPLE_SECONDS} s, got {seconds!r}")
    if not path.is_file():
        raise UnreadableAudio(f"audio file {path} not found")
    duration = probe_duration(path, timeout=timeout)
    start, length = sample_window(duration, seconds)
    window = (["-ss", f"{start:.3f}"] if start else []) + ["-t", f"{length:.3f}"]
    # To a file, not a pipe: ffmpeg fills in the WAV header's sizes only on a seekable output.
    with tempfile.TemporaryDirectory(prefix="jobyard-sample-") as tmp:
        out = Path(tmp) / "sample.wav"
        done = _ffmpeg(["-v", "error", *window, "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
                        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                        "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav", str(out)],
                       "cut the sample", timeout)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            if "No space left on device" in message:  # the worker's fault, not the file's: retried
                raise OSError(errno.ENOSPC, f"cutting the sample: {message[-500:]}")
            raise UnreadableAudio(f"ffmpeg could not decode the audio: "
                                  f"{_reason(done.stderr, f'exit code {done.returncode}')}")
        data = out.read_bytes()
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (wave.Error, EOFError) as exc:
        raise UnreadableAudio(f"ffmpeg wrote no readable sample: {exc}") from exc
    if frames == 0:
        raise UnreadableAudio("ffmpeg decoded no audio from the file")
    return AudioSample(data=data, start_seconds=start, seconds=round(frames / rate, 3), duration_seconds=duration)
