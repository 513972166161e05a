"""Business records say whose item they are, in an indexed column.

A candidate's items (for the erasure) and an application's interviews (on every read of
its status, which its page repeats every few seconds) were found by searching the JSON
details of every record: 30 ms per read at 50,000 interviews on SQLite, and growing with
the store. ``belongs_to`` holds the candidate of a resume, application or unlock and the
application of an interview, as their details say; the store keeps it in step on every
write. Existing records get it here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ix_business_records_belongs_to"


def owner_in(kind: str, details: dict | None) -> str | None:
    """As ``hireflow.store.owner_in`` was at this revision (a migration keeps its own copy)."""
    owner = (details or {}).get("application_id" if kind == "interview" else "candidate_id")
    return str(owner) if owner else None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database made before migrations existed may have been made by a newer create_all.
    if "belongs_to" not in {column["name"] for column in inspector.get_columns("business_records")}:
        op.add_column("business_records", sa.Column("belongs_to", sa.String(length=100), nullable=True))
    if INDEX not in {index["name"] for index in inspector.get_indexes("business_records")}:
        op.create_index(INDEX, "business_records", ["belongs_to"])
    records = sa.table(
        "business_records",
        sa.column("kind", sa.String),
        sa.column("business_id", sa.String),
        sa.column("details", sa.JSON),
        sa.column("belongs_to", sa.String),
    )
    rows = bind.execute(sa.select(records.c.kind, records.c.business_id, records.c.details)).all()
    for kind, business_id, details in rows:
        owner = owner_in(kind, details)
        if owner:
            bind.execute(
                records.update()
                .where(records.c.kind == kind, records.c.business_id == business_id)
                .values(belongs_to=owner)
            )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="business_records")
    op.drop_column("business_records", "belongs_to")
