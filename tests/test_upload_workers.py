"""Task functions of resume-upload, on real files, a real file store and SQLite (issue 3, acceptance 1)."""

from __future__ import annotations

import io

import pytest

from hireflow.adapters.file_store import LocalFileStore
from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.resume_intake import InvalidResume
from hireflow.store import Candidate, Database
from job_workers.records import record_details, recorded_details
from job_workers.services import Services
from job_workers.upload import ResumeUploadTasks, build_router
from tests.concurrency import errors_all_at_once
from tests.resume_samples import (
    docx_resume,
    docx_zip_bomb,
    pdf_drawing_megabytes_of_text,
    pdf_resume,
    pdf_with_page_content,
    pdf_with_pages,
)


@pytest.fixture
def services(tmp_path, store_url) -> Services:
    db = Database(store_url)
    db.create_schema()
    return Services(files=LocalFileStore(tmp_path / "files"), db=db)


def stored(services: Services, data: bytes) -> str:
    return services.files.put(io.BytesIO(data), max_bytes=10 * 1024 * 1024)


def test_the_upload_tasks_take_a_pdf_from_file_to_indexed_candidate(services):
    tasks = ResumeUploadTasks(services)
    file_ref = stored(services, pdf_resume(pages=2))

    assert tasks.validate_file("r-1", file_ref) == {"file_type": "pdf", "page_count": 2}
    text_ref = tasks.extract_text("r-1", file_ref)["text_ref"]
    assert text_ref.startswith("sha256:")
    profile = tasks.extract_skills("r-1", text_ref)
    assert profile["skills"][:2] == ["python", "sql"]
    assert profile["years_of_experience"] == 8
    assert tasks.index_candidate("r-1", "c-1", **profile) == {"indexed": True}

    with services.db.sessions() as session:
        candidate = session.get(Candidate, "c-1")
    assert (candidate.resume_id, candidate.skills[:2], candidate.years_of_experience) == (
        "r-1",
        ["python", "sql"],
        8,
    )


def test_a_resume_is_read_and_indexed_only_for_the_file_and_candidate_it_was_uploaded_with(services):
    tasks = ResumeUploadTasks(services)
    own, other = stored(services, pdf_resume(pages=1)), stored(services, pdf_resume(pages=2))
    record_details(services.db, "resume", "r-5", "received", candidate_id="c-5", file_ref=own)
    tasks.index_candidate("r-9", "c-9", ["go"], 2, candidate_name="Nia", candidate_email="nia@example.com")
    # file_ref or candidate_id set by hand since: no other file read, no other profile overwritten.
    for step in (
        lambda: tasks.validate_file("r-5", other),
        lambda: tasks.extract_text("r-5", other),
        lambda: tasks.index_candidate("r-5", "c-9", ["python"], 8, candidate_name="Cas"),
    ):
        with pytest.raises(PermanentFailure, match="was asked for with"):
            step()
    with services.db.sessions() as session:
        nia = session.get(Candidate, "c-9")
    assert (nia.resume_id, nia.skills, nia.name) == ("r-9", ["go"], "Nia")
    assert tasks.validate_file("r-5", own)["page_count"] == 1


def test_indexing_twice_keeps_one_candidate_with_the_latest_resume(services):
    tasks = ResumeUploadTasks(services)
    tasks.index_candidate("r-1", "c-1", ["python"], 3)
    tasks.index_candidate("r-2", "c-1", ["python", "sql"], 4)
    with services.db.sessions() as session:
        candidates = session.query(Candidate).all()
    assert [(c.resume_id, c.skills) for c in candidates] == [("r-2", ["python", "sql"])]


def test_indexing_keeps_the_contact_details_given_with_the_latest_resume(services):
    tasks = ResumeUploadTasks(services)
    tasks.index_candidate(
        "r-1", "c-1", ["python"], 3, candidate_name="Ada L", candidate_email="ada@old.example"
    )
    tasks.index_candidate(
        "r-2", "c-1", ["python"], 4, candidate_name="Ada Lovelace", candidate_email="ada@example.com"
    )
    # An instance started before the contact details were kept passes none: the last ones stay.
    tasks.index_candidate("r-3", "c-1", ["python"], 5)
    with services.db.sessions() as session:
        candidate = session.get(Candidate, "c-1")
    assert (candidate.resume_id, candidate.name, candidate.email) == (
        "r-3",
        "Ada Lovelace",
        "ada@example.com",
    )


def uploaded(services: Services, resume_id: str, at: str) -> None:
    """The record the webapp writes when it takes the file ``at`` that moment."""
    record_details(services.db, "resume", resume_id, "received", candidate_id="c-1", uploaded_at=at)


