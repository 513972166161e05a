"""A job posting can be closed.

A posting stayed open for good: once filled, its employer had no way to stop new
applications short of deleting it, which its applications' pages still name. Now a
posting is open or closed; a closed one refuses new applications, and those made before
go on. Every posting made before is open.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("job_postings")}
    if "open" not in columns:
        op.add_column(
            "job_postings", sa.Column("open", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    op.drop_column("job_postings", "open")
