"""The domain store's set-up, as many processes start on one fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from hireflow.store import Base, BusinessRecord, Database, JobPosting
from job_workers.records import record_details
from tests.concurrency import errors_all_at_once
from tests.postgres import fresh_database


def test_many_starts_at_once_create_the_schema_without_an_error(store_url):
    errors = errors_all_at_once(8, lambda: Database(store_url), Database.create_schema)
    assert errors == []
    tables = set(inspect(Database(store_url).engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_connections_opening_a_new_sqlite_file_together_all_get_in(tmp_path):
    """SQLite refuses at once, busy timeout or not, all but one of the connections that switch
    a new file to WAL together; each must wait its turn instead. One round loses a race
    about one time in ten, so this runs many."""
    for round_number in range(80):
        url = f"sqlite:///{tmp_path / f'domain-{round_number}.sqlite3'}"
        errors = errors_all_at_once(8, lambda url=url: Database(url), Database.check_reachable)
        assert errors == [], f"round {round_number}"
        with Database(url).engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_connections_the_server_dropped_are_replaced_not_handed_out(postgres_server):
    """After a PostgreSQL restart or failover, the next query reconnects instead of failing."""
    db = Database(fresh_database(postgres_server))
    db.create_schema()
    with db.sessions() as session:
        pids = {session.scalar(text("SELECT pg_backend_pid()"))}
    admin = Database(postgres_server)
    with admin.engine.begin() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with db.sessions() as session:
        assert session.scalars(select(JobPosting)).all() == []
        assert session.scalar(text("SELECT pg_backend_pid()")) not in pids


def test_items_are_found_by_a_detail_on_sqlite_and_postgresql(store_url):
    """The candidate's erasure finds their items by a value inside the JSON details."""
    from hireflow.store import BusinessRecord, utcnow
    from webapp.domain.records import records_mentioning

    db = Database(store_url)
    db.create_schema()
    with db.sessions.begin() as session:
        for business_id, candidate in (("res_1", "cand_1"), ("res_2", "cand_10"), ("res_3", "cand%1")):
            session.add(
                BusinessRecord(
                    kind="resume",
                    business_id=business_id,
                    status="processed",
                    details={"candidate_id": candidate, "filename": "cv.pdf"},
                    updated_at=utcnow(),
                )
            )
    with db.sessions() as session:
        found = records_mentioning(session, ("resume",), "candidate_id", "cand_1")
        assert [r.business_id for r in found] == ["res_1"]
        wildcard = records_mentioning(session, ("resume",), "candidate_id", "cand%1")
        assert [r.business_id for r in wildcard] == ["res_3"]
        assert records_mentioning(session, ("application",), "candidate_id", "cand_1") == []


def test_a_record_knows_whose_item_it_is_through_every_write(store_url):
    """``belongs_to``, which the lookups of a candidate's items and an application's interviews read."""
    from hireflow.store import BusinessRecord
    from job_workers.records import record_details, record_status
    from webapp.domain.records import records_belonging_to

    db = Database(store_url)
    db.create_schema()
    record_status(db, "application", "app_1", "submitted", {"candidate_id": "ada", "posting_id": "p"})
    record_details(db, "interview", "int_1", "requested", application_id="app_1", round=1)
    record_details(db, "interview", "int_2", "requested", round=1)  # a worker got there first
    record_details(db, "interview", "int_2", "requested", application_id="app_1")  # then the webapp

    with db.sessions() as session:
        assert [r.business_id for r in records_belonging_to(session, ("application",), "ada")] == ["app_1"]
        interviews = records_belonging_to(session, ("interview",), "app_1")
        assert sorted(r.business_id for r in interviews) == ["int_1", "int_2"]
        assert records_belonging_to(session, ("interview",), "ada") == []  # an interview is its application's
    with db.sessions.begin() as session:
        session.get(BusinessRecord, ("application", "app_1")).details = {"erased_at": "now"}  # an erasure
    with db.sessions() as session:
        assert records_belonging_to(session, ("application",), "ada") == []


def test_records_a_release_before_the_owner_column_wrote_are_still_found(store_url):
    """During a rolling update the release before migration 0005 inserts records without ``belongs_to``."""
    from webapp.domain.records import records_belonging_to

    db = Database(store_url)
    db.create_schema()
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO business_records (kind, business_id, status, details, updated_at) "
                "VALUES ('application', 'app_old', 'submitted', :details, CURRENT_TIMESTAMP)"
            ),
            {"details": '{"candidate_id": "ada_1", "posting_id": "p"}'},
        )
    with db.sessions() as session:
        assert [r.business_id for r in records_belonging_to(session, ("application",), "ada_1")] == [
            "app_old"
        ]
        assert records_belonging_to(session, ("application",), "ada") == []  # a prefix is not the owner


def test_an_instances_item_is_found_by_its_key_and_so_is_one_an_older_release_wrote(store_url):
    """The incident list and task pages name an instance's item: ``process_instance_key``."""
    from job_workers.records import record_status
    from webapp.domain.records import record_of_instance

    db = Database(store_url)
    db.create_schema()
    record_status(db, "unlock", "unl_1", "requested", {"candidate_id": "ada", "process_instance_key": "22"})
    record_status(db, "resume", "res_1", "uploaded", {"candidate_id": "ada", "process_instance_key": "2"})
    # A release before migration 0018, during a rolling update: the key in the details only.
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO business_records (kind, business_id, status, details, updated_at) "
                "VALUES ('application', 'app_old', 'submitted', :details, CURRENT_TIMESTAMP)"
            ),
            {"details": '{"candidate_id": "ada", "process_instance_key": "222"}'},
        )

    def item_of(instance_key: str, kinds=("resume", "application", "unlock")) -> str | None:
        with db.sessions() as session:
            found = record_of_instance(session, kinds, instance_key)
            return found.business_id if found else None

    assert (item_of("2"), item_of("22"), item_of("222")) == ("res_1", "unl_1", "app_old")
    assert item_of("2222") is None  # an instance hireflow did not start
    assert item_of("22", kinds=("resume",)) is None


def test_a_database_error_names_the_statement_but_not_its_values(store_url):
    """The error's text goes to the worker log and into an incident's message in Operate."""
    db = Database(store_url)
    with pytest.raises(DBAPIError) as refused, db.sessions.begin() as session:
        session.execute(text("INSERT INTO no_such_table VALUES (:name)"), {"name": "Ada Lovelace"})
    assert "no_such_table" in str(refused.value)
    assert "Ada Lovelace" not in str(refused.value)  # was "[parameters: ('Ada Lovelace',)]"


def test_details_written_at_once_by_the_webapp_and_workers_are_all_kept(store_url):
    # A record's details are one JSON value that each writer reads, adds to and writes
    # back: the webapp accepting an interview (its round and attempt) while the worker
    # records the times it offered. Read before the other's write committed, one part was
    # lost: before records were locked for the change, 6 of these 40 parts were kept on
    # SQLite and 10 on PostgreSQL.
    db = Database(store_url)
    db.create_schema()
    writers = iter(range(8))

    def add_details(writer: int) -> None:
        for part in range(5):
            record_details(db, "interview", "int_1", "requested", **{f"writer{writer}_part{part}": part})

    errors = errors_all_at_once(8, lambda: next(writers), add_details)
    assert errors == []
    with db.sessions() as session:
        kept = session.get(BusinessRecord, ("interview", "int_1")).details
    assert len(kept) == 8 * 5
