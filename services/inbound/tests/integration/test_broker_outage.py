"""A STOP that arrives while the broker is down is acknowledged, kept in the outbox, and published later."""

from __future__ import annotations

import asyncio

import pytest

from halte_inbound.testing import Inbound, inbound_settings, mo_body, read_topic, start_inbound
from halte_shared.bus import ensure_topics
from halte_shared.events import OptoutRequested
from halte_shared.testing import Isolation, migrate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def wait_until(predicate, *, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


async def test_a_stop_during_a_broker_outage_is_acknowledged_kept_and_published_when_the_broker_returns(
    database_server_url: str, embedded_broker_factory
):
    broker = embedded_broker_factory()
    iso = Isolation(database_server_url, broker.bootstrap_servers)
    await iso.create_topics()
    await migrate(iso, "halte_inbound", "inbound")
    settings = inbound_settings(iso)
    runtime, client = await start_inbound(settings)
    inbound = Inbound(settings, runtime, client)
    try:
        broker.stop()

        response = await asyncio.wait_for(inbound.post_mo(mo_body("STOP", message_id="during-outage")), timeout=10)

        # Acknowledged only because the reply and its events are committed in PostgreSQL.
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "recorded"
        assert await inbound.count("inbound_messages") == 1
        assert await inbound.outbox() == [("inbound.received", False), ("optout.requested", False)]
        # The relay keeps trying and keeps the rows while the broker stays away.
        await asyncio.sleep(1.5)
        assert [published for _, published in await inbound.outbox()] == [False, False]

        # The broker is memory-only: it comes back empty, so the topics are created again.
        broker.start()
        await ensure_topics(broker.bootstrap_servers, prefix=settings.topic_prefix)

        async def published() -> bool:
            return all(done for _, done in await inbound.outbox())

        await wait_until(published, timeout=30, what="the outbox relay to publish the STOP")
        [(envelope, optout)] = await read_topic(settings, "optout.requested", expect=1)
        assert isinstance(optout, OptoutRequested)
        assert (optout.phone, optout.short_code, optout.channel) == ("+33612345678", "36111", "sms")
        assert envelope.producer == "inbound"
    finally:
        await client.aclose()
        await runtime.stop()
