"""Unlocks say whose they are, in an indexed column.

An employer lists its own unlocks (``GET /api/employers/<id>/unlocks``), newest change
first, a page at a time, to see which wait for its card or its bank's approval. The
employer was only in each unlock's JSON details, which no index reaches. ``employer_id``
holds it, kept in step on every write as ``posting_id`` is, and an index on
(employer_id, updated_at, kind, business_id) covers the lookup, the order and the page
cut. Existing unlocks get it here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEX = "ix_business_records_employer"


def employer_in(kind: str, details: dict | None) -> str | None:
    """As ``hireflow.store.employer_in`` was at this revision (a migration keeps its own copy)."""
    employer = (details or {}).get("employer_id") if kind == "unlock" else None
    return str(employer) if employer else None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database made before migrations existed may have been made by a newer create_all.
    if "employer_id" not in {column["name"] for column in inspector.get_columns("business_records")}:
        op.add_column("business_records", sa.Column("employer_id", sa.String(length=100), nullable=True))
    if INDEX not in {index["name"] for index in inspector.get_indexes("business_records")}:
        op.create_index(INDEX, "business_records", ["employer_id", "updated_at", "kind", "business_id"])
    # One statement where the database reads JSON; row by row elsewhere.
    extract = {
        "postgresql": "details->>'employer_id'",
        "sqlite": "json_extract(details, '$.employer_id')",
    }.get(bind.dialect.name)
    if extract:
        bind.execute(
            sa.text(
                f"UPDATE business_records SET employer_id = NULLIF({extract}, '') "
                "WHERE kind = 'unlock' AND employer_id IS NULL"
            )
        )
        return
    records = sa.table(
        "business_records",
        sa.column("kind", sa.String),
        sa.column("business_id", sa.String),
        sa.column("details", sa.JSON),
        sa.column("employer_id", sa.String),
    )
    unlocks = sa.select(records.c.business_id, records.c.details).where(records.c.kind == "unlock")
    for business_id, details in bind.execute(unlocks).all():
        employer = employer_in("unlock", details)
        if employer:
            bind.execute(
                records.update()
                .where(records.c.kind == "unlock", records.c.business_id == business_id)
                .values(employer_id=employer)
            )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="business_records")
    op.drop_column("business_records", "employer_id")
