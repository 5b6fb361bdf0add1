"""Checking that an uploaded video really decodes (PyAV), before it is ever served."""

from __future__ import annotations

from pathlib import Path

import av
import av.error

# Packets read at most while looking for one decodable frame: a real video gives one within
# the first few; a file of garbage is refused without reading it all.
MAX_PACKETS = 2_000


class VideoRejected(Exception):
    """FFmpeg cannot decode a single video frame from the file."""


def check_video_decodes(path: Path) -> None:
    """Raise VideoRejected unless the file has a video stream with a decodable frame.

    A valid `ftyp` header followed by zeros passes a check of the first bytes; it fails here.
    Blocking (FFmpeg): call it in a worker thread.
    """
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise VideoRejected("the file has no video stream")
            stream = container.streams.video[0]
            for index, packet in enumerate(container.demux(stream)):
                if packet.size and packet.decode():
                    return
                if index >= MAX_PACKETS:
                    break
            raise VideoRejected("no video frame could be decoded")
    except VideoRejected:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        # FFmpeg's messages name paths and internals: say it plainly.
        raise VideoRejected("the file is damaged or not a video") from exc
