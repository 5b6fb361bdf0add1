"""The data export job: gather, zip, store, tell the person. Idempotent (only a pending export
is built), and no database connection is held while the ZIP is written."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import structlog

from peal.db import commit
from peal.email.service import queue_email
from peal.flows.export_account import export_account, write_archive
from peal.jobs import broker, runtime
from peal.settings.service import get_settings_for
from peal.storage.base import export_key
from peal.storage.service import storage_for
from peal.uploads.service import files_of
from peal.users import exports
from peal.users.models import User

log = structlog.get_logger("peal.safety")


@broker.task(task_name="safety.build_export")
async def build_export(export_id: str) -> None:
    rt = runtime()
    storage = storage_for(rt.settings)
    ident = uuid.UUID(export_id)
    async with rt.db.sessionmaker() as session:
        export = await exports.claim_pending(session, ident)
        if export is None:
            return
        user_id = export.user_id
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            await exports.mark_failed(session, ident)
            await commit(session)
            return
        data = await export_account(session, user_id)
        keys = await files_of(session, user_id)
        language = (await get_settings_for(session, user_id)).language
        email, name = user.email, user.name
    try:
        with tempfile.TemporaryDirectory(prefix="peal-export-") as directory:
            archive = Path(directory) / "export.zip"
            await write_archive(archive, data, language, storage, keys)
            key = export_key(user_id)
            await storage.write_file(key, archive, "application/zip")
    except Exception:
        log.exception("data_export_failed", export_id=export_id)
        async with rt.db.sessionmaker() as session:
            await exports.mark_failed(session, ident)
            await commit(session)
        return
    async with rt.db.sessionmaker() as session:
        ready = await exports.mark_ready(session, ident, key)
        link = exports.download_link(rt.settings.public_url, rt.settings.jwt_secret, ready)
        assert link is not None and ready.expires_at is not None
        queue_email(
            session,
            to=email,
            template="data_export",
            language=language,
            context={
                "name": name,
                "link": link,
                "expires_at": ready.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            },
        )
        await commit(session)
    log.info("data_export_ready", export_id=export_id)
