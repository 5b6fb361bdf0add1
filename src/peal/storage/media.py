"""The file types PEAL accepts, their extensions, and detection of the real type from bytes."""

from __future__ import annotations

from typing import Literal

MediaKind = Literal["image", "video"]

IMAGE_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
VIDEO_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
EXTENSION_TYPES = {ext: ct for ct, ext in (IMAGE_EXTENSIONS | VIDEO_EXTENSIONS).items()}

# Names browsers and phones send for the same formats.
CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "video/x-m4v": "video/mp4",
    "video/mov": "video/quicktime",
}

# Enough for every signature below, including a WebM EBML header with its DocType.
SNIFF_BYTES = 4096

# ISO base media file format brands of MP4 and QuickTime video. HEIF/AVIF images (`heic`,
# `mif1`, `avif`) share the container and are deliberately absent.
_MP4_BRANDS = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"MSNV", b"dash",
        b"f4v ", b"XAVC",
    }
)  # fmt: skip
_QUICKTIME_BRANDS = frozenset({b"qt  "})
# Old QuickTime files start with an atom other than `ftyp`.
_QUICKTIME_FIRST_ATOMS = frozenset({b"moov", b"wide", b"mdat", b"pnot"})


def normalize_content_type(value: str) -> str:
    """`Image/JPG; charset=x` → `image/jpeg`: lower case, no parameters, aliases resolved."""
    base = value.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_ALIASES.get(base, base)


def kind_of(content_type: str) -> MediaKind | None:
    """`image` or `video` for an accepted (normalised) type, None for anything else."""
    if content_type in IMAGE_EXTENSIONS:
        return "image"
    if content_type in VIDEO_EXTENSIONS:
        return "video"
    return None


def extension_of(content_type: str) -> str:
    return (IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)[content_type]


def content_type_of_key(key: str) -> str:
    """The type a stored key is served with, from its (server-chosen) extension."""
    return EXTENSION_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


def _read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, next position), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        return None
    value = first if keep_marker else first & (mask - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _ebml_doctype(data: bytes) -> bytes | None:
    """The DocType (`webm`, `matroska`) of an EBML header, or None if it can't be read."""
    header_size = _read_vint(data, 4, keep_marker=False)
    if header_size is None:
        return None
    size, pos = header_size
    end = min(len(data), pos + size)
    while pos < end:
        element_id = _read_vint(data, pos, keep_marker=True)
        if element_id is None:
            return None
        element_size = _read_vint(data, element_id[1], keep_marker=False)
        if element_size is None:
            return None
        start, length = element_size[1], element_size[0]
        if element_id[0] == 0x4282:
            return data[start : start + length]
        pos = start + length
    return None


def detect_content_type(head: bytes) -> str | None:
    """The real type of a file from its first bytes (`SNIFF_BYTES` is enough), or None.

    Only the formats PEAL accepts are recognised; anything else, including look-alikes
    (HEIF images in an MP4 container, Matroska that is not WebM), answers None.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _QUICKTIME_BRANDS:
            return "video/quicktime"
        if brand in _MP4_BRANDS:
            return "video/mp4"
        return None
    if len(head) >= 8 and head[4:8] in _QUICKTIME_FIRST_ATOMS:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3") and _ebml_doctype(head) == b"webm":
        return "video/webm"
    return None


def same_format(declared: str, detected: str) -> bool:
    """Whether bytes of type `detected` may be stored under the `declared` type.

    Images must agree family-wise (they are re-encoded in the declared format anyway). MP4 and
    QuickTime are one container family, and phones label them loosely; WebM is its own.
    """
    declared_kind, detected_kind = kind_of(declared), kind_of(detected)
    if declared_kind is None or declared_kind != detected_kind:
        return False
    if declared_kind == "image":
        return True
    return (declared == "video/webm") == (detected == "video/webm")
