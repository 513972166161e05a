"""A candidate's profile knows when its resume was uploaded.

The profile came from whichever resume was indexed last. An upload stuck in an incident
for days, retried after the candidate had uploaded a new resume, put the old skills, name
and email back. ``resume_uploaded_at`` keeps when the profile's resume was uploaded, and
an older one indexed late leaves it alone. Candidates indexed before have none, and the
next resume indexed sets it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("candidates")}
    if "resume_uploaded_at" not in columns:
        op.add_column("candidates", sa.Column("resume_uploaded_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("candidates", "resume_uploaded_at")
