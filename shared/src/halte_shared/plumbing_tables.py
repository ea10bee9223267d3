"""The outbox and inbox tables, added to each service's own metadata (and migrations)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, Text, text


def outbox_table(metadata: MetaData) -> Table:
    """Return the outbox table: events written with the state change, published by the relay."""
    return Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=True),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Index("outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Return the inbox table: one row per (consumer, event) processed, written with the effect."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=True),
        Column("offset", BigInteger, nullable=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )
