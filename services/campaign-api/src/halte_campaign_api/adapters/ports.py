"""The other services campaign-api calls synchronously: suppression and dispatcher, as ports.

The HTTP clients below are the production adapters; tests of campaign-api alone pass
in-process implementations of the same protocols to ``bootstrap`` (the real cross-service
path is covered end to end). Every call authenticates with the operator token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import structlog

from halte_shared.events import DispatchRequested

log = structlog.get_logger("halte.campaign_api.ports")

#: The suppression service answers for at most this many numbers a call.
SUPPRESSION_CHECK_MAX = 10_000


class ServiceUnavailable(Exception):
    """Another service could not be reached or did not answer sensibly; the message says which."""


@dataclass(frozen=True, slots=True)
class DispatchAnswer:
    """The dispatcher's decision for one unit send."""

    request_id: str
    decision: str
    reason: str
    next_window_start: datetime | None = None


class SuppressionPort(Protocol):
    async def check(self, *, account_id: str, phones: list[str]) -> set[str]:
        """Return which of the numbers (at most 10,000) are on the account's suppression list."""
        ...

    async def record_optout(self, *, account_id: str, phone: str, channel: str) -> dict[str, Any]:
        """Ask the suppression service to record an opt-out the client received elsewhere."""
        ...


class DispatcherPort(Protocol):
    async def dispatch(self, request: DispatchRequested) -> DispatchAnswer:
        """Have the dispatcher decide (and carry out) one unit send now."""
        ...


class _HttpService:
    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: float,
        name: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._name = name
        # ``transport``: another way to reach the same HTTP API (an app in the same process).
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {token or ''}"},
            transport=transport,
        )

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the {self._name} service could not be reached: {exc!r}") from exc
        if response.status_code >= 300:
            raise ServiceUnavailable(
                f"the {self._name} service answered {response.status_code} to {path}: {response.text[:300]}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"the {self._name} service answered {path} with no JSON") from exc
        if not isinstance(data, dict):
            raise ServiceUnavailable(f"the {self._name} service answered {path} with unexpected JSON")
        return data

    async def aclose(self) -> None:
        await self._client.aclose()


class HttpSuppression(_HttpService):
    """The suppression service over HTTP."""

    def __init__(
        self, *, base_url: str, token: str | None, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(base_url=base_url, token=token, timeout=timeout, name="suppression", transport=transport)

    async def check(self, *, account_id: str, phones: list[str]) -> set[str]:
        if len(phones) > SUPPRESSION_CHECK_MAX:
            raise ValueError(f"at most {SUPPRESSION_CHECK_MAX} numbers a call")
        data = await self._post("/v1/suppressions/check", {"account_id": account_id, "phones": phones})
        suppressed = data.get("suppressed")
        if not isinstance(suppressed, list):
            raise ServiceUnavailable("the suppression service's answer has no 'suppressed' list")
        return {str(p) for p in suppressed}

    async def record_optout(self, *, account_id: str, phone: str, channel: str) -> dict[str, Any]:
        return await self._post("/v1/optouts", {"account_id": account_id, "phone": phone, "channel": channel})


class HttpDispatcher(_HttpService):
    """The dispatcher service over HTTP."""

    def __init__(self, *, base_url: str, token: str | None, timeout: float) -> None:
        super().__init__(base_url=base_url, token=token, timeout=timeout, name="dispatcher")

    async def dispatch(self, request: DispatchRequested) -> DispatchAnswer:
        data = await self._post("/v1/dispatch", request.model_dump(mode="json"))
        decision = data.get("decision")
        if decision not in ("send", "hold", "refuse"):
            raise ServiceUnavailable(f"the dispatcher answered an unknown decision {decision!r}")
        next_start = data.get("next_window_start")
        try:
            next_window = datetime.fromisoformat(next_start) if isinstance(next_start, str) else None
        except ValueError as exc:
            raise ServiceUnavailable(f"the dispatcher answered a malformed next_window_start {next_start!r}") from exc
        return DispatchAnswer(
            request_id=str(data.get("request_id") or request.request_id),
            decision=decision,
            reason=str(data.get("reason") or ""),
            next_window_start=next_window,
        )


def chunks(items: Iterable[str], size: int) -> Iterable[list[str]]:
    """Yield lists of at most ``size`` items."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
