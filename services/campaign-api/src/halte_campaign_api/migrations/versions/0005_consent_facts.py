"""Consent facts: what a customer bought, what a campaign concerns, the operator's non-commercial flag.

- ``contacts.consent_purchase_categories``: basis customer, the categories of products or
  services bought (a marketing message must concern one of them).
- ``campaigns.category`` and ``campaigns.professions``: what a marketing campaign concerns.
- ``accounts.non_commercial``: set by the operator; the non_commercial basis needs it.

The rule is rules/src/halte_rules/consent.py. Existing rows get empty lists and no flag:
customer contacts recorded before then receive marketing only once their purchase categories
are recorded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("non_commercial", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column(
        "contacts",
        sa.Column("consent_purchase_categories", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column("campaigns", sa.Column("category", sa.String(100)))
    op.add_column("campaigns", sa.Column("professions", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("campaigns", "professions")
    op.drop_column("campaigns", "category")
    op.drop_column("contacts", "consent_purchase_categories")
    op.drop_column("accounts", "non_commercial")
