"""The inbound service's own tables: replies, delivery reports, accounts, web opt-outs, spam reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("inbound_id", sa.String(36), primary_key=True),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("carrier_message_id", sa.String(200), nullable=False),
        sa.Column("raw_from", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("short_code", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_encoding", sa.String(32), nullable=True),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("account_ids", sa.ARRAY(sa.String(64)), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("unroutable", sa.String(32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("carrier", "carrier_message_id", name="inbound_messages_carrier_message"),
    )
    op.create_index("inbound_messages_phone", "inbound_messages", ["phone"])
    op.create_index(
        "inbound_messages_unroutable",
        "inbound_messages",
        ["recorded_at"],
        postgresql_where=sa.text("unroutable IS NOT NULL"),
    )
    op.create_table(
        "delivery_reports",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("report_key", sa.String(300), nullable=False),
        sa.Column("carrier_message_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raw_status", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("carrier", "report_key", name="delivery_reports_carrier_report"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("short_codes", sa.ARRAY(sa.String(32)), nullable=False),
        sa.Column("allow_resubscribe", sa.Boolean, nullable=False),
        sa.Column("contact_info", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("accounts_short_codes", "accounts", ["short_codes"], postgresql_using="gin")
    op.create_table(
        "web_optouts",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("web_optouts_phone", "web_optouts", ["phone"])
    op.create_table(
        "spam_reports",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("phone", "target", "reported_at", name="spam_reports_once"),
    )


def downgrade() -> None:
    op.drop_table("spam_reports")
    op.drop_table("web_optouts")
    op.drop_table("accounts")
    op.drop_table("delivery_reports")
    op.drop_table("inbound_messages")
