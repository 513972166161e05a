"""Postings are found by skill through a table of their skills.

A job board filters postings by skill (``GET /api/postings?skills=``), and a candidate's
best-fitting postings are those requiring a skill they have. The skills were kept only as
JSON lists on each posting, which no index reaches. Each skill is now also a row of
``posting_skills`` (by the name skills are kept by, "k8s" as kubernetes; required or nice
to have), indexed by skill; this revision fills it from every posting, and the rows go
with their posting.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from hireflow.skills import canonical_skill

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _listed(value) -> list[str]:
    return json.loads(value) if isinstance(value, str) else value or []


def upgrade() -> None:
    bind = op.get_bind()
    # A database made before migrations existed may have been made by a newer create_all.
    if "posting_skills" in sa.inspect(bind).get_table_names():
        return
    skills = op.create_table(
        "posting_skills",
        sa.Column(
            "posting_id",
            sa.String(length=100),
            sa.ForeignKey("job_postings.posting_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("skill", sa.String(length=50), primary_key=True),
        sa.Column("required", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_posting_skills_skill", "posting_skills", ["skill"])
    postings = sa.table(
        "job_postings",
        sa.column("posting_id", sa.String),
        sa.column("required_skills", sa.JSON),
        sa.column("nice_to_have_skills", sa.JSON),
    )
    rows = []
    for posting_id, required, nice in bind.execute(sa.select(postings)):
        required_names = {canonical_skill(skill) for skill in _listed(required)}
        names = dict.fromkeys(canonical_skill(skill) for skill in [*_listed(required), *_listed(nice)])
        rows += [
            {"posting_id": posting_id, "skill": name, "required": name in required_names} for name in names
        ]
    if rows:
        op.bulk_insert(skills, rows)


def downgrade() -> None:
    op.drop_index("ix_posting_skills_skill", table_name="posting_skills")
    op.drop_table("posting_skills")
