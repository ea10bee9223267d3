"""The campaign-api service's tables (its own schema; search_path points there)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

PHONE = String(16)
ID = String(36)


def _ts(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("contact_info", String(300), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("short_codes", ARRAY(String(5)), nullable=False),
    Column("allow_resubscribe", Boolean, nullable=False, server_default=false()),
    Column("hours_profile", String(30), nullable=False, server_default="strict"),
    Column("window_start", String(5)),
    Column("window_end", String(5)),
    # The sum of the account's ledger movements, kept beside them in the same transaction.
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default=true()),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    # Set by the operator only: contacts on the non_commercial consent basis are allowed.
    Column("non_commercial", Boolean, nullable=False, server_default=false()),
    # Set by the operator only: off, declared or approved (domain/templates.py).
    Column("informative_templates", String(10), nullable=False, server_default="off"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(20), nullable=False),
    Column("label", String(100)),
    _ts("created_at", nullable=False),
    _ts("revoked_at"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("postal_code", String(10)),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("consent_basis", String(20), nullable=False),
    _ts("consent_collected_at"),
    Column("consent_source", String(200)),
    Column("consent_wording", Text),
    _ts("consent_last_purchase_at"),
    Column("consent_profession", String(200)),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    # Basis customer: the categories of products or services bought.
    Column("consent_purchase_categories", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    PrimaryKeyConstraint("account_id", "phone"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", ID, nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("reason", String(20), nullable=False),  # "api" (DELETE) or "optout"
    Column("cause", String(200), nullable=False),
    Column("contact_existed", Boolean, nullable=False),
    _ts("erased_at", nullable=False),
    Index("erasures_by_number", "account_id", "phone"),
)

# The account's view of the suppression list, learned from optout.recorded / optin.recorded.
suppression_state = Table(
    "suppression_state",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("suppressed", Boolean, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    _ts("changed_at", nullable=False),
    PrimaryKeyConstraint("account_id", "phone"),
)

optouts = Table(
    "optouts",
    metadata,
    Column("optout_id", String(64), primary_key=True),
    Column("account_id", ID, nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("short_code", String(5)),
    Column("raw_text", Text),
    _ts("received_at", nullable=False),
    _ts("enforced_at", nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("source_event_id", String(64), nullable=False),
    Column("contact_erased", Boolean, nullable=False),
    Index("optouts_by_account", "account_id", "enforced_at", "optout_id"),
    Index("optouts_by_number", "account_id", "phone"),
)

optins = Table(
    "optins",
    metadata,
    Column("optin_id", String(64), primary_key=True),
    Column("account_id", ID, nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("proof", Text, nullable=False),
    _ts("received_at", nullable=False),
    _ts("recorded_at", nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Index("optins_by_number", "account_id", "phone"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("audience_tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("audience_phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("field_defaults", JSONB, nullable=False, server_default=text("'{}'")),
    Column("sender", String(20), nullable=False),
    _ts("send_at"),
    Column("status", String(20), nullable=False),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    _ts("launched_at"),
    _ts("dispatched_at"),
    _ts("cancelled_at"),
    # Contacts created after this instant are not part of the launch.
    _ts("cutoff_at"),
    Column("audience_count", Integer, nullable=False, server_default="0"),
    Column("segments_estimate", Integer, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("charged", BigInteger, nullable=False, server_default="0"),
    Column("refunded", BigInteger, nullable=False, server_default="0"),
    Column("streamed", Integer, nullable=False, server_default="0"),
    Column("batches", Integer, nullable=False, server_default="0"),
    # The last number streamed: the launch resumes after it (same transaction as its outbox rows).
    Column("checkpoint", PHONE),
    # What a marketing campaign concerns, for the consent rule: a category of products or
    # services (customer basis) and professions (b2b basis).
    Column("category", String(100)),
    Column("professions", ARRAY(Text), nullable=False, server_default=text("'{}'")),
)

# One row per message the account asked for: a campaign's recipients, unit sends, and the
# notifier's confirmations and CONTACT replies (evidence, SPEC rule 7).
recipients = Table(
    "recipients",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("account_id", ID, nullable=False),
    Column("campaign_id", ID),
    Column("purpose", String(30), nullable=False),
    Column("phone", PHONE, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("sender", String(20)),
    Column("text", Text),
    Column("segments", Integer, nullable=False),
    Column("charged", Integer, nullable=False, server_default="0"),
    Column("credits_reserved", Boolean, nullable=False),
    Column("consent", JSONB),
    Column("postal_code", String(10)),
    _ts("send_at"),
    _ts("requested_at", nullable=False),
    Column("outcome", String(10), nullable=False, server_default="pending"),
    Column("reason", String(100)),
    Column("final", Boolean, nullable=False, server_default=false()),
    _ts("scheduled_for"),
    _ts("decided_at"),
    Column("message_id", String(64)),
    Column("carrier", String(50)),
    Column("carrier_message_id", String(200)),
    _ts("sent_at"),
    Column("delivery_status", String(20)),
    _ts("delivery_at"),
    Column("refunded", Boolean, nullable=False, server_default=false()),
    Index("recipients_by_campaign", "campaign_id", "phone", postgresql_where=text("campaign_id IS NOT NULL")),
    Index("recipients_by_number", "account_id", "phone", "requested_at"),
    Index("recipients_by_message", "message_id", postgresql_where=text("message_id IS NOT NULL")),
    Index(
        "recipients_by_carrier_message",
        "carrier",
        "carrier_message_id",
        postgresql_where=text("carrier_message_id IS NOT NULL"),
    ),
)

# Delivery reports as received; a report that arrives before its sms.outbound waits here.
deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("carrier", String(50), nullable=False),
    Column("carrier_message_id", String(200), nullable=False),
    Column("message_id", String(64)),
    Column("status", String(20), nullable=False),
    Column("error_code", String(50)),
    _ts("reported_at"),
    _ts("received_at", nullable=False),
    Index("deliveries_by_carrier_message", "carrier", "carrier_message_id"),
    Index("deliveries_by_message", "message_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", ID, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("cause", String(200), nullable=False),
    Column("idempotency_key", String(250), nullable=False),
    Column("event_id", String(64)),
    Column("note", Text),
    _ts("at", nullable=False),
    UniqueConstraint("account_id", "idempotency_key", name="ledger_once_per_key"),
    Index("ledger_by_account", "account_id", "id"),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, nullable=False, index=True),
    Column("format", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("phase", String(30), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("rows_total", Integer, nullable=False, server_default="0"),
    Column("rows_processed", Integer, nullable=False, server_default="0"),
    Column("rows_imported", Integer, nullable=False, server_default="0"),
    Column("rows_rejected", Integer, nullable=False, server_default="0"),
    Column("suppression_check", String(20)),
    Column("error_code", String(50)),
    Column("error_message", Text),
    Column("worker", String(100)),
    _ts("created_at", nullable=False),
    _ts("started_at"),
    _ts("finished_at"),
    _ts("heartbeat_at"),
)

import_errors = Table(
    "import_errors",
    metadata,
    Column("job_id", ID, nullable=False),
    Column("row_no", Integer, nullable=False),
    Column("phone", Text),
    Column("code", String(50), nullable=False),
    Column("message", Text, nullable=False),
    Column("field", String(100)),
    PrimaryKeyConstraint("job_id", "row_no"),
)


#: Every policy decision a message received, in order: a hold to Monday 08:00 followed by
#: Monday's refusal is two rows. The recipient row keeps only the latest, for reports;
#: the evidence of what the platform decided, and when, is this history.
decision_history = Table(
    "decision_history",
    metadata,
    Column("request_id", String(64), nullable=False),
    Column("account_id", ID, nullable=False),
    Column("decision", String(10), nullable=False),
    Column("reason", String(100), nullable=False),
    Column("final", Boolean, nullable=False),
    _ts("scheduled_for"),
    _ts("decided_at", nullable=False),
    PrimaryKeyConstraint("request_id", "decided_at", "decision", name="decision_history_pkey"),
)

#: The wording an account declares for its informative SMS (domain/templates.py); a retired
#: template stays, as history of what the account's informative messages could say.
templates = Table(
    "templates",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("placeholders", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("state", String(10), nullable=False),
    # The promotional detector's version that screened the text when it was declared.
    Column("detector_version", String(20), nullable=False),
    Column("review_note", Text),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    _ts("reviewed_at"),
    _ts("retired_at"),
    Index("templates_by_account", "account_id", "created_at", "id"),
    Index("templates_by_state", "state", "created_at", "id"),
)
