"""Employers get their customer id with the payment provider.

A card saved with Stripe is attached to a customer (``cus_...``), and Stripe charges it
only together with that customer, whose id it chooses. Employers without one keep using
their own id, as the local payment sandbox accepts any. Nullable, so the release before
this one still writes employers during a rolling update.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("employers")}
    if "payment_customer_ref" not in columns:
        op.add_column("employers", sa.Column("payment_customer_ref", sa.String(length=120), nullable=True))


def downgrade() -> None:
    op.drop_column("employers", "payment_customer_ref")
