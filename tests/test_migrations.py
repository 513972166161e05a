"""The domain store's migrations (hireflow/migrations) against its models, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from hireflow.store import (
    MIGRATIONS_DIR,
    Base,
    BusinessRecord,
    CandidateSkill,
    Database,
    Employer,
    PostingSkill,
    RequestClaim,
    payment_customer_of,
    utcnow,
)


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def upgrade_to(connection, revision: str) -> None:
    """Bring an empty database to ``revision`` only, as an older release left it."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def business_records_migrated_from(
    store_url: str, revision: str, records: list[tuple[str, str, str]], column: str
) -> dict[str, object]:
    """Each record's ``column`` by id, after writing ``records`` at ``revision`` and migrating.

    ``records``: (kind, business id, JSON details), as an older release wrote them.
    """
    db = Database(store_url)
    with db.engine.begin() as connection:
        upgrade_to(connection, revision)
        insert = text(
            "INSERT INTO business_records (kind, business_id, status, details, updated_at) "
            "VALUES (:kind, :id, 'requested', :details, CURRENT_TIMESTAMP)"
        )
        for kind, business_id, details in records:
            connection.execute(insert, {"kind": kind, "id": business_id, "details": details})
    db.create_schema()
    with db.sessions() as session:
        return {r.business_id: getattr(r, column) for r in session.scalars(select(BusinessRecord))}


# SQLite cannot report an index on an expression (ix_candidates_experience), so Alembic
# leaves it out of the comparison there; PostgreSQL's run compares it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrations_make_exactly_the_schema_the_models_describe(store_url):
    db = Database(store_url)
    db.create_schema()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        assert context.get_current_revision() == head_revision()
    # A model changed without a migration shows here: write one (hireflow/migrations/__init__.py).
    assert differences == []


def test_a_database_made_before_migrations_keeps_its_rows_and_gains_what_it_lacked(store_url):
    db = Database(store_url)
    # As create_all left it at each start, from a release that had not yet got every table.
    legacy = [t for name, t in Base.metadata.tables.items() if name != "interviewer_holds"]
    Base.metadata.create_all(db.engine, tables=legacy)
    with db.sessions.begin() as session:
        session.add(
            RequestClaim(scope="s", key="k", fingerprint="f", status="done", result={}, claimed_at=utcnow())
        )

    db.create_schema()
    db.create_schema()  # every later start finds nothing to do

    assert "interviewer_holds" in inspect(db.engine).get_table_names()
    with db.sessions() as session:
        assert session.scalars(select(RequestClaim.key)).all() == ["k"]
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]


def test_employers_on_the_first_revision_keep_their_rows_and_stand_in_as_their_own_customer(store_url):
    db = Database(store_url)
    with db.engine.begin() as connection:
        upgrade_to(connection, "0001")
        connection.execute(
            text(
                "INSERT INTO employers (employer_id, name, email, plan, payment_method_ref) "
                "VALUES ('acme', 'Acme', 'hr@acme.example', 'standard', 'pm_card_visa')"
            )
        )

    db.create_schema()

    assert payment_customer_of(db, "acme") == "acme"
    with db.sessions.begin() as session:
        session.get(Employer, "acme").payment_customer_ref = "cus_Acme"
    assert payment_customer_of(db, "acme") == "cus_Acme"


def test_business_records_on_revision_0004_learn_whose_items_they_are(store_url):
    # The lookups of a candidate's items and an application's interviews read this column.
    owners = business_records_migrated_from(
        store_url,
        "0004",
        [
            ("application", "app_1", '{"candidate_id": "ada", "posting_id": "p"}'),
            ("interview", "int_1", '{"application_id": "app_1", "round": 1}'),
            ("resume", "res_erased", '{"erased_at": "2026-12-01T00:00:00Z"}'),
        ],
        column="belongs_to",
    )
    assert owners == {"app_1": "ada", "int_1": "app_1", "res_erased": None}


