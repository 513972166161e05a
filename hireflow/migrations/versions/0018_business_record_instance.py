"""Business records say which process instance runs them, in an indexed column.

The operators' incident list and a person's task page name the item an instance runs.
The instance's key was only in each record's JSON details, so every lookup read the
details of every record (8 ms at 6,000 records, once per incident listed).
``process_instance_key`` holds it, kept in step on every write as ``employer_id`` is,
and is indexed. Existing records get it here.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEX = "ix_business_records_process_instance_key"


def instance_in(details: dict | None) -> str | None:
    """As ``hireflow.store.instance_in`` was at this revision (a migration keeps its own copy)."""
    key = (details or {}).get("process_instance_key")
    return str(key) if key else None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database made before migrations existed may have been made by a newer create_all.
    if "process_instance_key" not in {column["name"] for column in inspector.get_columns("business_records")}:
        op.add_column(
            "business_records", sa.Column("process_instance_key", sa.String(length=40), nullable=True)
        )
    if INDEX not in {index["name"] for index in inspector.get_indexes("business_records")}:
        op.create_index(INDEX, "business_records", ["process_instance_key"])
    # One statement where the database reads JSON; row by row elsewhere.
    extract = {
        "postgresql": "details->>'process_instance_key'",
        "sqlite": "CAST(json_extract(details, '$.process_instance_key') AS TEXT)",
    }.get(bind.dialect.name)
    if extract:
        bind.execute(
            sa.text(
                f"UPDATE business_records SET process_instance_key = NULLIF({extract}, '') "
                "WHERE process_instance_key IS NULL"
            )
        )
        return
    records = sa.table(
        "business_records",
        sa.column("kind", sa.String),
        sa.column("business_id", sa.String),
        sa.column("details", sa.JSON),
        sa.column("process_instance_key", sa.String),
    )
    for kind, business_id, details in bind.execute(
        sa.select(records.c.kind, records.c.business_id, records.c.details)
    ).all():
        key = instance_in(details)
        if key:
            bind.execute(
                records.update()
                .where(records.c.kind == kind, records.c.business_id == business_id)
                .values(process_instance_key=key)
            )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="business_records")
    op.drop_column("business_records", "process_instance_key")
