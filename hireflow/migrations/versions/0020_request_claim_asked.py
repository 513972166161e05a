"""A start's claim keeps its request as the client sent it.

Starts were matched by the variables they filled in: an unlock or application asked
again after the candidate's newer resume (or the employer's new card) filled in other
values from the file, and its repeat was refused with 409 as another request.
``asked_fingerprint`` keeps the digest of the request as sent, and either digest matching
makes a repeat. Claims made before have none, and match by their variables as before.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations existed may have been made by a newer create_all.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("request_claims")}
    if "asked_fingerprint" not in columns:
        op.add_column("request_claims", sa.Column("asked_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("request_claims", "asked_fingerprint")
