"""Baseline: the schema as ``create_all`` made it before migrations existed.

The tables are created only where missing (``checkfirst``): a database made before
migrations existed (by ``create_all`` at each start) has some or all of them, and is
brought to this revision without touching what it holds. Later revisions use ``op``.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


BASELINE = sa.MetaData()

sa.Table(
    "business_records",
    BASELINE,
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("business_id", sa.String(length=100), nullable=False),
    sa.Column("status", sa.String(length=40), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("kind", "business_id"),
)
sa.Table(
    "calendar_bookings",
    BASELINE,
    sa.Column("interview_id", sa.String(length=100), nullable=False),
    sa.Column("interviewer_ids", sa.JSON(), nullable=False),
    sa.Column("start", sa.DateTime(), nullable=False),
    sa.Column("end", sa.DateTime(), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("sequence", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("interview_id"),
)
sa.Table(
    "candidates",
    BASELINE,
    sa.Column("candidate_id", sa.String(length=100), nullable=False),
    sa.Column("resume_id", sa.String(length=100), nullable=False),
    sa.Column("skills", sa.JSON(), nullable=False),
    sa.Column("years_of_experience", sa.Integer(), nullable=True),
    sa.Column("indexed_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("candidate_id"),
)
sa.Table(
    "contact_access",
    BASELINE,
    sa.Column("employer_id", sa.String(length=100), nullable=False),
    sa.Column("candidate_id", sa.String(length=100), nullable=False),
    sa.Column("unlock_id", sa.String(length=100), nullable=False),
    sa.Column("granted_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("employer_id", "candidate_id"),
)
sa.Table(
    "credit_accounts",
    BASELINE,
    sa.Column("employer_id", sa.String(length=100), nullable=False),
    sa.Column("balance", sa.Integer(), nullable=False),
    sa.CheckConstraint("balance >= 0", name="credit_balance_not_negative"),
    sa.PrimaryKeyConstraint("employer_id"),
)
sa.Table(
    "credit_entries",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("employer_id", sa.String(length=100), nullable=False),
    sa.Column("reference", sa.String(length=200), nullable=False),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("amount", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("reference", "kind", name="one_entry_per_reference_and_kind"),
)
sa.Table(
    "email_outbox",
    BASELINE,
    sa.Column("dedupe_key", sa.String(length=200), nullable=False),
    sa.Column("recipient", sa.String(length=320), nullable=False),
    sa.Column("template", sa.String(length=100), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("claimed_until", sa.DateTime(), nullable=False),
    sa.Column("provider_message_id", sa.String(length=200), nullable=True),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint("dedupe_key"),
)
sa.Table(
    "employers",
    BASELINE,
    sa.Column("employer_id", sa.String(length=100), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("email", sa.String(length=254), nullable=False),
    sa.Column("plan", sa.String(length=20), nullable=False),
    sa.Column("payment_method_ref", sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint("employer_id"),
)
sa.Table(
    "interviewer_holds",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("interview_id", sa.String(length=100), nullable=False),
    sa.Column("interviewer_id", sa.String(length=100), nullable=False),
    sa.Column("cell_start", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("interviewer_id", "cell_start", name="one_hold_per_interviewer_and_cell"),
)

sa.Table(
    "interviewers",
    BASELINE,
    sa.Column("username", sa.String(length=100), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("email", sa.String(length=254), nullable=False),
    sa.PrimaryKeyConstraint("username"),
)
sa.Table(
    "job_postings",
    BASELINE,
    sa.Column("posting_id", sa.String(length=100), nullable=False),
    sa.Column("employer_id", sa.String(length=100), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("required_skills", sa.JSON(), nullable=False),
    sa.Column("nice_to_have_skills", sa.JSON(), nullable=False),
    sa.Column("min_years", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("posting_id"),
)
sa.Table(
    "request_claims",
    BASELINE,
    sa.Column("scope", sa.String(length=120), nullable=False),
    sa.Column("key", sa.String(length=200), nullable=False),
    sa.Column("fingerprint", sa.String(length=64), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("result", sa.JSON(), nullable=False),
    sa.Column("claimed_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("scope", "key"),
)

sa.Index("ix_interviewer_holds_interview_id", BASELINE.tables["interviewer_holds"].c.interview_id)


def upgrade() -> None:
    BASELINE.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    BASELINE.drop_all(op.get_bind())
