"""How the simulator adapter reads the simulator's answers, and the signed webhooks' shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from halte_shared.carriers.base import (
    CarrierPermanentError,
    CarrierTemporaryError,
    DeliveryReport,
    MobileOriginated,
    OutboundSms,
)
from halte_shared.carriers.sim_adapter import SimulatorAdapter
from halte_shared.carriers.webhooks import dlr_payload, mo_payload, signed_request
from halte_shared.signing import verify_webhook

SMS = OutboundSms(message_id="m-1", to="+33612345678", sender="36111", text="arrêt 😀", encoding="UCS-2")


def adapter(handler) -> SimulatorAdapter:
    return SimulatorAdapter(url="http://sim.local/", secret="s3cret", transport=httpx.MockTransport(handler))


async def test_the_submission_carries_the_secret_and_every_field() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"carrier_message_id": "sim-1", "duplicate": False})

    sim = adapter(handler)
    result = await sim.submit(SMS)
    await sim.close()
    [request] = seen
    assert request.url == "http://sim.local/v1/messages"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert json.loads(request.content) == {
        "message_id": "m-1",
        "to": "+33612345678",
        "sender": "36111",
        "text": "arrêt 😀",
        "encoding": "UCS-2",
        "kind": "informative",
    }
    assert result.accepted and result.carrier == "sim" and result.carrier_message_id == "sim-1"
    assert sim.honours_idempotency_key


async def test_a_duplicate_is_accepted_with_the_first_id() -> None:
    sim = adapter(lambda r: httpx.Response(200, json={"carrier_message_id": "sim-1", "duplicate": True}))
    result = await sim.submit(SMS)
    await sim.close()
    assert result.accepted and result.duplicate and result.carrier_message_id == "sim-1"


def error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code, "field": None}}, headers=headers)


@pytest.mark.parametrize(
    ("response", "code", "throttled", "unknown", "retry_after"),
    [
        (error(429, "throttled", **{"Retry-After": "2"}), "throttled", True, False, 2.0),
        (error(503, "temporarily_unavailable"), "temporarily_unavailable", False, False, None),
        (error(500, "boom"), "boom", False, True, None),
        (error(401, "unauthorized"), "unauthorized", False, False, None),
    ],
)
async def test_answers_that_can_change_are_temporary(
    response: httpx.Response, code: str, throttled: bool, unknown: bool, retry_after: float | None
) -> None:
    sim = adapter(lambda r: response)
    with pytest.raises(CarrierTemporaryError) as raised:
        await sim.submit(SMS)
    await sim.close()
    assert (raised.value.code, raised.value.throttled, raised.value.outcome_unknown) == (code, throttled, unknown)
    assert raised.value.retry_after == retry_after


@pytest.mark.parametrize(("status", "code"), [(400, "rejected"), (409, "idempotency_key_reused"), (422, "invalid")])
async def test_refusals_of_the_message_are_permanent(status: int, code: str) -> None:
    sim = adapter(lambda r: error(status, code))
    with pytest.raises(CarrierPermanentError) as raised:
        await sim.submit(SMS)
    await sim.close()
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("failure", "code", "unknown"),
    [(httpx.ConnectError("refused"), "unreachable", False), (httpx.ReadTimeout("slow"), "timeout", True)],
)
async def test_transport_failures_are_temporary(failure: Exception, code: str, unknown: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    sim = adapter(handler)
    with pytest.raises(CarrierTemporaryError) as raised:
        await sim.submit(SMS)
    await sim.close()
    assert raised.value.code == code and raised.value.outcome_unknown is unknown


def test_a_signed_webhook_verifies_with_the_same_secret_only() -> None:
    body, headers = signed_request("secret", {"text": "arrêt"}, now_unix=1_764_000_000)
    assert json.loads(body) == {"text": "arrêt"}
    verify_webhook(
        secret="secret",
        timestamp=headers["X-Halte-Timestamp"],
        signature=headers["X-Halte-Signature"],
        body=body,
        now_unix=1_764_000_010,
    )
    with pytest.raises(ValueError):
        verify_webhook(
            secret="other",
            timestamp=headers["X-Halte-Timestamp"],
            signature=headers["X-Halte-Signature"],
            body=body,
            now_unix=1_764_000_010,
        )


def test_reports_and_replies_take_the_contract_shape() -> None:
    at = datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
    expired = DeliveryReport(
        carrier="s", carrier_message_id="c1", status="expired", final=True, to="+336", reported_at=at
    )
    assert dlr_payload(expired) == {
        "message_id": "c1",
        "our_message_id": None,
        "status": "failed",
        "to": "+336",
        "reported_at": "2026-11-25T10:01:00+00:00",
    }
    mo = MobileOriginated(carrier="s", message_id="x", from_number="+336", to="36111", text="STOP", received_at=at)
    assert mo_payload(mo) == {
        "message_id": "x",
        "from": "+336",
        "to": "36111",
        "text": "STOP",
        "received_at": "2026-11-25T10:01:00+00:00",
    }
