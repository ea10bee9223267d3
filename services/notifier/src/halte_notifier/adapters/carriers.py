"""The carriers the notifier sends through: the same router the dispatcher uses (one implementation)."""

from __future__ import annotations

from typing import Protocol

from halte_notifier.config import Settings
from halte_shared.carriers.base import OutboundSms, SubmitResult
from halte_shared.carriers.registry import build_router


class Carriers(Protocol):
    """What the sender needs of the carrier router (halte_shared.carriers): start, submit, close."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, sms: OutboundSms) -> SubmitResult: ...


def default_carriers(settings: Settings) -> Carriers:
    """Build the carrier router from HALTE_CARRIERS / HALTE_CARRIER_ROUTES, as every sender does."""
    return build_router(settings)
