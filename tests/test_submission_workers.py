"""Resume-submission workers on a real SQLite store."""

import threading

import pytest
from sqlalchemy import event

from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.store import BusinessRecord, Candidate, Database, JobPosting, utcnow
from job_workers.records import record_details, record_status
from job_workers.services import Services
from job_workers.submission import ResumeSubmissionTasks
from tests.jobs import make_job


@pytest.fixture
def tasks(store_url) -> ResumeSubmissionTasks:
    db = Database(store_url)
    db.create_schema()
    with db.sessions.begin() as session:
        session.add(
            JobPosting(
                posting_id="p-1",
                employer_id="e-1",
                title="Data engineer",
                required_skills=["python", "sql"],
                nice_to_have_skills=["kafka"],
                min_years=3,
            )
        )
        session.add(
            Candidate(
                candidate_id="c-1",
                resume_id="r-1",
                skills=["Python", "SQL"],
                years_of_experience=5,
                indexed_at=utcnow(),
            )
        )
    return ResumeSubmissionTasks(Services(files=None, db=db))


def test_the_match_is_scored_with_the_facts_behind_it(tasks):
    result = tasks.score_match("a-1", "c-1", "p-1")
    assert result["match_score"] == 80
    assert result["matched_skills"] == ["python", "sql"] and result["missing_skills"] == []
    assert result["posting_title"] == "Data engineer"
    # On file before any outcome: a recruiter may screen it for days.
    tasks.score_match("a-1", "c-1", "p-1")  # a job delivered twice records it once
    with tasks.services.db.sessions() as session:
        record = session.get(BusinessRecord, ("application", "a-1"))
    assert record.status == "submitted"
    assert record.details == {
        "candidate_id": "c-1",
        "posting_id": "p-1",
        "match_score": 80,
        "matched_skills": ["python", "sql"],
    }
    assert (record.belongs_to, record.posting_id) == ("c-1", "p-1")  # listed for both


def test_an_unknown_posting_or_candidate_tells_the_operator_what_to_fix(tasks):
    with pytest.raises(PermanentFailure, match="posting p-404 does not exist"):
        tasks.score_match("a-2", "c-1", "p-404")
    with pytest.raises(PermanentFailure, match="candidate c-404 has no processed resume"):
        tasks.score_match("a-3", "c-404", "p-1")


def test_an_instance_naming_another_candidate_or_posting_than_its_record_is_refused(tasks):
    # The webapp recorded the application for c-9 and p-1; its candidate_id was then set by hand to c-1.
    record_details(tasks.services.db, "application", "a-5", "submitted", candidate_id="c-9", posting_id="p-1")
    with pytest.raises(PermanentFailure, match="set candidate_id back to 'c-9'"):
        tasks.score_match("a-5", "c-1", "p-1")
    with tasks.services.db.sessions() as session:
        record = session.get(BusinessRecord, ("application", "a-5"))
    assert record.details == {"candidate_id": "c-9", "posting_id": "p-1"}  # listed where it was


def test_the_outcome_header_is_recorded_and_a_missing_one_is_permanent(tasks):
    job = make_job(JobType.RECORD_APPLICATION_OUTCOME, headers={"outcome": "shortlisted"})
    assert tasks.record_outcome(job, "a-1") == {"application_status": "shortlisted"}
    tasks.record_outcome(
        make_job(JobType.RECORD_APPLICATION_OUTCOME, headers={"outcome": "withdrawn"}), "a-1"
    )
    with tasks.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("application", "a-1")).status == "withdrawn"
    with pytest.raises(PermanentFailure, match="outcome"):
        tasks.record_outcome(make_job(JobType.RECORD_APPLICATION_OUTCOME), "a-1")


def test_a_record_the_webapp_inserts_meanwhile_is_merged_into_not_failed_on(tasks):
    """The chaos run saw it: the webapp wrote the application's record between the score
    step's read and its insert, and the job failed on the unique key, to wait out a backoff."""
    db = tasks.services.db
    inserted, webapp = [], []

    def webapp_gets_there_first(session, flush_context, instances):
        if not inserted and any(isinstance(row, BusinessRecord) for row in session.new):
            inserted.append(True)
            if db.engine.dialect.name == "sqlite":
                # The step took SQLite's write lock before it read (locked_record): the
                # webapp's write waits for the step's commit, then merges into its record.
                details = {"process_instance_key": "42"}
                args = (db, "application", "a-1", "submitted", details)
                webapp.append(threading.Thread(target=record_status, args=args))
                webapp[0].start()
                return
            with db.engine.begin() as other:
                other.execute(
                    BusinessRecord.__table__.insert().values(
                        kind="application",
                        business_id="a-1",
                        status="submitted",
                        details={"process_instance_key": "42"},
                        updated_at=utcnow(),
                    )
                )

    event.listen(db.sessions, "before_flush", webapp_gets_there_first)
    try:
        tasks.score_match(application_id="a-1", candidate_id="c-1", posting_id="p-1")
    finally:
        event.remove(db.sessions, "before_flush", webapp_gets_there_first)
    for thread in webapp:
        thread.join(timeout=30)

    assert inserted
    with db.sessions() as session:
        record = session.get(BusinessRecord, ("application", "a-1"))
    assert record.status == "submitted"
    assert record.details["process_instance_key"] == "42"
    assert record.details["match_score"] == 80
