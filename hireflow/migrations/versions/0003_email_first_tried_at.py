"""Outbox entries remember when their first send was tried.

A sender that died mid-send leaves the mail's outcome unknown; the next sender asks
SendGrid's Email Activity API, whose records lag minutes behind. Until that long has
passed since the first try, "not found" does not yet mean "not sent". Nullable: older
entries and the release before this one leave it empty, and are not waited for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("email_outbox")}
    if "first_tried_at" not in columns:
        op.add_column("email_outbox", sa.Column("first_tried_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("email_outbox", "first_tried_at")
