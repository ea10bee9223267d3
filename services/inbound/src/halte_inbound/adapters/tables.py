"""The inbound service's tables (its own schema; search_path points there).

* ``inbound_messages``: every reply a carrier handed us, as received (the evidence of an
  opt-out starts here), unique per (carrier, carrier message id) so a carrier's retry is
  recognised and changes nothing.
* ``delivery_reports``: every delivery report, unique per (carrier, report key).
* ``raw_payload`` (both): the exact signed body, or Kannel's query string with its token
  redacted, kept only when a character had to be mapped (domain/text.py) or a JSON field
  was ignored, so the evidence of what the carrier sent survives the mapping.
* ``unprocessable_payloads``: authenticated carrier payloads that could not be used (not
  JSON, a field missing, of the wrong type or too long), kept with the reason for review.
* ``accounts``: what ``account.changed`` told us of each account (short codes, whether
  START re-subscribes), the only view of accounts this service has.
* ``web_optouts``: opt-outs confirmed on the unsubscribe page.
* ``spam_reports``: numbers reported through 33700, as the operator handed them over.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
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

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("inbound_id", String(36), primary_key=True),
    Column("carrier", String(32), nullable=False),
    Column("carrier_message_id", String(200), nullable=False),
    Column("raw_from", String(64), nullable=False),
    Column("phone", String(16), nullable=True),
    Column("short_code", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("text_encoding", String(32), nullable=True),
    Column("classification", String(16), nullable=False),
    Column("account_ids", ARRAY(String(64)), nullable=False, server_default=text("'{}'")),
    Column("unroutable", String(32), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("raw_payload", LargeBinary, nullable=True),
    UniqueConstraint("carrier", "carrier_message_id", name="inbound_messages_carrier_message"),
    Index("inbound_messages_phone", "phone"),
    Index("inbound_messages_unroutable", "recorded_at", postgresql_where=text("unroutable IS NOT NULL")),
)

delivery_reports = Table(
    "delivery_reports",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("carrier", String(32), nullable=False),
    Column("report_key", String(300), nullable=False),
    Column("carrier_message_id", String(200), nullable=False),
    Column("message_id", String(200), nullable=True),
    Column("phone", String(16), nullable=True),
    Column("status", String(16), nullable=False),
    Column("raw_status", String(64), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("raw_payload", LargeBinary, nullable=True),
    UniqueConstraint("carrier", "report_key", name="delivery_reports_carrier_report"),
)

unprocessable_payloads = Table(
    "unprocessable_payloads",
    metadata,
    Column("payload_id", String(36), primary_key=True),
    Column("carrier", String(32), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("code", String(32), nullable=False),
    Column("field", String(200), nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw_payload", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("unprocessable_payloads_received", "received_at"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("short_codes", ARRAY(String(32)), nullable=False),
    Column("allow_resubscribe", Boolean, nullable=False),
    Column("contact_info", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("accounts_short_codes", "short_codes", postgresql_using="gin"),
)

web_optouts = Table(
    "web_optouts",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("phone", String(16), nullable=False),
    Column("language", String(2), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("web_optouts_phone", "phone"),
)

spam_reports = Table(
    "spam_reports",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("phone", String(16), nullable=False),
    Column("target", String(32), nullable=False),
    Column("target_kind", String(16), nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # A report with a date is unique; resending the same batch changes nothing.
    UniqueConstraint("phone", "target", "reported_at", name="spam_reports_once"),
)
