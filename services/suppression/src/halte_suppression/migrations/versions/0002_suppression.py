"""The suppression service's own tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from halte_suppression.adapters.tables import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "accounts",
    "account_short_codes",
    "recent_marketing_sends",
    "suppressions",
    "optout_evidence",
    "processed_requests",
    "sequence_counter",
)


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in TABLES])
    # Written out rather than taken from the live metadata: revision 0003 changed its shape.
    op.create_table(
        "suppression_changes",
        sa.Column("sequence", sa.BigInteger, primary_key=True),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("phone", sa.Text(collation="C"), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_id", sa.String(36), nullable=False),
        sa.CheckConstraint("action IN ('suppress', 'lift')", name="suppression_changes_action"),
    )
    op.execute(sa.text("INSERT INTO sequence_counter (id, last_sequence) VALUES (1, 0)"))


def downgrade() -> None:
    op.drop_table("suppression_changes")
    for name in reversed(TABLES):
        op.drop_table(name)
