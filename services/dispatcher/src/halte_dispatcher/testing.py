"""Test support for the dispatcher: request factories, the real neighbours served, polling helpers.

The carrier is the real carrier simulator (halte_shared.carriers.testing); the blocklist feed is
the real suppression service's app served on a loopback port; both on the test's own schemas.
Nothing here is a fake: these helpers start real servers and read real topics and tables.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from halte_dispatcher.bootstrap import DispatcherRuntime, bootstrap
from halte_dispatcher.config import Settings
from halte_shared.bus import make_producer
from halte_shared.carriers.registry import build_router
from halte_shared.carriers.testing import RunningSimulator
from halte_shared.clock import AdjustableClock
from halte_shared.events import (
    AccountChanged,
    ConsentSnapshot,
    DispatchRequested,
    Envelope,
    Payload,
    decode,
    encode,
    envelope_for,
)
from halte_shared.signing import webhook_signature
from halte_shared.testing import Isolation

ACCOUNT = "acct-dupont"
SHORT_CODE = "36111"
MARKETING_TEXT = "Maison Dupont: -20% samedi. STOP au 36111"
INFORMATIVE_TEXT = "Votre commande est prête."
#: A Tuesday in June, 10:00 in Paris: inside every window.
TUESDAY_10 = datetime(2026, 6, 16, 8, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def phone(n: int) -> str:
    """Return a valid French mobile number, different for each n."""
    return f"+3361{n:07d}"


def account_changed(account_id: str = ACCOUNT, **overrides: Any) -> AccountChanged:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": "Maison Dupont",
        "mode": "marketing",
        "short_codes": [SHORT_CODE],
        "contact_info": "contact@dupont.example",
        "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return AccountChanged(**values)


def request(
    number: str,
    *,
    campaign_id: str | None = "camp-1",
    kind: str = "marketing",
    account_id: str = ACCOUNT,
    **overrides: Any,
) -> DispatchRequested:
    """Return a lawful dispatch request (deterministic request id per campaign and number)."""
    marketing = kind == "marketing"
    values: dict[str, Any] = {
        "request_id": f"{campaign_id or 'unit-' + str(next(_numbers))}:{number}",
        "account_id": account_id,
        "campaign_id": campaign_id,
        "phone": number,
        "kind": kind,
        "sender": SHORT_CODE if marketing else "DUPONT",
        "text": MARKETING_TEXT if marketing else INFORMATIVE_TEXT,
        "segments": 1,
        "consent": ConsentSnapshot(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC), source="form")
        if marketing
        else None,
        "requested_at": datetime(2026, 6, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return DispatchRequested(**values)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll an async predicate until it holds; fail the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")
        await asyncio.sleep(interval)


@dataclass
class Inbound:
    """The real inbound service, served for the test: a carrier posts replies to it."""

    url: str
    admin_token: str
    secret: str

    async def reply(self, number: str, text: str = "STOP", *, to: str = SHORT_CODE) -> dict[str, Any]:
        """Post a signed reply as the carrier simulator does; return inbound's acknowledgement."""
        body = json.dumps(
            {
                "message_id": f"mo-{uuid.uuid4().hex}",
                "from": number,
                "to": to,
                "text": text,
                "received_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Halte-Timestamp": timestamp,
            "X-Halte-Signature": webhook_signature(self.secret, timestamp, body),
        }
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post("/v1/carriers/sim/mo", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())


@dataclass
class Suppression:
    """The real suppression service, served for the test (its runtime, to call its handlers as its consumer does)."""

    url: str
    admin_token: str
    runtime: Any = None

    async def record_stop(self, *, request_id: str, number: str, short_code: str = SHORT_CODE) -> None:
        """Record a STOP as suppression's consumer does when its optout.requested arrives."""
        from halte_suppression.domain.commands import RecordOptout

        await self.runtime.handlers.record_optout(
            RecordOptout(
                request_id=request_id,
                channel="sms",
                phone=number,
                received_at=datetime.now(UTC),
                source_event_id=f"evt-{request_id}",
                short_code=short_code,
                raw_text="STOP",
                carrier="sim",
            )
        )

    async def learn_account(self, account_id: str, *short_codes: str) -> None:
        """Tell suppression an account's short codes, as account.changed does."""
        from halte_suppression.domain.commands import LearnAccount

        await self.runtime.handlers.learn_account(
            LearnAccount(
                account_id=account_id,
                short_codes=short_codes,
                allow_resubscribe=False,
                active=True,
                changed_at=datetime.now(UTC),
            )
        )

    async def stop(self, *, account_id: str, number: str) -> dict[str, Any]:
        """Record an opt-out through the suppression service's operator API."""
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}) as c:
            response = await c.post("/v1/optouts", json={"account_id": account_id, "phone": number, "channel": "api"})
            assert response.status_code in (200, 201), response.text
            return dict(response.json())


def dispatcher_settings(
    iso: Isolation, *, sim: RunningSimulator, suppression_url: str, inbound_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "HALTE_CARRIER_SIM_URL": sim.url,
        "HALTE_CARRIERS": '{"sim": {"kind": "sim", "rate_per_second": 2000}}',
        "HALTE_SUPPRESSION_URL": suppression_url,
        "HALTE_INBOUND_URL": inbound_url,
        "HALTE_SUPPRESSION_POLL_SECONDS": 0.05,
        "HALTE_DISPATCH_SENDER_POLL_SECONDS": 0.05,
        "HALTE_DISPATCH_RELEASE_POLL_SECONDS": 0.05,
    }
    values.update(overrides)
    settings: Settings = iso.settings(Settings, service="dispatcher", **values)
    return settings


def build(settings: Settings, *, clock: AdjustableClock | None = None, **ports: Any) -> DispatcherRuntime:
    """Bootstrap the dispatcher with the real carrier router built from its settings."""
    return bootstrap(settings, clock=clock or AdjustableClock(), carriers=build_router(settings), **ports)


async def produce(settings: Settings, events: list[tuple[Payload, str]]) -> None:
    """Publish events the way other services' outbox relays do."""
    producer = make_producer(settings, client_id="test-producer")
    await producer.start()
    try:
        futures = [
            await producer.send(
                settings.topic(payload.TYPE),
                key=key.encode(),
                value=encode(envelope_for(payload, producer="test", occurred_at=datetime.now(UTC))),
            )
            for payload, key in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_events(
    settings: Settings, topic: str, *, expect: int | None = None, timeout: float = 15.0
) -> list[tuple[Envelope, Any]]:
    """Return (envelope, payload) of every event on a topic: `expect` of them at least, then a quiet moment."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[tuple[Envelope, Any]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                events.extend(decode(r.value) for r in records)
            if batch:
                quiet_since = loop.time()
            # Linger after the last arrival, so that a duplicate that would break an assertion shows.
            if (expect is None or len(events) >= expect) and loop.time() - quiet_since > 0.6:
                break
    finally:
        await consumer.stop()
    return events


async def rows(runtime: DispatcherRuntime, sql: str, **params: Any) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def states(runtime: DispatcherRuntime) -> dict[str, tuple[str, str, str]]:
    """Return request id -> (state, decision, reason)."""
    return {
        r.request_id: (r.state, r.decision, r.reason)
        for r in await rows(runtime, "SELECT request_id, state, decision, reason FROM dispatches")
    }


async def outbox_events(runtime: DispatcherRuntime, topic: str) -> list[Any]:
    """Return the payloads written to the outbox for a topic, in order."""
    found = await rows(runtime, "SELECT envelope FROM outbox WHERE topic = :topic ORDER BY seq", topic=topic)
    return [decode(bytes(r.envelope))[1] for r in found]
