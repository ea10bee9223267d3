"""The carrier registry at run time: each configured carrier with its secret, and how it authenticates.

JSON carriers sign every webhook (HMAC-SHA256 of "{timestamp}.{raw body}", five-minute
window, see halte_shared.signing); Kannel cannot sign, so its get-url/dlr-url carry a
per-carrier token compared in constant time. A carrier whose secret variable is empty is
kept in the registry but refuses every request: a forgotten secret must not open the door.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import structlog

from halte_inbound.config import CarrierConfig, Settings
from halte_shared.signing import BadSignature, verify_webhook

log = structlog.get_logger("halte.inbound")


class CarrierRefused(Exception):
    """A request a carrier did not authenticate; the message says why (for the 401 body)."""


@dataclass(frozen=True, slots=True)
class Carrier:
    """One carrier, ready to check requests."""

    config: CarrierConfig
    secret: str | None

    @property
    def id(self) -> str:
        return self.config.id

    def check_signature(self, *, timestamp: str | None, signature: str | None, body: bytes, now_unix: float) -> None:
        """Raise CarrierRefused unless the body is signed with this carrier's secret and fresh."""
        if not self.secret:
            raise CarrierRefused(f"carrier {self.id!r} has no secret configured ({self.config.secret_variable})")
        if signature is not None and not signature.isascii():
            # compare_digest raises TypeError on non-ASCII str; a hex signature never is.
            raise CarrierRefused("signature does not match")
        try:
            verify_webhook(secret=self.secret, timestamp=timestamp, signature=signature, body=body, now_unix=now_unix)
        except BadSignature as exc:
            raise CarrierRefused(str(exc)) from exc

    def check_token(self, token: str | None) -> None:
        """Raise CarrierRefused unless the token is this carrier's, compared in constant time."""
        if not self.secret:
            raise CarrierRefused(f"carrier {self.id!r} has no token configured ({self.config.secret_variable})")
        if not token:
            raise CarrierRefused("the token query parameter is missing")
        if not hmac.compare_digest(token.encode(), self.secret.encode()):
            raise CarrierRefused("the token does not match")


class CarrierRegistry:
    """Look carriers up by the id in the webhook URL."""

    def __init__(self, carriers: list[Carrier]) -> None:
        self._by_id = {c.id: c for c in carriers}

    @classmethod
    def from_settings(cls, settings: Settings) -> CarrierRegistry:
        """Build the registry from HALTE_INBOUND_CARRIERS and the secrets it names."""
        carriers = [Carrier(config, settings.carrier_secret(config)) for config in settings.carriers]
        for carrier in carriers:
            if not carrier.secret:
                log.error(
                    "a carrier has no secret configured, so all its webhooks will be refused with 401",
                    carrier=carrier.id,
                    variable=carrier.config.secret_variable,
                )
        return cls(carriers)

    def get(self, carrier_id: str) -> Carrier | None:
        """Return the carrier with this id, or None."""
        return self._by_id.get(carrier_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)
