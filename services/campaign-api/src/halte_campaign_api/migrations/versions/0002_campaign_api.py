"""The campaign-api service's own tables: accounts, keys, contacts, opt-outs, campaigns, reports, ledger, imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
PHONE = sa.String(16)
ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("contact_info", sa.String(300), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("short_codes", ARRAY(sa.String(5)), nullable=False),
        sa.Column("allow_resubscribe", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("hours_profile", sa.String(30), nullable=False, server_default="strict"),
        sa.Column("window_start", sa.String(5)),
        sa.Column("window_end", sa.String(5)),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("label", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "contacts",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("postal_code", sa.String(10)),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("consent_basis", sa.String(20), nullable=False),
        sa.Column("consent_collected_at", TS),
        sa.Column("consent_source", sa.String(200)),
        sa.Column("consent_wording", sa.Text),
        sa.Column("consent_last_purchase_at", TS),
        sa.Column("consent_profession", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "phone"),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("contact_existed", sa.Boolean, nullable=False),
        sa.Column("erased_at", TS, nullable=False),
        sa.Index("erasures_by_number", "account_id", "phone"),
    )
    op.create_table(
        "suppression_state",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "phone"),
    )
    op.create_table(
        "optouts",
        sa.Column("optout_id", sa.String(64), primary_key=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("short_code", sa.String(5)),
        sa.Column("raw_text", sa.Text),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("enforced_at", TS, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("contact_erased", sa.Boolean, nullable=False),
        sa.Index("optouts_by_account", "account_id", "enforced_at", "optout_id"),
        sa.Index("optouts_by_number", "account_id", "phone"),
    )
    op.create_table(
        "optins",
        sa.Column("optin_id", sa.String(64), primary_key=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("proof", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Index("optins_by_number", "account_id", "phone"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", ID, primary_key=True),
        sa.Column("account_id", ID, nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("audience_tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("audience_phones", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("field_defaults", JSONB, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("sender", sa.String(20), nullable=False),
        sa.Column("send_at", TS),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("launched_at", TS),
        sa.Column("dispatched_at", TS),
        sa.Column("cancelled_at", TS),
        sa.Column("cutoff_at", TS),
        sa.Column("audience_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("segments_estimate", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("charged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("streamed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("checkpoint", PHONE),
    )
    op.create_table(
        "recipients",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("campaign_id", ID),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("phone", PHONE, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sender", sa.String(20)),
        sa.Column("text", sa.Text),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("charged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("credits_reserved", sa.Boolean, nullable=False),
        sa.Column("consent", JSONB),
        sa.Column("postal_code", sa.String(10)),
        sa.Column("send_at", TS),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("reason", sa.String(100)),
        sa.Column("final", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("scheduled_for", TS),
        sa.Column("decided_at", TS),
        sa.Column("message_id", sa.String(64)),
        sa.Column("carrier", sa.String(50)),
        sa.Column("carrier_message_id", sa.String(200)),
        sa.Column("sent_at", TS),
        sa.Column("delivery_status", sa.String(20)),
        sa.Column("delivery_at", TS),
        sa.Column("refunded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("recipients_by_campaign", "campaign_id", "phone", postgresql_where=sa.text("campaign_id IS NOT NULL")),
        sa.Index("recipients_by_number", "account_id", "phone", "requested_at"),
        sa.Index("recipients_by_message", "message_id", postgresql_where=sa.text("message_id IS NOT NULL")),
        sa.Index(
            "recipients_by_carrier_message",
            "carrier",
            "carrier_message_id",
            postgresql_where=sa.text("carrier_message_id IS NOT NULL"),
        ),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("carrier", sa.String(50), nullable=False),
        sa.Column("carrier_message_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(50)),
        sa.Column("reported_at", TS),
        sa.Column("received_at", TS, nullable=False),
        sa.Index("deliveries_by_carrier_message", "carrier", "carrier_message_id"),
        sa.Index("deliveries_by_message", "message_id"),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("delta", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(250), nullable=False),
        sa.Column("event_id", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("account_id", "idempotency_key", name="ledger_once_per_key"),
        sa.Index("ledger_by_account", "account_id", "id"),
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("account_id", ID, nullable=False, index=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(30), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_imported", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("suppression_check", sa.String(20)),
        sa.Column("error_code", sa.String(50)),
        sa.Column("error_message", sa.Text),
        sa.Column("worker", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("heartbeat_at", TS),
    )
    op.create_table(
        "import_errors",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("field", sa.String(100)),
        sa.PrimaryKeyConstraint("job_id", "row_no"),
    )


def downgrade() -> None:
    for table in (
        "import_errors",
        "import_jobs",
        "ledger",
        "deliveries",
        "recipients",
        "campaigns",
        "optins",
        "optouts",
        "suppression_state",
        "erasures",
        "contacts",
        "api_keys",
        "accounts",
    ):
        op.drop_table(table)
