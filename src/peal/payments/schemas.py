"""Bodies of the payment routes that are not donations themselves."""

from __future__ import annotations

from pydantic import Field

from peal.core.schemas import CamelModel


class WebhookAck(CamelModel):
    """What the provider gets back: 2xx means "stored, do not send it again"."""

    received: bool = Field(examples=[True])
    duplicate: bool = Field(default=False, examples=[False])
