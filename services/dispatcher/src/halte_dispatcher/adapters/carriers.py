"""The carriers the dispatcher submits through: the shared carrier router (halte_shared.carriers)."""

from __future__ import annotations

from typing import Any, Protocol

from halte_dispatcher.config import Settings
from halte_shared.carriers.base import OutboundSms, SubmitResult
from halte_shared.carriers.registry import build_router


class Carriers(Protocol):
    """What the sender loop needs of the carrier router: start, submit (never raises a carrier error), close."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, sms: OutboundSms) -> SubmitResult: ...


def configured_rate(carriers: Any) -> float | None:
    """Return the sum of the carriers' rate limits (messages per second), None when unlimited or unknown."""
    limits = getattr(carriers, "limits", None)
    if not isinstance(limits, dict) or not limits:
        return None
    adapters = getattr(carriers, "adapters", {}) or {}
    if any(name not in limits for name in adapters):
        return None  # a carrier without a limit: the total is unbounded
    return float(sum(getattr(bucket, "rate", 0.0) for bucket in limits.values())) or None


def default_carriers(settings: Settings) -> Carriers:
    """Build the carrier router from the carrier settings, as every sender does."""
    router: Carriers = build_router(settings)
    return router
