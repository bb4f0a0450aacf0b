"""The settings of media processing and what it produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaSettings:
    widths: tuple[int, ...] = (320, 640, 1280)  # image renditions; never upscaled
    thumbnail_size: int = 256  # the square thumbnail's side
    jpeg_quality: int = 82
    webp_quality: int = 80
    video_max_width: int = 1280
    video_crf: int = 28
    video_preset: str = "veryfast"
    poster_at_seconds: float = 1.0  # the first frame for videos not longer than this
    ffmpeg_timeout_seconds: int = 20 * 60  # under the task's 30 min hard limit

    def __post_init__(self) -> None:
        """Checks values that come from Airflow variables (JSON), taking a list for widths."""
        if not isinstance(self.widths, list | tuple) or not self.widths or not all(map(_positive_int, self.widths)):
            raise ValueError(f"image widths must be a non-empty list of positive integers, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(self.widths))
        if not _positive_int(self.thumbnail_size):
            raise ValueError(f"thumbnail size must be a positive integer, got {self.thumbnail_size!r}")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class Variant:
    name: str  # the file name, also the `variant` key: w640.jpg, w640.webp, thumb.jpg, h264.mp4
    format: str  # jpeg, webp, mp4
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True)
class Rendered:
    """A processed original: its displayed size and the variant files written."""

    kind: str  # image, video
    width: int
    height: int
    variants: tuple[Variant, ...]
    duration_seconds: float | None = None
