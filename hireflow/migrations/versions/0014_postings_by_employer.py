"""An employer's postings are found through an index.

An employer lists its own postings, open and closed, with how many applications each
has (``GET /api/employers/<id>/postings``). Postings were looked up by id or by skill
only; this index on (employer_id, posting_id) covers the lookup and the page order.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_job_postings_employer"


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    if INDEX not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("job_postings")}:
        op.create_index(INDEX, "job_postings", ["employer_id", "posting_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="job_postings")
