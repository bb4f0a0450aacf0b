"""Test songs whose sample the sandbox's ACRCloud matches, or answers "no result" to.

The stand-in decides by the SHA-512 of the sample bytes (sandbox/apis/acrcloud.py): below
KNOWN_FRACTION of the hash space a catalogue song, above it 1001. The sample is what
`cut_sample` makes of the file, so each helper tries tone chords until the cut sample falls
on the wanted side; ffmpeg's output is deterministic (bitexact), so the answer is too.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import psycopg

from include.demo.music_songs import insert_song, write_tone
from include.music.audio_sample import DEFAULT_SAMPLE_SECONDS, cut_sample
from sandbox.apis.acrcloud import KNOWN_FRACTION


def sandbox_matches(sample: bytes) -> bool:
    return int.from_bytes(hashlib.sha512(sample).digest()[:4], "big") / 2**32 < KNOWN_FRACTION


def write_song_file(upload_root: Path, *, matched: bool, seconds: float = 30.0,
                    sample_seconds: int = DEFAULT_SAMPLE_SECONDS) -> str:
    """A tone file under `upload_root` whose sample the stand-in matches (or not); returns
    its path relative to the root."""
    for base in range(200, 2000, 7):
        name = f"{uuid.uuid4().hex[:8]}/tone_{base}.wav"
        path = write_tone(upload_root, name, seconds, frequencies=(base, base * 5 // 4, base * 3 // 2))
        if sandbox_matches(cut_sample(path, sample_seconds).data) == matched:
            return name
        path.unlink()
    raise AssertionError(f"no tone found whose sample the sandbox {'matches' if matched else 'does not match'}")


def add_song(conn: psycopg.Connection, upload_root: Path, *, matched: bool = True, audio_path: str | None = None,
             title: str = "My upload") -> dict:
    """A committed song row (and its file unless `audio_path` is given) of a new uploader."""
    tag = uuid.uuid4().hex[:10]
    path = audio_path if audio_path is not None else write_song_file(upload_root, matched=matched)
    song = {"uploader_email": f"uploader_{tag}@music.test", "uploader_name": "Uma Uploader", "title": title,
            "audio_path": path}
    song["id"] = insert_song(conn, path, title=title, uploader_id=abs(hash(tag)) % 10**9,
                             uploader_email=song["uploader_email"], uploader_name=song["uploader_name"])
    conn.commit()
    return song
