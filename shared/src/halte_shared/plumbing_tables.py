"""The outbox, inbox and parked-events tables, added to each service's own metadata (and migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


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


PARKED_STATES = ("parked", "replayed", "discarded")


def parked_events_table(metadata: MetaData) -> Table:
    """Return the parked_events table: messages a consumer gave up on, kept until an operator resolves them."""
    return Table(
        "parked_events",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("consumer_group", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", Text, nullable=True),
        Column("value", LargeBinary, nullable=False),
        # The same message redelivered (a crash before the offset commit) must not be parked
        # twice; a different message at a reused offset (a broker that lost its log) must.
        Column("value_sha256", String(64), nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("event_id", String(64), nullable=True),
        Column("event_type", String(200), nullable=True),
        Column("error_class", String(20), nullable=False),
        Column("error", Text, nullable=False),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("state", String(20), nullable=False, server_default=text("'parked'")),
        Column("resolved_at", DateTime(timezone=True), nullable=True),
        Column("resolution_note", Text, nullable=True),
        CheckConstraint("state IN ('parked', 'replayed', 'discarded')", name="parked_events_state"),
        CheckConstraint("error_class IN ('infrastructure', 'message', 'unknown')", name="parked_events_error_class"),
        UniqueConstraint(
            "consumer_group", "topic", "partition", "offset", "value_sha256", name="parked_events_message"
        ),
        Index("parked_events_by_state", "state", "id"),
    )
