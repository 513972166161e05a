"""An employer's credit movements are listed through an index.

The admin API now shows an employer's balance with its latest movements (purchases,
spends and refunds by unlock); without an index each read went through every employer's
entries.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEX = "ix_credit_entries_employer_latest"


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    if INDEX not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("credit_entries")}:
        op.create_index(INDEX, "credit_entries", ["employer_id", "created_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="credit_entries")
