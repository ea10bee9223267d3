"""The notifier's own tables: accounts, templates, pending events, charges, messages, submissions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("contact_info", sa.Text, nullable=False),
        sa.Column("short_codes", ARRAY(sa.String(32)), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "reply_templates",
        sa.Column("account_id", sa.String(200), primary_key=True),
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("language", sa.String(2), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "pending_events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("parked_at", TZ, nullable=False),
    )
    op.create_index("pending_events_by_account", "pending_events", ["account_id", "parked_at"])
    op.create_table(
        "charges",
        sa.Column("charge_id", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("charged_at", TZ, nullable=False),
        sa.UniqueConstraint("cause_event_id", "reason", name="charges_once_per_cause"),
    )
    op.create_index("charges_by_account_phone", "charges", ["account_id", "phone"])
    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("carrier", sa.String(200), nullable=True),
        sa.Column("carrier_message_id", sa.String(128), nullable=True),
        sa.Column("delivery_status", sa.String(20), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("cause_event_id", "purpose", name="messages_once_per_cause"),
    )
    op.create_index("messages_by_account_phone", "messages", ["account_id", "phone"])
    op.create_index(
        "messages_due",
        "messages",
        ["next_attempt_at"],
        postgresql_where=sa.text("state IN ('pending', 'submitting')"),
    )
    op.create_table(
        "submissions",
        sa.Column("submission_id", sa.String(200), primary_key=True),
        sa.Column("message_id", sa.String(200), sa.ForeignKey("messages.message_id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("carrier", sa.String(200), nullable=True),
        sa.Column("carrier_message_id", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("delivery_status", sa.String(20), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("reported_at", TZ, nullable=True),
        sa.UniqueConstraint("message_id", "attempt", name="submissions_one_per_attempt"),
    )
    op.create_index("submissions_by_carrier_id", "submissions", ["carrier_message_id"])
    op.create_table(
        "contact_requests",
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("raw_text", sa.Text, nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("handled_at", TZ, nullable=False),
    )
    op.create_index("contact_requests_by_number", "contact_requests", ["account_id", "phone", "handled_at"])


def downgrade() -> None:
    for table in ("contact_requests", "submissions", "messages", "charges", "pending_events", "reply_templates"):
        op.drop_table(table)
    op.drop_table("accounts")
