"""The ACRCloud sample: 10-15 s from the middle of a song, a short song whole, mono 16-bit WAV;
missing, corrupt and silent-of-audio files are UnreadableAudio with ffmpeg's reason."""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import pytest

from include.common.errors import classify
from include.demo.music_songs import write_tone
from include.music.audio_sample import (
    SAMPLE_RATE,
    UnreadableAudio,
    cut_sample,
    ffmpeg_exe,
    probe_duration,
    resolve_audio,
    sample_window,
)


def _wav(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes() / wav.getframerate()


def test_a_30_second_song_gives_12_seconds_from_its_middle(tmp_path):
    song = write_tone(tmp_path, "tone.wav", seconds=30)
    sample = cut_sample(song)
    assert sample.duration_seconds == pytest.approx(30, abs=0.05)
    assert sample.start_seconds == pytest.approx(9, abs=0.05)
    assert sample.seconds == pytest.approx(12, abs=0.01)
    assert _wav(sample.data) == (1, 2, SAMPLE_RATE, pytest.approx(12, abs=0.01))
    assert sample.data[:4] == b"RIFF" and len(sample.data) < 5 * 1024 * 1024


@pytest.mark.parametrize("seconds", [10, 15])
def test_the_length_is_configurable_within_10_to_15(tmp_path, seconds):
    sample = cut_sample(write_tone(tmp_path, "tone.wav", seconds=30), seconds)
    assert 10 <= sample.seconds <= 15 and sample.seconds == pytest.approx(seconds, abs=0.01)
    assert sample.start_seconds == pytest.approx((30 - seconds) / 2, abs=0.05)


@pytest.mark.parametrize("seconds", [9, 16, True])
def test_a_length_outside_10_to_15_is_refused(tmp_path, seconds):
    with pytest.raises(ValueError, match="10..15"):
        cut_sample(write_tone(tmp_path, "tone.wav", seconds=30), seconds)


def test_a_song_shorter_than_the_sample_is_sent_whole(tmp_path):
    sample = cut_sample(write_tone(tmp_path, "short.wav", seconds=4))
    assert sample.start_seconds == 0 and sample.seconds == pytest.approx(4, abs=0.01)


def test_other_formats_are_converted(tmp_path):
    mp3 = tmp_path / "stereo.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=20",
                    "-ac", "2", "-ar", "44100", str(mp3)], check=True)
    sample = cut_sample(mp3)
    assert _wav(sample.data)[:3] == (1, 2, SAMPLE_RATE)
    assert sample.start_seconds == pytest.approx(4, abs=0.1)


def test_the_window_arithmetic():
    assert sample_window(30.0, 12) == (9.0, 12.0)
    assert sample_window(12.0, 12) == (0.0, 12.0)
    assert sample_window(5.5, 12) == (0.0, 5.5)
    assert sample_window(None, 12) == (0.0, 12.0)  # unknown duration: the start


def test_a_corrupt_file_is_unreadable_audio_with_ffmpegs_reason(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(UnreadableAudio, match="Invalid data found when processing input") as caught:
        cut_sample(bad)
    assert classify(caught.value) == "permanent"


def test_a_truncated_wav_is_unreadable(tmp_path):
    song = write_tone(tmp_path, "tone.wav", seconds=5)
    song.write_bytes(song.read_bytes()[:40])  # the header alone, cut short
    with pytest.raises(UnreadableAudio):
        cut_sample(song)


def test_a_file_without_audio_is_unreadable(tmp_path):
    png = tmp_path / "image.png"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1",
                    str(png)], check=True)
    with pytest.raises(UnreadableAudio, match="no audio stream"):
        probe_duration(png)


def test_missing_files_and_paths_outside_the_root(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    with pytest.raises(UnreadableAudio, match="not found"):
        resolve_audio(root, "nope.wav")
    with pytest.raises(UnreadableAudio, match="outside the upload root"):
        resolve_audio(root, "../secret.wav")
    (root / "empty.wav").write_bytes(b"")
    with pytest.raises(UnreadableAudio, match="empty"):
        resolve_audio(root, "empty.wav")
    with pytest.raises(UnreadableAudio, match="not found"):
        cut_sample(root / "nope.wav")
    write_tone(root, "a/b.wav", seconds=1)
    assert resolve_audio(root, "a/b.wav") == (root / "a/b.wav").resolve()


def test_a_missing_upload_root_is_the_installations_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="music_upload_root") as caught:
        resolve_audio(Path(tmp_path / "unmounted"), "song.wav")
    assert classify(caught.value) is None  # not permanent: Airflow's default retries it
