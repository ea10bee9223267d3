"""Test helpers for the inbound service: signed carrier requests, account events, the service in-process.

Used by this service's tests and by end-to-end tests that play a carrier. Nothing here is
a fake: requests are signed with the real algorithm and the service runs on the real
database and broker the caller points it at.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from halte_inbound.bootstrap import bootstrap
from halte_inbound.config import Settings
from halte_inbound.entrypoints.http import create_app
from halte_inbound.handlers import sync_accounts
from halte_inbound.runtime import InboundRuntime
from halte_shared.events import AccountChanged, Envelope, decode
from halte_shared.signing import webhook_signature

if TYPE_CHECKING:
    from halte_shared.testing import Isolation

#: The secrets halte_shared.testing.Isolation.settings gives (CARRIER_SIM_SECRET) and this module adds.
SIM_SECRET = "test-sim-secret"
KANNEL_TOKEN = "test-kannel-token-0123456789"
#: Every table of the service, emptied between tests that share one running service.
TABLES = (
    "inbound_messages",
    "delivery_reports",
    "accounts",
    "web_optouts",
    "spam_reports",
    "optout_journal",
    "unprocessable_payloads",
    "outbox",
    "inbox",
)

#: The test registry: the simulator, a Kannel gateway, and a Belgian carrier limited to 36111.
CARRIERS = [
    {"id": "sim", "kind": "json", "secret_env": "CARRIER_SIM_SECRET", "default_region": "FR", "short_codes": []},
    {"id": "kannel", "kind": "kannel", "token_env": "KANNEL_INBOUND_TOKEN", "default_region": "FR", "short_codes": []},
    {
        "id": "scoped",
        "kind": "json",
        "secret_env": "CARRIER_SIM_SECRET",
        "default_region": "BE",
        "short_codes": ["36111"],
    },
]


def inbound_settings(iso: Isolation, **overrides: Any) -> Settings:
    """Return the inbound settings of one test (its schema, its topics, the test carriers)."""
    values: dict[str, Any] = {
        "HALTE_INBOUND_CARRIERS": json.dumps(CARRIERS),
        "KANNEL_INBOUND_TOKEN": KANNEL_TOKEN,
        "UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
    }
    values.update(overrides)
    settings: Settings = iso.settings(Settings, service="inbound", **values)
    return settings


def signed_headers(body: bytes, *, secret: str = SIM_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Return the headers a JSON carrier sends with a body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Halte-Timestamp": ts,
        "X-Halte-Signature": webhook_signature(secret, ts, body),
    }


def mo_body(text_: str, *, sender: str = "0612345678", to: str = "36111", message_id: str | None = None) -> bytes:
    """Return the JSON of a reply."""
    return json.dumps(
        {
            "message_id": message_id or f"m-{uuid.uuid4()}",
            "from": sender,
            "to": to,
            "text": text_,
            "received_at": datetime.now(UTC).isoformat(),
        }
    ).encode()


def account(
    account_id: str, *, short_codes: list[str], allow_resubscribe: bool = False, **extra: Any
) -> AccountChanged:
    """Return an account.changed payload."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": f"Shop {account_id}",
        "mode": "marketing",
        "short_codes": short_codes,
        "contact_info": "shop@example.com, 01 23 45 67 89",
        "allow_resubscribe": allow_resubscribe,
        "changed_at": datetime.now(UTC),
    }
    values.update(extra)
    return AccountChanged(**values)


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    expect: int,
    timeout: float = 15.0,
    linger: float = 0.5,
    only: Callable[[Envelope], bool] | None = None,
) -> list[Any]:
    """Return the (envelope, payload) pairs on a topic once `expect` arrived (or the deadline passed).

    ``only`` keeps the events it accepts (a test sharing topics with earlier tests reads its own).
    """
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[Any] = []

    async def fetch(timeout_ms: int) -> None:
        for records in (await consumer.getmany(timeout_ms=timeout_ms)).values():
            for record in records:
                envelope, payload = decode(record.value or b"")
                if only is None or only(envelope):
                    events.append((envelope, payload))

    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(events) < expect and loop.time() < deadline:
            await fetch(200)
        # Linger so a duplicate that would break the assertion has time to show.
        if linger:
            await fetch(int(linger * 1000))
    finally:
        await consumer.stop()
    return events


@dataclass
class Inbound:
    """The running service of one test, and what a test needs to poke it."""

    settings: Settings
    runtime: InboundRuntime
    client: httpx.AsyncClient

    async def reset(self) -> None:
        """Empty every table and forget earlier events, so one running service can serve many tests."""
        # TRUNCATE waits for a relay batch in flight (it holds row locks), so nothing written
        # before this point is published after it.
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(text(f"TRUNCATE {', '.join(TABLES)}"))

    async def post_mo(self, body: bytes, *, carrier: str = "sim", **header_options: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/carriers/{carrier}/mo", content=body, headers=signed_headers(body, **header_options)
        )

    async def post_dlr(self, body: bytes, *, carrier: str = "sim", **header_options: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/carriers/{carrier}/dlr", content=body, headers=signed_headers(body, **header_options)
        )

    async def accounts(self, *accounts: AccountChanged) -> None:
        await sync_accounts(self.runtime, accounts)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.runtime.sessions() as session:
            return list((await session.execute(text(sql), params)).all())

    async def count(self, table: str) -> int:
        return int((await self.rows(f"SELECT count(*) FROM {table}"))[0][0])

    async def outbox(self) -> list[tuple[str, bool]]:
        """Return (topic, published) of every outbox row, in order."""
        rows = await self.rows("SELECT topic, published_at IS NOT NULL FROM outbox ORDER BY seq")
        return [(r[0], bool(r[1])) for r in rows]

    async def read(self, topic: str, *, expect: int, **options: Any) -> list[Any]:
        """Return the events of this test on a topic: those its outbox holds (see read_topic)."""
        ours = {row[0] for row in await self.rows("SELECT event_id FROM outbox")}
        return await read_topic(self.settings, topic, expect=expect, only=lambda e: e.id in ours, **options)


async def start_inbound(settings: Settings, *, consume: bool = False) -> tuple[InboundRuntime, httpx.AsyncClient]:
    """Start the runtime and return it with an HTTP client talking to the app in-process."""
    runtime = bootstrap(settings, consume=consume)
    await runtime.start()
    app = create_app(settings)
    app.state.runtime = runtime
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inbound.test")
    return runtime, client
