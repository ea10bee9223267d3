"""The migrations create exactly the tables the code uses, and can be undone."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from halte_campaign_api.adapters.tables import metadata
from halte_shared.db import make_engine
from halte_shared.migrations import alembic_config
from halte_shared.testing import Isolation, migrate

pytestmark = pytest.mark.integration

PLUMBING = {"outbox", "inbox", "parked_events", "alembic_version"}


async def schema_differences(iso: Isolation) -> list[object]:
    engine = make_engine(iso.database_url, schema=iso.schema("campaign-api"))
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    finally:
        await engine.dispose()
    # The plumbing tables belong to the shared metadata, not to this service's.
    return [
        d
        for d in diffs
        if not (d[0] == "remove_table" and d[1].name in PLUMBING)
        and not (d[0] == "remove_index" and d[1].table.name in PLUMBING)
    ]


async def test_migrations_match_the_runtime_tables_and_downgrade(database_server_url, kafka_bootstrap):
    iso = Isolation(database_server_url, kafka_bootstrap)
    await migrate(iso, "halte_campaign_api", "campaign-api")
    assert await schema_differences(iso) == []
    config = alembic_config(
        package="halte_campaign_api", database_url=iso.database_url, schema=iso.schema("campaign-api")
    )
    await asyncio.to_thread(command.downgrade, config, "0001")
    await migrate(iso, "halte_campaign_api", "campaign-api")
    assert await schema_differences(iso) == []
