"""Carrier evidence: the raw payload beside mapped replies and reports, and unprocessable payloads.

``raw_payload`` (nullable bytea) on ``inbound_messages`` and ``delivery_reports`` keeps
what a carrier sent when characters had to be mapped (services/inbound/src/halte_inbound/domain/text.py);
``unprocessable_payloads`` keeps authenticated payloads that could not be used. Adding a
nullable column without a default rewrites nothing, so the upgrade holds its locks briefly.

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


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("raw_payload", sa.LargeBinary, nullable=True))
    op.add_column("delivery_reports", sa.Column("raw_payload", sa.LargeBinary, nullable=True))
    op.create_table(
        "unprocessable_payloads",
        sa.Column("payload_id", sa.String(36), primary_key=True),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw_payload", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("unprocessable_payloads_received", "unprocessable_payloads", ["received_at"])


def downgrade() -> None:
    op.drop_index("unprocessable_payloads_received", table_name="unprocessable_payloads")
    op.drop_table("unprocessable_payloads")
    op.drop_column("delivery_reports", "raw_payload")
    op.drop_column("inbound_messages", "raw_payload")
