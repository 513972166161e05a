"""Candidates are found by skill through a table of their skills.

Employers search candidates by skill (``GET /api/candidates``). The skills were kept only
as a JSON list on each candidate, which no index reaches on either database. Each skill
is now also a row of ``candidate_skills``, indexed by skill; this revision fills it from
every candidate's list, and the rows go with their candidate.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # A database made before migrations existed may have been made by a newer create_all.
    if "candidate_skills" in sa.inspect(bind).get_table_names():
        return
    skills = op.create_table(
        "candidate_skills",
        sa.Column(
            "candidate_id",
            sa.String(length=100),
            sa.ForeignKey("candidates.candidate_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("skill", sa.String(length=50), primary_key=True),
    )
    op.create_index("ix_candidate_skills_skill", "candidate_skills", ["skill"])
    candidates = sa.table("candidates", sa.column("candidate_id", sa.String), sa.column("skills", sa.JSON))
    rows = []
    for candidate_id, listed in bind.execute(sa.select(candidates.c.candidate_id, candidates.c.skills)):
        listed = json.loads(listed) if isinstance(listed, str) else listed or []
        rows += [{"candidate_id": candidate_id, "skill": skill} for skill in dict.fromkeys(listed)]
    if rows:
        op.bulk_insert(skills, rows)


def downgrade() -> None:
    op.drop_index("ix_candidate_skills_skill", table_name="candidate_skills")
    op.drop_table("candidate_skills")
