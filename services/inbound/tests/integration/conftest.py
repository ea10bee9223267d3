"""Fixtures of the inbound integration tests: the service on real PostgreSQL and the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from halte_inbound.testing import Inbound, inbound_settings, start_inbound
from halte_shared.testing import Isolation, migrate


@pytest.fixture(scope="session")
async def running_inbound(database_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Inbound]:
    """Run one inbound service (runtime started, app in-process) on its own schema and topics for the session."""
    iso = Isolation(database_server_url, kafka_bootstrap)
    await iso.create_topics()
    await migrate(iso, "halte_inbound", "inbound")
    settings = inbound_settings(iso)
    runtime, client = await start_inbound(settings)
    try:
        yield Inbound(settings, runtime, client)
    finally:
        await client.aclose()
        await runtime.stop()


#: Tables this service added after halte_inbound.testing.TABLES was written; emptied here too.
EXTRA_TABLES = ("unprocessable_payloads",)


@pytest.fixture
async def inbound(running_inbound: Inbound) -> Inbound:
    """Give the test the running service with empty tables and no earlier events in sight."""
    await running_inbound.reset()
    async with running_inbound.runtime.sessions() as session, session.begin():
        await session.execute(text(f"TRUNCATE {', '.join(EXTRA_TABLES)}"))
    return running_inbound
