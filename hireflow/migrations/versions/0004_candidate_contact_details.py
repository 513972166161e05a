"""Candidates keep the contact details an unlock pays for.

Unlocking lets an employer see a candidate's name and email, but hireflow kept only their
skills, so an unlocked candidate had nothing to show. The index step now keeps the name
and email given with the candidate's latest resume. Nullable: candidates indexed before
this revision have none until their next resume, and the release before this one still
indexes candidates during a rolling update.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("candidates")}
    if "name" not in columns:
        op.add_column("candidates", sa.Column("name", sa.String(length=200), nullable=True))
    if "email" not in columns:
        op.add_column("candidates", sa.Column("email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    op.drop_column("candidates", "email")
    op.drop_column("candidates", "name")
