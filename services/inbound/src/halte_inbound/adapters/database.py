"""The inbound service's database engine: halte_shared.db.make_engine's, without the pre-ping.

With asyncpg, SQLAlchemy's pre-ping costs three round trips per connection checkout
(BEGIN, a query, ROLLBACK): more than the single statement that records a carrier reply.
Webhooks do not need it: a connection that died with the database fails its request with
a 5xx before anything is acknowledged, SQLAlchemy discards the pool, and the carrier's
retry is recorded on a fresh connection (and deduplicated). Connections are recycled every
half hour so that none outlives a firewall's idle timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from halte_shared.db import make_engine

RECYCLE_SECONDS = 1800


def make_webhook_engine(
    database_url: str, *, schema: str, pool_size: int = 10, application_name: str = "inbound"
) -> AsyncEngine:
    """Create the service's engine: search_path is its schema, no pre-ping, recycled connections."""
    return make_engine(
        database_url,
        schema=schema,
        pool_size=pool_size,
        application_name=application_name,
        pre_ping=False,
        recycle_seconds=RECYCLE_SECONDS,
    )


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Lend a connection on which each statement is its own transaction (see adapters/outbox.py)."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")
