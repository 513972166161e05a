"""Found candidates are read in the order search lists them, through an index.

Search (``GET /api/candidates``) lists the candidates with the skills asked for most
experienced first, where it listed them by id: a page then had to read and sort every
match. This index on (coalesce(years_of_experience, 0) DESC, candidate_id DESC) holds
them in that order, so a page stops after its 50.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_candidates_experience"


def upgrade() -> None:
    # IF NOT EXISTS, not a look among the table's indexes as 0014 does: SQLite does not
    # report an index on an expression. A database made before migrations existed, by a
    # newer create_all, may have it.
    op.create_index(
        INDEX,
        "candidates",
        [sa.text("coalesce(years_of_experience, 0) DESC"), sa.text("candidate_id DESC")],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="candidates")
