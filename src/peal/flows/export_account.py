"""A person's data export (GDPR): every domain's `export_user`, then one ZIP with a JSON file
per domain, a README in her language and the files she uploaded.

Nothing of anyone else beyond what she could already see: each domain shows other people by
id and name only, and only those visible to her. Called by the `safety.build_export` job.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth import service as auth
from peal.events import service as events
from peal.funding import service as funding
from peal.goals import service as goals
from peal.mentors import service as mentors
from peal.messaging import service as messaging
from peal.moderation import service as moderation
from peal.notifications import service as notifications
from peal.settings import service as settings
from peal.storage.base import Storage
from peal.stories import service as stories
from peal.uploads import service as uploads
from peal.users import service as users
from peal.videos import service as videos


async def export_account(session: AsyncSession, user_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Each domain's part, by the name of its file in the ZIP."""
    return {
        "profile": await users.export_user(session, user_id),
        "settings": await settings.export_user(session, user_id),
        "sessions": await auth.export_user(session, user_id),
        "videos": await videos.export_user(session, user_id),
        "funding": await funding.export_user(session, user_id),
        "stories": await stories.export_user(session, user_id),
        "goals": await goals.export_user(session, user_id),
        "events": await events.export_user(session, user_id),
        "mentoring": await mentors.export_user(session, user_id),
        "messages": await messaging.export_user(session, user_id),
        "notifications": await notifications.export_user(session, user_id),
        "reports": await moderation.export_user(session, user_id),
        "uploads": await uploads.export_user(session, user_id),
    }


README = {
    "en": (
        "Your PEAL data\n\nEach .json file holds one part of your account: {parts}.\n"
        "The files/ folder holds the photos and videos you uploaded.\n"
        "Other people appear by id and name only.\n"
    ),
    "es": (
        "Tus datos de PEAL\n\nCada archivo .json contiene una parte de tu cuenta: {parts}.\n"
        "La carpeta files/ contiene las fotos y los vídeos que subiste.\n"
        "Las demás personas aparecen solo con su id y su nombre.\n"
    ),
    "fr": (
        "Vos données PEAL\n\nChaque fichier .json contient une partie de votre compte : {parts}.\n"
        "Le dossier files/ contient les photos et vidéos que vous avez envoyées.\n"
        "Les autres personnes n'apparaissent que par leur id et leur nom.\n"
    ),
    "pt": (
        "Os seus dados da PEAL\n\nCada ficheiro .json contém uma parte da sua conta: {parts}.\n"
        "A pasta files/ contém as fotos e os vídeos que carregou.\n"
        "As outras pessoas aparecem apenas pelo id e pelo nome.\n"
    ),
    "ar": (
        "بياناتك في PEAL\n\nيحتوي كل ملف .json على جزء من حسابك: {parts}.\n"
        "يحتوي المجلد files/ على الصور ومقاطع الفيديو التي رفعتِها.\n"
        "يظهر الأشخاص الآخرون بالمعرّف والاسم فقط.\n"
    ),
}


def readme(language: str, parts: list[str]) -> str:
    return README.get(language, README["en"]).format(parts=", ".join(parts))


async def write_archive(
    target: Path,
    data: dict[str, dict[str, Any]],
    language: str,
    storage: Storage,
    file_keys: list[str],
) -> None:
    """Write the ZIP at `target`: the JSON files, the README and her files (each copied from
    storage in turn; zipping runs in a thread, off the event loop)."""
    archive = await anyio.to_thread.run_sync(
        lambda: zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED)
    )
    try:
        for name, part in data.items():
            text = json.dumps(part, ensure_ascii=False, indent=2)
            await anyio.to_thread.run_sync(archive.writestr, f"{name}.json", text)
        await anyio.to_thread.run_sync(archive.writestr, "README.txt", readme(language, [*data]))
        for key in file_keys:
            try:
                async with storage.local_copy(key) as path:
                    arcname = "files/" + key.rsplit("/", 1)[-1]
                    await anyio.to_thread.run_sync(archive.write, path, arcname)
            except FileNotFoundError:
                continue  # a row whose file is already gone: nothing to copy
    finally:
        await anyio.to_thread.run_sync(archive.close)
