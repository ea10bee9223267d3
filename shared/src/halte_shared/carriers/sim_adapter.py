"""The adapter for the carrier simulator (carrier ``sim``): JSON over HTTP, idempotent by message id."""

from __future__ import annotations

import httpx
import structlog

from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    OutboundSms,
    SubmitResult,
)

log = structlog.get_logger("halte.carriers.sim")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    try:
        error = response.json()["error"]
        return str(error.get("code")), str(error.get("message"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, response.text[:300]


class SimulatorAdapter(CarrierAdapter):
    """Submit SMS to the carrier simulator's ``POST /v1/messages``.

    The simulator honours our idempotency key, so every failure, even a timeout after the
    request left, is safe to retry: a resubmission is answered with the first id.
    """

    honours_idempotency_key = True

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        name: str = "sim",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._secret = secret
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._secret}"},
                transport=self._transport,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> bool:
        await self.start()
        assert self._client is not None
        try:
            return (await self._client.get("/readyz", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        await self.start()
        assert self._client is not None
        body = {
            "message_id": sms.message_id,
            "to": sms.to,
            "sender": sms.sender,
            "text": sms.text,
            "encoding": sms.encoding,
            "kind": sms.kind,
        }
        if sms.dlr_url:
            body["dlr_url"] = sms.dlr_url
        try:
            response = await self._client.post("/v1/messages", json=body)
        except httpx.TimeoutException as exc:
            raise CarrierTemporaryError(
                f"the simulator did not answer in {self._timeout:.0f} s",
                carrier=self.name,
                code="timeout",
                outcome_unknown=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise CarrierTemporaryError(
                f"the simulator is unreachable at {self.url}: {exc!r}", carrier=self.name, code="unreachable"
            ) from exc
        if response.status_code in (200, 201, 202):
            data = response.json()
            return SubmitResult.accepted_by(
                self.name, str(data["carrier_message_id"]), duplicate=bool(data.get("duplicate"))
            )
        code, message = _error_of(response)
        if response.status_code == 429:
            raise CarrierTemporaryError(
                f"the simulator is throttling: {message}",
                carrier=self.name,
                code=code or "throttled",
                throttled=True,
                retry_after=_retry_after(response),
            )
        if response.status_code in (401, 403):
            # Our credentials, not this message, are wrong: keep the message for when they are fixed.
            log.error("the simulator refused our credentials; check CARRIER_SIM_SECRET", status=response.status_code)
            raise CarrierTemporaryError(
                f"the simulator refused our credentials ({response.status_code})", carrier=self.name, code=code
            )
        if response.status_code >= 500 or response.status_code == 408:
            raise CarrierTemporaryError(
                f"the simulator failed ({response.status_code}): {message}",
                carrier=self.name,
                code=code or f"http_{response.status_code}",
                retry_after=_retry_after(response),
                # A 5xx may come after the row was written; the simulator's idempotency makes that harmless.
                outcome_unknown=response.status_code != 503,
            )
        raise CarrierPermanentError(
            f"the simulator rejected the message ({response.status_code}): {message}",
            carrier=self.name,
            code=code or f"http_{response.status_code}",
        )
