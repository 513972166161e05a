"""An interviewer has working hours.

Interview slots were offered on weekdays from 09:00 to 17:00 where each panelist works,
for everyone: a part-time interviewer, or one whose working week runs from Sunday to
Thursday, was offered times they do not work. An interviewer on file now has their
working days and hours (JSON: days, start, end); those made before have none and keep
the weekdays from 09:00 to 17:00.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("interviewers")}
    if "working_hours" not in columns:
        op.add_column("interviewers", sa.Column("working_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("interviewers", "working_hours")
