"""Where an email goes: `.eml` files for development, or any SMTP relay in production."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio
import structlog

from peal.config import Settings

log = structlog.get_logger("peal.email")


def mask_address(address: str) -> str:
    """`a***@example.com`: enough to follow a delivery in the logs, not a list of addresses."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class FileEmailSender:
    """Writes each message as an `.eml` file (open it in any mail client) and logs it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        path = self.directory / f"{uuid.uuid4().hex}.eml"
        data = message.as_bytes()

        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written file

        await anyio.to_thread.run_sync(write)
        log.info("email_written", to=message["To"], subject=message["Subject"], path=str(path))


class SmtpEmailSender:
    """Hands the message to an SMTP relay; any failure raises (the email job retries)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            # Transactional email providers take their API key as the SMTP password.
            password=s.smtp_password or s.email_api_key or None,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout,
        )
        log.info(
            "email_sent",
            to=mask_address(str(message["To"])),
            message_id=message["Message-ID"],
            relay=f"{s.smtp_host}:{s.smtp_port}",
        )


def create_sender(settings: Settings) -> EmailSender:
    if settings.email_backend == "smtp":
        return SmtpEmailSender(settings)
    return FileEmailSender(settings.email_file_path)
