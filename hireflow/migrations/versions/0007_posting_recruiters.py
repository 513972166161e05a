"""A job posting names the recruiters who screen its applications.

An application had to name its recruiters' email in every request, though the same team
screens every application to a posting. Now the posting keeps it, and an application that
names none gets the posting's. Postings made before keep none: their applications must
still name it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("job_postings")}
    if "recruiter_team_email" not in columns:
        op.add_column("job_postings", sa.Column("recruiter_team_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("job_postings", "recruiter_team_email")
