"""The real type of a file comes from its bytes, never from its name or declared type."""

from __future__ import annotations

import pytest

from peal.storage.media import (
    content_type_of_key,
    detect_content_type,
    normalize_content_type,
    same_format,
)
from tests.uploads.helpers import demo_mp4, demo_webm, jpeg_with_gps, png_bytes


def _ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"\x00" * 64


def _ebml(doctype: bytes) -> bytes:
    # EBML header: ID 1A45DFA3, size, then DocType element (ID 4282, size, value).
    body = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
        (b"GIF87a" + b"\x00" * 20, "image/gif"),
        (b"GIF89a" + b"\x00" * 20, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
        (_ftyp(b"isom"), "video/mp4"),
        (_ftyp(b"mp42"), "video/mp4"),
        (_ftyp(b"avc1"), "video/mp4"),
        (_ftyp(b"qt  "), "video/quicktime"),
        (b"\x00\x00\x00\x08wide" + b"\x00" * 20, "video/quicktime"),
        (_ebml(b"webm"), "video/webm"),
        # Look-alikes that are not what PEAL accepts:
        (_ftyp(b"heic"), None),
        (_ftyp(b"avif"), None),
        (_ebml(b"matroska"), None),
        (b"RIFF\x10\x00\x00\x00AVI LIST", None),
        (b"<html><body>hi</body></html>", None),
        (b"%PDF-1.7\n", None),
        (b"", None),
    ],
)
def test_detection_from_magic_bytes(head: bytes, expected: str | None) -> None:
    assert detect_content_type(head) == expected


def test_real_files_are_recognised() -> None:
    assert detect_content_type(demo_mp4()[:4096]) == "video/mp4"
    assert detect_content_type(demo_webm()[:4096]) == "video/webm"
    assert detect_content_type(jpeg_with_gps()) == "image/jpeg"
    assert detect_content_type(png_bytes()) == "image/png"


def test_declared_and_detected_types_must_be_of_one_family() -> None:
    assert same_format("image/png", "image/jpeg")  # re-encoded as the declared type
    assert same_format("video/mp4", "video/quicktime")
    assert same_format("video/quicktime", "video/mp4")
    assert not same_format("video/mp4", "image/png")
    assert not same_format("image/jpeg", "video/mp4")
    assert not same_format("video/webm", "video/mp4")
    assert not same_format("video/mp4", "video/webm")
    assert not same_format("application/pdf", "image/png")


def test_type_names_and_keys() -> None:
    assert normalize_content_type(" Image/JPG ; charset=binary") == "image/jpeg"
    assert normalize_content_type("video/x-m4v") == "video/mp4"
    assert content_type_of_key("u/x/y.webm") == "video/webm"
    assert content_type_of_key("u/x/y.html") == "application/octet-stream"
