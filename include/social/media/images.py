"""Image variants with Pillow: upright (EXIF orientation applied), sRGB, no metadata.

Every variant is encoded from a pixels-only copy of the decoded image, so nothing of the
original's EXIF (GPS position, camera serial), XMP or ICC profile can reach a variant
whatever a Pillow encoder would copy from `Image.info` by default.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from include.social.media.errors import UnprocessableMedia
from include.social.media.model import MediaSettings, Rendered, Variant

log = logging.getLogger(__name__)

# The decoders tried (the JPEG one also opens MPO, multi-picture JPEG).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
RESAMPLE = Image.Resampling.LANCZOS


def decode(data: bytes) -> Image.Image:
    """The image as displayed (orientation applied), in sRGB, mode RGB or RGBA, with no
    metadata. `UnprocessableMedia` when Pillow cannot decode it."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as err:
        raise UnprocessableMedia(f"image too large to process: {err}") from err
    except UnidentifiedImageError as err:
        raise UnprocessableMedia("unsupported image format (Pillow cannot identify it)") from err
    # Reading from memory, so an OSError here is the decoder's (truncated or broken data).
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UnprocessableMedia(f"corrupt image: {err}") from err
    has_alpha = upright.mode in ALPHA_MODES or "transparency" in upright.info
    rgb = _to_srgb(upright, "RGBA" if has_alpha else "RGB")
    return Image.frombytes(rgb.mode, rgb.size, rgb.tobytes())  # pixels only: info, EXIF, XMP, ICC dropped


def _to_srgb(img: Image.Image, mode: str) -> Image.Image:
    """Convert through the embedded ICC profile, since the variants carry none (a Display P3
    photo would otherwise look washed out); an unusable profile is dropped with a warning."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            img = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=mode)
        except (ImageCms.PyCMSError, OSError) as err:
            log.warning("ignoring the image's unusable ICC profile: %s", err)
    return img if img.mode == mode else img.convert(mode)


def _flatten(img: Image.Image) -> Image.Image:
    """JPEG has no alpha: transparent areas become white."""
    if img.mode != "RGBA":
        return img
    background = Image.new("RGB", img.size, "white")
    background.paste(img, mask=img.getchannel("A"))
    return background


def save_jpeg(img: Image.Image, out_dir: Path, name: str, settings: MediaSettings) -> Variant:
    path = out_dir / name
    _flatten(img).save(path, "JPEG", quality=settings.jpeg_quality, progressive=True, optimize=True)
    return Variant(name, "jpeg", img.width, img.height, path.stat().st_size)


def save_webp(img: Image.Image, out_dir: Path, name: str, settings: MediaSettings) -> Variant:
    path = out_dir / name
    img.save(path, "WEBP", quality=settings.webp_quality)
    return Variant(name, "webp", img.width, img.height, path.stat().st_size)


def target_widths(original_width: int, widths: tuple[int, ...]) -> list[int]:
    """The configured widths that are not upscales; an image narrower than all of them
    keeps one rendition at its own width, so every image has something to display."""
    return sorted({w for w in widths if w <= original_width}) or [original_width]


def square_thumbnail(img: Image.Image, out_dir: Path, settings: MediaSettings) -> Variant:
    """Center-cropped square, no larger than the image's short side."""
    side = min(settings.thumbnail_size, img.width, img.height)
    return save_jpeg(ImageOps.fit(img, (side, side), method=RESAMPLE), out_dir, "thumb.jpg", settings)


def render_image(data: bytes, out_dir: Path, settings: MediaSettings) -> Rendered:
    img = decode(data)
    variants = []
    for width in target_widths(img.width, settings.widths):
        height = max(1, round(img.height * width / img.width))
        resized = img if width == img.width else img.resize((width, height), RESAMPLE, reducing_gap=3.0)
        variants.append(save_jpeg(resized, out_dir, f"w{width}.jpg", settings))
        variants.append(save_webp(resized, out_dir, f"w{width}.webp", settings))
    variants.append(square_thumbnail(img, out_dir, settings))
    return Rendered("image", img.width, img.height, tuple(variants))
