"""The notifier service's tables (its own schema; search_path points there).

- ``accounts``: the local copy of each account's advertiser name, contact line, short codes.
- ``reply_templates``: an account's own wording of a reply, per purpose and language.
- ``pending_events``: opt-outs and CONTACT requests that arrived before their account (or
  its short code) was known; resumed when ``account.changed`` brings it, never dead-lettered.
- ``charges``: the exactly-once guarantee of the debit, unique on (cause_event_id, reason).
- ``messages``: one row per reply to send (the send intent), written with its charge.
- ``submissions``: each hand-over of a message to a carrier, keyed by its idempotency key.
- ``contact_requests``: every CONTACT request and whether it was answered or throttled.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
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
from sqlalchemy.dialects.postgresql import ARRAY

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("contact_info", Text, nullable=False),
    Column("short_codes", ARRAY(String(32)), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

reply_templates = Table(
    "reply_templates",
    metadata,
    Column("account_id", String(200), primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("language", String(2), primary_key=True),
    Column("text", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

pending_events = Table(
    "pending_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("account_id", String(200), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Index("pending_events_by_account", "account_id", "parked_at"),
)

charges = Table(
    "charges",
    metadata,
    Column("charge_id", String(200), primary_key=True),
    Column("account_id", String(200), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("cause_event_id", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("amount", Integer, nullable=False),
    Column("charged_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("cause_event_id", "reason", name="charges_once_per_cause"),
    Index("charges_by_account_phone", "account_id", "phone"),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("cause_event_id", String(200), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("sender", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("segments", Integer, nullable=False),
    # pending -> submitting -> submitted -> delivered; failed_final after the last try.
    Column("state", String(20), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("tries", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("carrier", String(200), nullable=True),
    Column("carrier_message_id", String(128), nullable=True),
    Column("delivery_status", String(20), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("cause_event_id", "purpose", name="messages_once_per_cause"),
    Index("messages_by_account_phone", "account_id", "phone"),
    Index(
        "messages_due",
        "next_attempt_at",
        postgresql_where=text("state IN ('pending', 'submitting')"),
    ),
)

submissions = Table(
    "submissions",
    metadata,
    Column("submission_id", String(200), primary_key=True),
    Column("message_id", String(200), ForeignKey("messages.message_id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("tries", Integer, nullable=False, server_default=text("0")),
    Column("carrier", String(200), nullable=True),
    Column("carrier_message_id", String(128), nullable=True),
    Column("outcome", String(20), nullable=True),  # accepted | refused | failed (temporary)
    Column("error", Text, nullable=True),
    Column("delivery_status", String(20), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("message_id", "attempt", name="submissions_one_per_attempt"),
    Index("submissions_by_carrier_id", "carrier_message_id"),
)

contact_requests = Table(
    "contact_requests",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("account_id", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("outcome", String(20), nullable=False),  # replied | throttled
    Column("message_id", String(200), nullable=True),
    Column("raw_text", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True), nullable=False),
    Index("contact_requests_by_number", "account_id", "phone", "handled_at"),
)
