"""An interviewer has a time zone.

Interview emails gave the candidate times in their own zone but every panelist times in
UTC, wherever they work. An interviewer on file now has a time zone (a tz database name),
and their interview emails give times there; interviewers made before have none and
keep reading UTC.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("interviewers")}
    if "timezone" not in columns:
        op.add_column("interviewers", sa.Column("timezone", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("interviewers", "timezone")
