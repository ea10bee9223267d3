"""Async SQLAlchemy 2 on asyncpg: one engine per service, pinned to the schema it owns.

Each service owns a schema (its name) in the PostgreSQL database DATABASE_URL names, and
every connection sets ``search_path`` to it, so tables are written unqualified and a test
can give each case a fresh schema on the same server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def async_url(database_url: str) -> URL:
    """Return the URL with the asyncpg driver, whatever scheme the operator wrote."""
    url = make_url(database_url)
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    return url


def libpq_url(database_url: str) -> str:
    """Return a plain postgresql:// URL (for asyncpg.connect and psql)."""
    return async_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def check_schema_name(schema: str) -> str:
    """Refuse a schema name that would need quoting (it is interpolated into DDL)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r} must be lower-case letters, digits and underscores")
    return schema


def make_engine(
    database_url: str,
    *,
    schema: str,
    pool_size: int = 10,
    application_name: str = "halte",
    pre_ping: bool = True,
    recycle_seconds: int = 1800,
) -> AsyncEngine:
    """Create the service's engine; every connection's search_path is its schema.

    Pre-ping costs three round trips per checkout with asyncpg; a hot path whose failure
    is retried by its caller (a carrier webhook) may turn it off and rely on recycling.
    """
    check_schema_name(schema)
    return create_async_engine(
        async_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=recycle_seconds,
        connect_args={
            "server_settings": {"search_path": schema, "application_name": application_name},
            "command_timeout": 60,
        },
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory services use for units of work."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_schema(engine: AsyncEngine, schema: str) -> None:
    """Create the service's schema if it does not exist."""
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {check_schema_name(schema)}"))


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises when the database is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session in a transaction that commits on success and rolls back on error."""
    async with factory() as session, session.begin():
        yield session
