"""Reading videos with PyAV (FFmpeg): duration and a thumbnail frame; demo clip generation."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import av
import av.error
from PIL import Image

THUMBNAIL_MAX_SIDE = 720
THUMBNAIL_QUALITY = 85
# The thumbnail is taken this far in (or earlier in a short clip): the first frame is often
# black or a fade-in.
THUMBNAIL_AT_SECONDS = 1.0
# Frames decoded at most while looking for the thumbnail, whatever the stream claims.
_MAX_DECODED_FRAMES = 600


class UndecodableVideo(Exception):
    """FFmpeg cannot read a video stream from the file."""


@dataclass(frozen=True)
class VideoProbe:
    duration_seconds: int
    width: int
    height: int
    thumbnail_jpeg: bytes | None


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _jpeg(frame: av.VideoFrame) -> bytes:
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
    image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
    out = BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


def _thumbnail_frame(
    container: av.container.InputContainer, stream: av.VideoStream, at_seconds: float
) -> av.VideoFrame | None:
    """The first frame at or after `at_seconds` (or the last one before the end)."""
    if at_seconds > 0 and stream.time_base is not None:
        try:
            container.seek(int(at_seconds / stream.time_base), stream=stream, backward=True)
        except av.error.FFmpegError:
            container.seek(0)
    chosen: av.VideoFrame | None = None
    for index, frame in enumerate(container.decode(stream)):
        chosen = frame
        if frame.time is not None and frame.time >= at_seconds:
            break
        if index >= _MAX_DECODED_FRAMES:
            break
    return chosen


def probe_video(path: Path, *, with_thumbnail: bool) -> VideoProbe:
    """Duration (whole seconds, rounded up) and, if asked, a JPEG of one frame.

    Blocking (FFmpeg decodes): call it in a worker thread.
    """
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise UndecodableVideo("the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = _duration(container, stream)
            thumbnail = None
            if with_thumbnail or duration <= 0:
                at = min(THUMBNAIL_AT_SECONDS, duration / 3) if duration > 0 else 0.0
                frame = _thumbnail_frame(container, stream, at)
                if frame is None:
                    raise UndecodableVideo("no frame could be decoded")
                thumbnail = _jpeg(frame) if with_thumbnail else None
                if duration <= 0 and frame.time is not None:
                    duration = frame.time
            return VideoProbe(
                duration_seconds=max(1, math.ceil(duration)),
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                thumbnail_jpeg=thumbnail,
            )
    except UndecodableVideo:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise UndecodableVideo(str(exc)) from exc


# The muxer for each stored video extension (the key's extension is the checked type's).
_MUXERS = {"mp4": "mp4", "mov": "mov", "webm": "webm"}


def remux_without_metadata(source: Path, target: Path, extension: str) -> None:
    """Copy the video and audio streams of `source` into `target`, without re-encoding and
    without any metadata: container tags (an ISO 6709 `location`, the camera, titles), per
    stream tags, and data or subtitle tracks (timed GPS) are all left behind.

    Blocking (FFmpeg): call it in a worker thread.
    """
    muxer = _MUXERS.get(extension)
    if muxer is None:
        raise UndecodableVideo(f"no muxer for .{extension}")
    options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
    try:
        with (
            av.open(str(source), mode="r") as original,
            av.open(str(target), mode="w", format=muxer, options=options) as clean,
        ):
            outputs = {
                stream.index: clean.add_stream_from_template(stream)
                for stream in original.streams
                if stream.type in ("video", "audio")
            }
            if not outputs:
                raise UndecodableVideo("the file has no video stream")
            for output in outputs.values():
                output.metadata.clear()
            kept = [original.streams[index] for index in outputs]
            for packet in original.demux(*kept):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = outputs[packet.stream.index]
                clean.mux(packet)
    except UndecodableVideo:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise UndecodableVideo(str(exc)) from exc


def make_demo_clip(
    *,
    seconds: float = 2.0,
    width: int = 180,
    height: int = 320,
    fps: int = 15,
    hue: int = 0,
    container_format: str = "mp4",
) -> bytes:
    """A small real H.264 (or VP9 for WebM) clip of moving colour bands: seeds and tests."""
    codec = "libvpx-vp9" if container_format == "webm" else "libx264"
    # faststart: the index goes first, so a browser can play while it downloads. FFmpeg
    # rewrites the file by name for that, hence a temporary file rather than memory.
    options = {"movflags": "+faststart"} if container_format == "mp4" else {}
    with tempfile.TemporaryDirectory(prefix="peal-clip-") as directory:
        path = Path(directory) / f"clip.{container_format}"
        with av.open(str(path), mode="w", format=container_format, options=options) as container:
            stream = container.add_stream(codec, rate=fps)
            assert isinstance(stream, av.VideoStream)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, fps)
            for index in range(max(1, int(seconds * fps))):
                image = _demo_frame(width, height, hue, index)
                frame: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
                frame.pts = index
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return path.read_bytes()


def _demo_frame(width: int, height: int, hue: int, index: int) -> Image.Image:
    image = Image.new("RGB", (width, height))
    band = max(1, height // 8)
    for row in range(0, height, band):
        shade = (hue + row * 2 + index * 6) % 256
        image.paste(
            (shade, (shade * 3 + 80) % 256, (255 - shade) % 256),
            (0, row, width, min(height, row + band)),
        )
    return image
