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
    "suppression_changes",
    "sequence_counter",
)


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in TABLES])
    op.execute(sa.text("INSERT INTO sequence_counter (id, last_sequence) VALUES (1, 0)"))


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
