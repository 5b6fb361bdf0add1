"""A moto S3 server on loopback for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.uploads.helpers import MotoS3, moto_server


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    with moto_server() as server:
        yield server
