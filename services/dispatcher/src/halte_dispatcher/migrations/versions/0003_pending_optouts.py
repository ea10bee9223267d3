"""Opt-outs known before suppression applied them, and how far inbound's journal was followed.

``pending_optouts`` holds every opt-out request the dispatcher learned from inbound's journal
(acknowledged to a carrier) or from suppression's feed (``pending``: not applicable yet), until
suppression's feed resolves it; meanwhile marketing to the number is blocked, fail-safe. A
``resolve`` that arrives before its request leaves a row with only ``resolved_at``, so the
late request is born resolved. See docs/stop-enforcement.md.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_optouts",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("phone", sa.Text, nullable=True),
        sa.Column("short_code", sa.Text, nullable=True),
        sa.Column("account_id", sa.Text, nullable=True),
        sa.Column("channel", sa.Text, nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("received_at", TZ, nullable=True),
        sa.Column("acknowledged_at", TZ, nullable=True),
        sa.Column("applied_at", TZ, nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
    )
    op.create_index(
        "pending_optouts_unresolved",
        "pending_optouts",
        ["phone"],
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("pending_optouts_resolved", "pending_optouts", ["resolved_at"])
    op.add_column("feed_state", sa.Column("journal_sequence", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("feed_state", sa.Column("journal_caught_up_at", TZ, nullable=True))
    op.add_column("feed_state", sa.Column("journal_error", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("feed_state", "journal_error")
    op.drop_column("feed_state", "journal_caught_up_at")
    op.drop_column("feed_state", "journal_sequence")
    op.drop_table("pending_optouts")
