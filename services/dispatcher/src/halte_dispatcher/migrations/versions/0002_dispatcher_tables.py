"""The dispatcher's own tables: accounts, the local blocklist copy, its feed state, dispatches.

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

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("short_codes", ARRAY(sa.Text), nullable=False),
        sa.Column("contact_info", sa.Text, nullable=False),
        sa.Column("hours_profile", sa.Text, nullable=False),
        sa.Column("window_start", sa.Text, nullable=True),
        sa.Column("window_end", sa.Text, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_table(
        "blocklist",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("phone", sa.Text, primary_key=True),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("changed_at", TZ, nullable=True),
        sa.Column("applied_at", TZ, nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("applied_sequence", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("caught_up_at", TZ, nullable=True),
        sa.Column("latest_sequence", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.execute("INSERT INTO feed_state (id) VALUES (1)")
    op.create_table(
        "dispatches",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("campaign_id", sa.Text, nullable=True),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("request", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("scheduled_for", TZ, nullable=True),
        sa.Column("release_at", TZ, nullable=True),
        sa.Column("send_by", TZ, nullable=True),
        sa.Column("message_id", sa.Text, nullable=False, unique=True),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("carrier", sa.Text, nullable=True),
        sa.Column("carrier_message_id", sa.Text, nullable=True),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint(
            "state IN ('pending_account', 'held', 'sending', 'submitted', 'refused')", name="dispatches_state_known"
        ),
        sa.UniqueConstraint("campaign_id", "phone", name="dispatches_one_per_campaign_recipient"),
    )
    op.create_index("dispatches_held_due", "dispatches", ["release_at"], postgresql_where=sa.text("state = 'held'"))
    op.create_index(
        "dispatches_sending_due",
        "dispatches",
        ["priority", "next_attempt_at"],
        postgresql_where=sa.text("state = 'sending'"),
    )
    op.create_index(
        "dispatches_pending_account",
        "dispatches",
        ["account_id"],
        postgresql_where=sa.text("state = 'pending_account'"),
    )


def downgrade() -> None:
    op.drop_table("dispatches")
    op.drop_table("feed_state")
    op.drop_table("blocklist")
    op.drop_table("accounts")