def test_applications_on_revision_0012_learn_their_posting(store_url):
    # A posting's applications are listed for its employer through this column.
    postings = business_records_migrated_from(
        store_url,
        "0012",
        [
            ("application", "app_1", '{"candidate_id": "ada", "posting_id": "p"}'),
            ("application", "app_erased", '{"erased_at": "2026-12-01T00:00:00Z"}'),
            ("unlock", "unl_1", '{"candidate_id": "ada", "posting_id": "p"}'),
        ],
        column="posting_id",
    )
    assert postings == {"app_1": "p", "app_erased": None, "unl_1": None}


def test_unlocks_on_revision_0015_learn_their_employer(store_url):
    # An employer's unlocks are listed for it through this column.
    employers = business_records_migrated_from(
        store_url,
        "0015",
        [
            ("unlock", "unl_1", '{"candidate_id": "ada", "employer_id": "acme"}'),
            ("unlock", "unl_erased", '{"erased_at": "2026-12-01T00:00:00Z"}'),
            ("application", "app_1", '{"candidate_id": "ada", "employer_id": "acme"}'),
        ],
        column="employer_id",
    )
    assert employers == {"unl_1": "acme", "unl_erased": None, "app_1": None}


def test_records_on_revision_0017_learn_their_process_instance(store_url):
    # An instance's item (for the incident list and task pages) is found through this column.
    keys = business_records_migrated_from(
        store_url,
        "0017",
        [
            ("resume", "res_1", '{"candidate_id": "ada", "process_instance_key": "2251799813685249"}'),
            ("unlock", "unl_1", '{"candidate_id": "ada", "process_instance_key": 2251799813685300}'),
            ("application", "app_erased", '{"erased_at": "2026-12-01", "process_instance_key": "7"}'),
            ("interview", "int_1", '{"application_id": "app_1"}'),
        ],
        column="process_instance_key",
    )
    assert keys == {
        "res_1": "2251799813685249",
        "unl_1": "2251799813685300",  # a number in the details: text in the column
        "app_erased": "7",  # an erasure keeps the instance's key
        "int_1": None,
    }


def test_candidates_on_revision_0009_are_found_by_the_skills_they_had(store_url):
    db = Database(store_url)
    with db.engine.begin() as connection:
        upgrade_to(connection, "0009")
        insert = text(
            "INSERT INTO candidates (candidate_id, resume_id, skills, indexed_at) "
            "VALUES (:id, :resume, :skills, CURRENT_TIMESTAMP)"
        )
        for candidate_id, skills in [("ada", '["python", "sql"]'), ("bob", "[]")]:
            connection.execute(
                insert, {"id": candidate_id, "resume": f"res_{candidate_id}", "skills": skills}
            )

    db.create_schema()

    with db.sessions() as session:
        rows = session.execute(select(CandidateSkill.candidate_id, CandidateSkill.skill)).all()
    assert sorted(rows) == [("ada", "python"), ("ada", "sql")]


def test_postings_on_revision_0010_are_found_by_their_skills_as_kept(store_url):
    # Postings saved before skills were checked may write them as resumes do ("K8s").
    db = Database(store_url)
    with db.engine.begin() as connection:
        upgrade_to(connection, "0010")
        insert = text(
            "INSERT INTO job_postings (posting_id, employer_id, title, required_skills, nice_to_have_skills, "
            "min_years, open) VALUES (:id, 'acme', 'Engineer', :required, :nice, 0, :open)"
        )
        for posting_id, required, nice in [
            ("p-1", '["Python", "K8s"]', '["kubernetes", "sql"]'),
            ("p-2", "[]", "[]"),
        ]:
            connection.execute(insert, {"id": posting_id, "required": required, "nice": nice, "open": True})

    db.create_schema()

    with db.sessions() as session:
        rows = session.execute(
            select(PostingSkill.posting_id, PostingSkill.skill, PostingSkill.required)
        ).all()
    assert sorted(rows) == [("p-1", "kubernetes", True), ("p-1", "python", True), ("p-1", "sql", False)]
