"""Image re-encoding without metadata (EXIF, GPS, XMP, comments), orientation applied."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

# Bounds against decompression bombs: a 10 MB file can still claim a gigapixel canvas.
MAX_PIXELS = 50_000_000
MAX_FRAMES = 500
MAX_ANIMATION_PIXELS = 200_000_000

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})


class ImageRejected(Exception):
    """The bytes are not an image Pillow can decode safely."""


def _for_format(frame: Image.Image, fmt: str) -> Image.Image:
    """The frame in a mode the target format can store."""
    if fmt == "JPEG" and frame.mode not in ("RGB", "L", "CMYK"):
        return frame.convert("RGB")
    if fmt == "WEBP" and frame.mode not in ("RGB", "RGBA"):
        return frame.convert("RGBA" if "A" in frame.getbands() or frame.mode == "P" else "RGB")
    if fmt == "GIF" and frame.mode not in ("P", "L"):
        return frame.convert("RGBA").convert("P", palette=Image.Palette.ADAPTIVE)
    return frame


def _clean(frame: Image.Image, fmt: str, icc_profile: bytes | None) -> Image.Image:
    """A copy of the pixels with no metadata except what rendering needs."""
    clean = _for_format(frame, fmt).copy()
    kept: dict[str | tuple[int, int], Any] = {}
    if "transparency" in frame.info and clean.mode in ("P", "L", "RGB"):
        kept["transparency"] = frame.info["transparency"]
    if icc_profile:
        kept["icc_profile"] = icc_profile
    clean.info = kept
    return clean


def _save_options(fmt: str) -> dict[str, Any]:
    if fmt == "JPEG":
        return {"quality": 90, "optimize": True}
    if fmt == "WEBP":
        return {"quality": 90}
    return {"optimize": True} if fmt == "PNG" else {}


def sanitize_image(data: bytes, content_type: str) -> bytes:
    """Decode `data` and encode it again as `content_type`, keeping only pixels.

    Orientation from EXIF is applied to the pixels first, so the photo still stands the right
    way up once the EXIF block (and its GPS position) is gone. Runs in a worker thread.
    """
    fmt = _FORMATS[content_type]
    try:
        with Image.open(BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageRejected("the image has too many pixels")
            icc = image.info.get("icc_profile")
            icc_profile = icc if isinstance(icc, bytes) else None
            frames_count = int(getattr(image, "n_frames", 1))
            out = BytesIO()
            if frames_count > 1 and fmt in _ANIMATED_FORMATS:
                if (
                    frames_count > MAX_FRAMES
                    or frames_count * image.width * image.height > MAX_ANIMATION_PIXELS
                ):
                    raise ImageRejected("the animation is too large")
                frames: list[Image.Image] = []
                durations: list[int] = []
                for frame in ImageSequence.Iterator(image):
                    durations.append(int(frame.info.get("duration", 100)))
                    frames.append(_clean(frame.convert("RGBA"), fmt, icc_profile))
                frames[0].save(
                    out,
                    format=fmt,
                    save_all=True,
                    append_images=frames[1:],
                    duration=durations,
                    loop=int(image.info.get("loop", 0)),
                    **_save_options(fmt),
                )
            else:
                upright = ImageOps.exif_transpose(image) or image
                _clean(upright, fmt, icc_profile).save(out, format=fmt, **_save_options(fmt))
            return out.getvalue()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow's messages name internals (`<_io.BytesIO object at 0x...>`): say it plainly.
        raise ImageRejected("the file is damaged or not an image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("the image has too many pixels") from exc
