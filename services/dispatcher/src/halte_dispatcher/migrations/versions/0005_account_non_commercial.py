"""The operator's non-commercial flag on each account the dispatcher knows (``account.changed``).

Contacts on the ``non_commercial`` consent basis receive marketing only from an account the
operator flagged (rules/src/halte_rules/consent.py); the dispatcher applies the flag as it stands
when it decides, like the account's mode and hours. Accounts known before start unflagged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("non_commercial", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("accounts", "non_commercial")
