"""Alembic, per service: each service keeps its revisions in its own package and schema.

A service's ``migrations/env.py`` is two lines that call :func:`run_env`; the revisions
are plain alembic files. ``upgrade_to_head`` is what ``python -m halte_<service> migrate``,
the embedded stack, the Kubernetes migration Job and the tests all call.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from typing import Any

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from halte_shared.db import async_url, check_schema_name
from halte_shared.plumbing_tables import inbox_table, outbox_table, parked_events_table


def alembic_config(*, package: str, database_url: str, schema: str) -> Config:
    """Build the alembic configuration of a service package without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(files(package).joinpath("migrations")))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = check_schema_name(schema)
    return config


def upgrade_to_head(*, package: str, database_url: str, schema: str) -> None:
    """Apply every pending revision of a service to its schema."""
    command.upgrade(alembic_config(package=package, database_url=database_url, schema=schema), "head")


def _configure_and_run(connection: Connection, target_metadata: MetaData, schema: str) -> None:
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    connection.exec_driver_sql(f"SET search_path TO {schema}")
    # The DDL above opened a transaction on this connection; commit it so alembic's own
    # transaction starts clean and the version table lands in the service's schema.
    connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(target_metadata: MetaData) -> None:
    config = context.config
    schema = config.attributes["schema"]
    engine = create_async_engine(async_url(config.attributes["database_url"]), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure_and_run, target_metadata, schema)
    finally:
        await engine.dispose()


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py: run the revisions online against asyncpg."""
    if context.is_offline_mode():
        raise RuntimeError("Halte migrations run online only: point DATABASE_URL at the server")
    asyncio.run(_run_online(target_metadata))


def create_plumbing_tables() -> None:
    """Create the outbox and inbox tables (the first revision of every service calls this)."""
    # The runtime Table definitions are the single source of their shape; a revision
    # freezes them by running this once, and later changes get revisions of their own.
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(op.get_bind())


def drop_plumbing_tables() -> None:
    """Drop the outbox and inbox tables."""
    op.drop_table("inbox")
    op.drop_table("outbox")


def create_parked_events_table() -> None:
    """Create the parked_events table (each service's parked-events revision calls this)."""
    # Frozen from the runtime definition like the outbox and inbox: a later change to the
    # table needs a revision of its own in every service.
    metadata = MetaData()
    parked_events_table(metadata)
    metadata.create_all(op.get_bind())


def drop_parked_events_table() -> None:
    """Drop the parked_events table."""
    op.drop_table("parked_events")


__all__: list[Any] = [
    "alembic_config",
    "create_parked_events_table",
    "create_plumbing_tables",
    "drop_parked_events_table",
    "drop_plumbing_tables",
    "run_env",
    "upgrade_to_head",
]
