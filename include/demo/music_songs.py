"""Demo uploaded songs for `music_analyze_song`: a generated tone WAV under the upload root and
its `music.songs` row, for the seeder (and the tests) to call.

The audio is a few seconds of a sine chord written with Python's `wave` module (16-bit mono
PCM, 16 kHz), deterministic for its arguments; ffmpeg reads it like any upload. The sandbox's
ACRCloud decides by the sample's hash, and matches the default 20 s tone's sample to a song of
its catalogue (tests/include/music/test_song_analysis.py checks it).
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from pathlib import Path

import psycopg

SAMPLE_RATE = 16_000
CHORD = (440, 550, 660)  # A major, just intonation
DEMO_UPLOADER = {"uploader_id": 1, "uploader_email": "uploader@music.jobyard.local", "uploader_name": "Demo Uploader"}


def tone_wav_bytes(seconds: float = 20.0, frequencies: tuple[int, ...] = CHORD, rate: int = SAMPLE_RATE,
                   amplitude: float = 0.3) -> bytes:
    """A WAV file (bytes) of a sine chord: `seconds` long, 16-bit mono at `rate` Hz. Whole-Hz
    frequencies repeat every second, so one second is computed and repeated."""
    if seconds <= 0 or not frequencies:
        raise ValueError("a tone needs a positive length and at least one frequency")
    if not all(isinstance(f, int) and 0 < f < rate // 2 for f in frequencies):
        raise ValueError(f"frequencies must be whole Hz below {rate // 2}, got {frequencies!r}")
    peak = 32767 * amplitude / len(frequencies)
    second = array("h", (int(sum(peak * math.sin(2 * math.pi * f * i / rate) for f in frequencies))
                         for i in range(rate)))
    frames = int(seconds * rate)
    pcm = (second * (frames // rate + 1))[:frames]
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV is little-endian
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_tone(upload_root: Path, relative_path: str, seconds: float = 20.0,
               frequencies: tuple[int, ...] = CHORD) -> Path:
    """Write a tone WAV at `upload_root/relative_path` (folders created); returns its path."""
    path = upload_root / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tone_wav_bytes(seconds, frequencies))
    return path


def insert_song(conn: psycopg.Connection, audio_path: str, *, title: str = "Demo tone",
                uploader_id: int = DEMO_UPLOADER["uploader_id"],
                uploader_email: str = DEMO_UPLOADER["uploader_email"],
                uploader_name: str = DEMO_UPLOADER["uploader_name"]) -> int:
    """One `music.songs` row (status uploaded) in the caller's transaction; returns its id."""
    return conn.execute(
        """
        INSERT INTO music.songs (uploader_id, uploader_email, uploader_name, title, audio_path)
        VALUES (%s, %s, %s, %s, %s) RETURNING id
        """,
        (uploader_id, uploader_email, uploader_name, title, audio_path)).fetchone()[0]


def seed_demo_song(conn: psycopg.Connection, upload_root: Path, *, name: str = "demo/tone.wav",
                   seconds: float = 20.0, title: str = "Demo tone", **uploader: object) -> int:
    """Write the demo tone under `upload_root` and insert its song; returns the song id."""
    write_tone(upload_root, name, seconds)
    return insert_song(conn, name, title=title, **uploader)