def test_an_older_resume_indexed_late_leaves_the_newer_ones_profile(services):
    # An old upload stuck in an incident for days, retried after the candidate uploaded a
    # new resume: its skills, name and email must not replace the new ones.
    tasks = ResumeUploadTasks(services)
    uploaded(services, "r-1", "2026-12-01T10:00:00.5+01:00")
    uploaded(services, "r-2", "2026-12-07T10:00:00Z")
    newer = {"candidate_name": "Ada Lovelace", "candidate_email": "ada@example.com"}
    assert tasks.index_candidate("r-2", "c-1", ["python", "sql"], 9, **newer) == {"indexed": True}
    assert tasks.index_candidate("r-1", "c-1", ["cobol"], 1, candidate_name="Ada L") == {"indexed": False}
    # The newer resume's own job delivered again still indexes it.
    assert tasks.index_candidate("r-2", "c-1", ["python", "sql"], 9, **newer) == {"indexed": True}
    with services.db.sessions() as session:
        candidate = session.get(Candidate, "c-1")
        profile = (candidate.resume_id, candidate.skills, candidate.name, candidate.email)
    assert profile == ("r-2", ["python", "sql"], "Ada Lovelace", "ada@example.com")

    # A resume whose record has no time (taken before uploads were timed, or started by an
    # admin), or one that is no moment, counts as uploaded now.
    record_details(services.db, "resume", "r-3", "received", candidate_id="c-1")
    assert tasks.index_candidate("r-3", "c-1", ["go"], 2) == {"indexed": True}
    uploaded(services, "r-4", "2026-12-02T09:00:00Z")
    assert tasks.index_candidate("r-4", "c-1", ["rust"], 3) == {"indexed": False}
    uploaded(services, "r-5", "yesterday")
    assert tasks.index_candidate("r-5", "c-1", ["java"], 4) == {"indexed": True}


@pytest.mark.parametrize("on_file", [True, False], ids=["candidate-on-file", "new-candidate"])
def test_of_an_older_and_a_newer_resume_indexed_at_once_the_newer_one_stays(services, on_file):
    # Each worker reads the profile and writes its own: one that read before the other wrote
    # would put the older resume back, unless the read waits for the write. A new candidate
    # has no row to lock: inserts meet in the primary key, and the loser indexes again on
    # top of the winner's row rather than failing its job.
    tasks = ResumeUploadTasks(services)
    uploaded(services, "r-old", "2026-12-01T10:00:00Z")
    uploaded(services, "r-new", "2026-12-07T10:00:00Z")
    if on_file:
        tasks.index_candidate("r-none-yet", "c-1", ["go"], 1)
        with services.db.sessions.begin() as session:
            session.get(Candidate, "c-1").resume_uploaded_at = None  # as indexed before 0019
    resumes = iter(["r-old", "r-new"] * 4)
    errors = errors_all_at_once(
        8, lambda: next(resumes), lambda resume_id: tasks.index_candidate(resume_id, "c-1", [resume_id], 1)
    )

    assert errors == []
    with services.db.sessions() as session:
        assert session.get(Candidate, "c-1").resume_id == "r-new"


def test_skills_that_are_not_texts_fail_at_once(services):
    tasks = ResumeUploadTasks(services)
    with pytest.raises(
        PermanentFailure, match=r"skills must be a list of texts, not \[\{'name': 'python'\}\]"
    ):
        tasks.index_candidate("r-9", "c-9", [{"name": "python"}], 3)
    with services.db.sessions() as session:
        assert session.get(Candidate, "c-9") is None


@pytest.mark.parametrize("skill", ["x" * 51, "", "python\x00"])
def test_a_skill_search_could_not_keep_fails_at_once(services, skill):
    # SQLite kept a 51-character skill and an empty one; PostgreSQL refused the long one (its
    # column is 50 characters) and the NUL.
    tasks = ResumeUploadTasks(services)
    with pytest.raises(PermanentFailure, match="each of the skills must be 1 to 50 characters"):
        tasks.index_candidate("r-9", "c-9", ["python", skill], 3)
    with services.db.sessions() as session:
        assert session.get(Candidate, "c-9") is None


def test_extracted_text_is_kept_by_reference_not_in_variables(services):
    tasks = ResumeUploadTasks(services)
    result = tasks.extract_text("r-1", stored(services, docx_resume()))
    assert list(result) == ["text_ref"]
    assert b"Senior Backend Engineer" in services.files.read(result["text_ref"])


@pytest.mark.parametrize(
    "data", [b"GIF89a....", pdf_resume()[:500], docx_zip_bomb()], ids=["gif", "cut-pdf", "bomb"]
)
def test_a_bad_file_raises_the_bpmn_error_not_a_crash(services, data):
    with pytest.raises(InvalidResume) as raised:
        ResumeUploadTasks(services).validate_file("r-1", stored(services, data))
    assert raised.value.error_code == "RESUME_INVALID"


def test_validation_checks_the_file_and_text_extraction_finds_it_has_no_text(services):
    tasks = ResumeUploadTasks(services)
    file_ref = stored(services, pdf_resume(lines=[]))
    assert tasks.validate_file("r-1", file_ref) == {"file_type": "pdf", "page_count": 1}
    with pytest.raises(InvalidResume) as raised:
        tasks.extract_text("r-1", file_ref)
    assert (raised.value.reason, raised.value.error_code) == ("no_text", "RESUME_INVALID")


