"""What kind of media a file is, from its first bytes (never its name or declared type).

The signatures decide the kind; the decoder (Pillow or ffmpeg) then decides whether the
file is sound. Anything else is refused before a decoder sees it, so a text file or random
bytes cannot be half-recognised by one of ffmpeg's many lenient demuxers.
"""

from __future__ import annotations

from pathlib import Path

from include.social.media.errors import UnprocessableMedia

HEAD_BYTES = 64

IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF, little endian
    (0, b"MM\x00*"),  # TIFF, big endian
)
VIDEO_SIGNATURES = (
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"FLV\x01"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMV
    (0, b"OggS"),  # Ogg: may hold audio only, which the probe then refuses
)
# ISO base media (MP4, MOV, 3GP, HEIF, AVIF): `ftyp` at offset 4, then the major brand.
IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}


def _riff_kind(head: bytes) -> str | None:
    if head[:4] != b"RIFF":
        return None
    return {b"WEBP": "image", b"AVI ": "video"}.get(head[8:12])


def _iso_bmff_kind(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    return "image" if head[8:12] in IMAGE_BRANDS else "video"


def _mpeg_ts(head: bytes, path: Path) -> bool:
    """Transport stream: a 0x47 sync byte every 188 bytes."""
    if head[:1] != b"\x47":
        return False
    with path.open("rb") as f:
        packets = f.read(188 * 3 + 1)
    return len(packets) > 188 * 2 and packets[188] == 0x47 and packets[376] == 0x47


def detect_kind(path: Path) -> str:
    """'image' or 'video'; `UnprocessableMedia` for anything else."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        raise UnprocessableMedia("the file is empty")
    for kind in (_riff_kind(head), _iso_bmff_kind(head)):
        if kind:
            return kind
    if any(head[offset:offset + len(magic)] == magic for offset, magic in IMAGE_SIGNATURES):
        return "image"
    if any(head[offset:offset + len(magic)] == magic for offset, magic in VIDEO_SIGNATURES) or _mpeg_ts(head, path):
        return "video"
    raise UnprocessableMedia(f"unsupported file type (not a known image or video format; starts with {head[:8]!r})")
