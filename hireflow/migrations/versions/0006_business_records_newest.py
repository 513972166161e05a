"""Business records are listed newest change first through an index.

The dashboard lists the latest changes on every load, and the Items page pages through
every item by (updated_at, kind, business_id): without an index, each read sorted the
whole table. The index covers the sort and the page cut.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_business_records_newest"


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    if INDEX not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("business_records")}:
        op.create_index(INDEX, "business_records", ["updated_at", "kind", "business_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="business_records")
