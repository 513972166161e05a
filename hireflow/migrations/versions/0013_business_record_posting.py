"""Applications say which posting they are to, in an indexed column.

An employer lists the applications to its posting (``GET /api/postings/<id>/applications``),
newest change first, a page at a time. The posting was only in each application's JSON
details, which no index reaches. ``posting_id`` holds it, kept in step on every write as
``belongs_to`` is, and an index on (posting_id, updated_at, kind, business_id) covers the
lookup, the order and the page cut. Existing applications get it here.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_business_records_posting"


def posting_in(kind: str, details: dict | None) -> str | None:
    """As ``hireflow.store.posting_in`` was at this revision (a migration keeps its own copy)."""
    posting = (details or {}).get("posting_id") if kind == "application" else None
    return str(posting) if posting else None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database made before migrations existed may have been made by a newer create_all.
    if "posting_id" not in {column["name"] for column in inspector.get_columns("business_records")}:
        op.add_column("business_records", sa.Column("posting_id", sa.String(length=100), nullable=True))
    if INDEX not in {index["name"] for index in inspector.get_indexes("business_records")}:
        op.create_index(INDEX, "business_records", ["posting_id", "updated_at", "kind", "business_id"])
    # One statement where the database reads JSON (a store of millions of applications
    # would take one round trip each otherwise); row by row elsewhere.
    extract = {
        "postgresql": "details->>'posting_id'",
        "sqlite": "json_extract(details, '$.posting_id')",
    }.get(bind.dialect.name)
    if extract:
        bind.execute(
            sa.text(
                f"UPDATE business_records SET posting_id = NULLIF({extract}, '') "
                "WHERE kind = 'application' AND posting_id IS NULL"
            )
        )
        return
    records = sa.table(
        "business_records",
        sa.column("kind", sa.String),
        sa.column("business_id", sa.String),
        sa.column("details", sa.JSON),
        sa.column("posting_id", sa.String),
    )
    applications = sa.select(records.c.business_id, records.c.details).where(records.c.kind == "application")
    for business_id, details in bind.execute(applications).all():
        posting = posting_in("application", details)
        if posting:
            bind.execute(
                records.update()
                .where(records.c.kind == "application", records.c.business_id == business_id)
                .values(posting_id=posting)
            )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="business_records")
    op.drop_column("business_records", "posting_id")
