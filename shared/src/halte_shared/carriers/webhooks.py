"""Signed webhooks towards inbound: how carriers without a URL of their own report to Halte.

The simulator's delivery reports and injected replies, and what the SMPP adapter receives
over its connection (receipts, replies), all reach ``inbound`` as the contract's signed
JSON webhooks: ``POST {inbound}/v1/carriers/{carrier}/dlr`` and ``.../mo``, with
``X-Halte-Timestamp`` and ``X-Halte-Signature`` (HMAC-SHA256 of ``"{timestamp}.{body}"``
with the carrier's secret). Inbound may be down for a moment: a report is retried a few
times with backoff, and the caller decides what a final failure means.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from halte_shared.carriers.base import DeliveryReport, MobileOriginated
from halte_shared.signing import webhook_signature

log = structlog.get_logger("halte.carriers.webhooks")

Sleep = Callable[[float], Awaitable[None]]


def signed_request(
    secret: str, payload: dict[str, Any], *, now_unix: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """Return the JSON body and the signature headers of a webhook."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(time.time() if now_unix is None else now_unix))
    headers = {
        "Content-Type": "application/json",
        "X-Halte-Timestamp": timestamp,
        "X-Halte-Signature": webhook_signature(secret, timestamp, body),
    }
    return body, headers


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    *,
    secret: str,
    payload: dict[str, Any],
    attempts: int = 5,
    first_delay: float = 0.2,
    sleep: Sleep = asyncio.sleep,
) -> httpx.Response | None:
    """POST a signed webhook, retrying while the receiver is unreachable or answers 5xx.

    Return the last response (a 4xx is final: the receiver refused the report and
    resending it would be refused again), or None when no answer came at all.
    """
    delay = first_delay
    response: httpx.Response | None = None
    for attempt in range(1, attempts + 1):
        # Signed afresh at each attempt: a retry minutes later must not look like a replay.
        body, headers = signed_request(secret, payload)
        try:
            response = await client.post(url, content=body, headers=headers)
            if response.status_code < 500:
                return response
            log.warning("the webhook receiver answered a server error; retrying", url=url, status=response.status_code)
        except httpx.HTTPError as exc:
            log.warning("the webhook receiver is unreachable; retrying", url=url, error=repr(exc), attempt=attempt)
        if attempt < attempts:
            await sleep(delay)
            delay = min(delay * 2, 5.0)
    return response


def dlr_payload(report: DeliveryReport) -> dict[str, Any]:
    """Return the contract's delivery-report JSON for a report ("delivered" or "failed")."""
    reported_at = report.reported_at or datetime.now(UTC)
    return {
        "message_id": report.carrier_message_id,
        "our_message_id": report.our_message_id,
        "status": "delivered" if report.status == "delivered" else "failed",
        "to": report.to,
        "reported_at": reported_at.isoformat(),
    }


def mo_payload(mo: MobileOriginated) -> dict[str, Any]:
    """Return the contract's reply JSON for a message from a phone."""
    return {
        "message_id": mo.message_id,
        "from": mo.from_number,
        "to": mo.to,
        "text": mo.text,
        "received_at": mo.received_at.isoformat(),
    }


class InboundForwarder:
    """Forward what a carrier connection receives (receipts, replies) to inbound's webhooks.

    Used as the SMPP adapter's ``on_delivery`` / ``on_mo`` callbacks. An intermediate
    receipt (ENROUTE, ACCEPTD) is not forwarded: the contract's reports are final. A
    callback raises when inbound could not take the report, so the SMPP adapter answers
    the SMSC with a temporary error and the SMSC delivers the receipt again later.
    """

    def __init__(self, *, inbound_url: str, carrier: str, secret: str, timeout: float = 5.0, attempts: int = 3) -> None:
        self.inbound_url = inbound_url.rstrip("/")
        self.carrier = carrier
        self._secret = secret
        self._attempts = attempts
        self._client = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, payload: dict[str, Any]) -> None:
        url = f"{self.inbound_url}/v1/carriers/{self.carrier}/{path}"
        response = await post_signed(self._client, url, secret=self._secret, payload=payload, attempts=self._attempts)
        if response is None or response.status_code >= 500:
            raise ConnectionError(f"inbound did not take the {path} report at {url}")
        if response.status_code >= 400:
            # A refusal is final (bad signature, unknown carrier): redelivery cannot fix it.
            log.error(
                "inbound refused a carrier report; it is dropped",
                url=url,
                status=response.status_code,
                body=response.text[:300],
            )

    async def on_delivery(self, report: DeliveryReport) -> None:
        """Forward a final delivery receipt to inbound."""
        if not report.final:
            return
        await self._post("dlr", dlr_payload(report))

    async def on_mo(self, mo: MobileOriginated) -> None:
        """Forward a reply from a phone to inbound."""
        await self._post("mo", mo_payload(mo))
