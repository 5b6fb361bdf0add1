"""A video's container metadata (a phone's ISO 6709 location, its model) never reaches
viewers: what is published is a copy remuxed without it, on the local backend and on S3."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from peal.config import Settings
from tests.uploads.helpers import MotoS3, publish, read_url, uploaded_url

LOCATION = "+48.8584+002.2945/"


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, settings: Settings, moto_s3: MotoS3) -> Settings:
    if request.param == "s3":
        return moto_s3.settings(settings)
    return settings


def _clip_with_location() -> bytes:
    """A one-second H.264 MP4 that says where it was filmed and with what, as phones do."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "located.mp4"
        with av.open(str(path), mode="w", format="mp4") as container:
            container.metadata["location"] = LOCATION
            container.metadata["model"] = "SecretPhone 12"
            container.metadata["title"] = "at home"
            stream = container.add_stream("libx264", rate=10)
            assert isinstance(stream, av.VideoStream)
            stream.width = stream.height = 64
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 10)
            stream.metadata["handler_name"] = "SecretPhone camera"
            for index in range(10):
                image = Image.new("RGB", (64, 64), (index * 20, 40, 90))
                frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
                frame.pts = index
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return path.read_bytes()


def _metadata(data: bytes) -> tuple[dict[str, str], list[dict[str, str]], int]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "video.mp4"
        path.write_bytes(data)
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
            return (
                dict(container.metadata),
                [dict(stream.metadata) for stream in container.streams],
                frames,
            )


async def test_location_metadata_is_gone_from_the_published_video(
    client: httpx.AsyncClient, woman: Any
) -> None:
    original = _clip_with_location()
    tags, _streams, _frames = _metadata(original)
    assert tags["location"] == LOCATION  # the test clip really carries it
    url = await uploaded_url(client, woman, original, "video/mp4")
    created = await publish(client, woman, videoUrl=url)
    video = (await client.get(f"/api/videos/{created['id']}")).json()["video"]
    assert video["status"] == "ready"
    served = await read_url(client, video["videoUrl"])
    assert served.status_code == 200
    tags, streams, frames = _metadata(served.content)
    assert not {"location", "location-eng", "model", "title"} & tags.keys()
    assert all("SecretPhone" not in value for stream in streams for value in stream.values())
    assert b"SecretPhone" not in served.content and b"at home" not in served.content
    assert frames == 10  # the pictures are all there
    assert (await read_url(client, url)).status_code in (403, 404)  # the original is gone