def test_a_small_file_that_draws_megabytes_of_text_is_refused_as_the_candidates_file(services):
    # More text than a resume holds, and more than the store keeps for one text. Its reason
    # goes to the candidate, not to an operator's incident.
    tasks = ResumeUploadTasks(services)
    file_ref = stored(services, pdf_drawing_megabytes_of_text())
    assert tasks.validate_file("r-1", file_ref) == {"file_type": "pdf", "page_count": 1}
    with pytest.raises(InvalidResume) as raised:
        tasks.extract_text("r-1", file_ref)
    assert (raised.value.reason, raised.value.error_code) == ("too_much_text", "RESUME_INVALID")


def test_text_a_font_maps_to_half_surrogate_pairs_is_kept_as_utf8(services):
    data = pdf_with_page_content(
        b"BT /F1 12 Tf 72 720 Td (Python, 5 years: A) Tj ET", to_unicode={"41": "DC00"}
    )
    tasks = ResumeUploadTasks(services)
    text_ref = tasks.extract_text("r-1", stored(services, data))["text_ref"]
    assert services.files.read(text_ref).decode("utf-8") == "Python, 5 years: \ufffd"
    assert tasks.extract_skills("r-1", text_ref) == {"skills": ["python"], "years_of_experience": 5}


def test_a_resume_with_a_million_spaces_in_a_row_is_profiled(services):
    # 37 KB of DOCX; its text reaches extract-skills, which runs in the worker process.
    data = docx_resume(lines=["Python engineer", "5" + " " * 1_000_000 + "x", "2019 - 2021"])
    tasks = ResumeUploadTasks(services)
    text_ref = tasks.extract_text("r-1", stored(services, data))["text_ref"]
    assert tasks.extract_skills("r-1", text_ref) == {"skills": ["python"], "years_of_experience": 2}


def test_a_pdf_page_left_unread_is_named_in_the_log(services, caplog):
    good = b"BT /F1 12 Tf 72 720 Td (Python engineer, 8 years) Tj ET"
    broken = b"BT /F1 12 Tf 72 720 Td (Kubernetes Tj ET"  # a string that never ends
    tasks = ResumeUploadTasks(services)
    text_ref = tasks.extract_text("r-1", stored(services, pdf_with_pages([good, broken])))["text_ref"]
    assert services.files.read(text_ref) == b"Python engineer, 8 years"
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        "resume r-1: 1 of 2 pages could not be read and were left out "
        "(page 2: PdfStreamError: Stream has ended unexpectedly)"
    )
    # The resume's record says so too, for the recruiter who misses a skill on its page.
    left_unread = recorded_details(services.db, "resume", "r-1")["left_unread"]
    assert left_unread == ["page 2: PdfStreamError: Stream has ended unexpectedly"]
    # Read again whole (a fixed file under the same record), nothing is left out any more.
    tasks.extract_text("r-1", stored(services, pdf_with_pages([good])))
    assert "left_unread" not in recorded_details(services.db, "resume", "r-1")


def test_pdf_form_fields_left_unread_are_named_in_the_log(services, caplog):
    good = b"BT /F1 12 Tf 72 720 Td (Python engineer, 8 years) Tj ET"
    broken_form = b"<< /Fields [ << /FT /Tx /T (a) /Parent << /T 3 >> /V (Kubernetes) >> ] >>"
    tasks = ResumeUploadTasks(services)
    text_ref = tasks.extract_text("r-1", stored(services, pdf_with_pages([good], acro_form=broken_form)))
    assert services.files.read(text_ref["text_ref"]) == b"Python engineer, 8 years"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "job_workers.upload"]
    assert warning.startswith(
        "resume r-1: left out what could not be read: form fields: TypeError: unsupported operand"
    )
    [left_unread] = recorded_details(services.db, "resume", "r-1")["left_unread"]
    assert left_unread.startswith("form fields: TypeError")


def test_the_router_registers_every_upload_job_type_with_a_generous_timeout(services):
    router = build_router(services)
    timeouts = {task.type: task.config.timeout_ms for task in router.tasks}
    assert set(timeouts) == {
        JobType.VALIDATE_RESUME_FILE,
        JobType.EXTRACT_RESUME_TEXT,
        JobType.EXTRACT_RESUME_SKILLS,
        JobType.INDEX_CANDIDATE,
        JobType.RECORD_RESUME_OUTCOME,
    }
    assert min(timeouts.values()) >= 30_000


def test_the_workers_accept_what_the_webapp_accepts_and_take_the_parser_limits():
    from hireflow.parser_sandbox import ParserLimits
    from hireflow.resume_intake import DEFAULT_LIMITS
    from job_workers.services import intake_limits_from_environment

    assert intake_limits_from_environment({}) == DEFAULT_LIMITS
    limits = intake_limits_from_environment(
        {
            "HIREFLOW_MAX_UPLOAD_BYTES": str(10 * 2**20),
            "HIREFLOW_PARSER_CPU_SECONDS": "60",
            "HIREFLOW_PARSER_MEMORY_MB": "1024",
        }
    )
    assert limits.max_bytes == 10 * 2**20
    assert limits.parser == ParserLimits(cpu_seconds=60, memory_bytes=2**30)
    assert limits.max_pages == DEFAULT_LIMITS.max_pages
