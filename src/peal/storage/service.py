"""The storage service the other domains use: the configured backend, one per settings."""

from __future__ import annotations

from peal.config import Settings
from peal.storage.base import Storage
from peal.storage.local import LocalStorage
from peal.storage.s3 import S3Storage

_instances: dict[tuple[object, ...], Storage] = {}


def _identity(settings: Settings) -> tuple[object, ...]:
    return (
        settings.storage_backend,
        str(settings.storage_local_path),
        settings.storage_bucket,
        settings.storage_region,
        settings.storage_endpoint_url,
        settings.storage_access_key,
        settings.storage_secret_key,
        settings.storage_public_url,
        settings.storage_signing_secret,
        settings.public_url,
        settings.jwt_secret,
    )


def create_storage(settings: Settings) -> Storage:
    """A new backend as STORAGE_BACKEND says: `local` (the default) or `s3`."""
    if settings.storage_backend == "s3":
        return S3Storage(settings)
    return LocalStorage(settings)


def storage_for(settings: Settings) -> Storage:
    """The backend of these settings, made once (jobs and the CLI, which have no app)."""
    identity = _identity(settings)
    storage = _instances.get(identity)
    if storage is None:
        storage = _instances[identity] = create_storage(settings)
    return storage
