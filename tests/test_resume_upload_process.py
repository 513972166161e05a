"""resume-upload on a real Zeebe engine with the product's worker (issue 4, process 1)."""

from __future__ import annotations

import io

import pytest

from hireflow.constants import ProcessId
from hireflow.store import BusinessRecord, Candidate
from tests.engine_helpers import (
    cancel_if_running,
    unique_key,
    wait_for_incident,
    wait_until_completed,
    wait_until_element,
)
from tests.resume_samples import pdf_drawing_megabytes_of_text, pdf_resume, word_file_saved_as

# Every test here runs the product's worker against the engine.
pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]


def start_upload(process_engine, local_world, content: bytes) -> tuple[str, dict]:
    file_ref = local_world.services.files.put(io.BytesIO(content), max_bytes=10 * 1024 * 1024)
    variables = {
        "resume_id": unique_key("resume"),
        "candidate_id": unique_key("cand"),
        "candidate_name": "Ada Lovelace",
        "candidate_email": f"{unique_key('ada')}@example.com",
        "file_ref": file_ref,
    }
    created = process_engine.client.create_process_instance(ProcessId.RESUME_UPLOAD, variables)
    return created["processInstanceKey"], variables


def resume_status(local_world, resume_id: str) -> str | None:
    record = resume_record(local_world, resume_id)
    return record.status if record else None


def resume_record(local_world, resume_id: str) -> BusinessRecord | None:
    with local_world.services.db.sessions() as session:
        return session.get(BusinessRecord, ("resume", resume_id))


def test_a_good_pdf_is_indexed_and_the_candidate_told(process_engine, local_world):
    instance, variables = start_upload(process_engine, local_world, pdf_resume(pages=2))

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ResumeProcessed", state="COMPLETED")
    assert resume_status(local_world, variables["resume_id"]) == "processed"

    with local_world.services.db.sessions() as session:
        candidate = session.get(Candidate, variables["candidate_id"])
    assert candidate.resume_id == variables["resume_id"]
    assert candidate.skills[:2] == ["python", "sql"]
    mails = local_world.mails_to(variables["candidate_email"])
    assert len(mails) == 1
    stored = {v["name"] for v in process_engine.client.search_variables(processInstanceKey=instance)}
    assert "text_ref" in stored and "text" not in stored  # the text stays in the file store


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"GIF89a not a resume at all", "It is an image (GIF)."),
        # Named .docx at the door, refused by its main part: macros never reach an employer.
        (word_file_saved_as("docm"), "It is a Word document with macros (.docm)."),
    ],
    ids=["image", "word-with-macros"],
)
def test_a_file_that_is_not_a_resume_ends_with_a_please_reupload_email(
    process_engine, local_world, content, named
):
    instance, variables = start_upload(process_engine, local_world, content)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ResumeNotUsable", state="COMPLETED")
    assert resume_status(local_world, variables["resume_id"]) == "rejected"
    assert not process_engine.client.search_element_instances(
        processInstanceKey=instance, elementId="ReadResumeText"
    )
    [mail] = local_world.mails_to(variables["candidate_email"])
    # The BPMN error's reason reaches the email through the boundary event's output mapping.
    told = f"The file is not a PDF or Word (.docx) document. {named}"
    assert told in mail["text"]
    # The status says why, for whoever asks the webapp instead of reading the mail.
    details = resume_record(local_world, variables["resume_id"]).details
    assert details["rejection_reason"] == "unsupported_type"
    assert details["rejection_message"] == told


@pytest.mark.parametrize(
    ("content", "told"),
    [
        # A scan: a valid PDF whose pages hold no text layer, so the check passes and reading fails.
        (pdf_resume(lines=[]), "No text could be read from the document (is it a scanned image?)"),
        (pdf_drawing_megabytes_of_text(), "The document holds far more text than a resume does."),
    ],
    ids=["no-text", "megabytes-of-text"],
)
def test_a_pdf_whose_text_cannot_serve_ends_with_a_please_reupload_email(
    process_engine, local_world, content, told
):
    instance, variables = start_upload(process_engine, local_world, content)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "TextUnreadable", state="COMPLETED")
    wait_until_element(process_engine.client, instance, "ResumeNotUsable", state="COMPLETED")
    assert resume_status(local_world, variables["resume_id"]) == "rejected"
    [mail] = local_world.mails_to(variables["candidate_email"])
    assert told in mail["text"]


def test_an_upload_started_without_its_file_is_an_incident_at_once_that_names_the_variable(process_engine):
    """An admin start without ``file_ref``: retrying cannot make it appear, so no retries are spent."""
    resume_id = unique_key("resume")
    created = process_engine.client.create_process_instance(
        ProcessId.RESUME_UPLOAD, {"resume_id": resume_id, "candidate_id": unique_key("cand")}
    )
    instance = created["processInstanceKey"]
    try:
        incident = wait_for_incident(process_engine.client, instance)
        message = incident["errorMessage"]
        assert incident["errorType"] == "JOB_NO_RETRIES"
        assert message.startswith("Cannot succeed with this data, at CheckResumeFile")
        assert f"for resume {resume_id}" in message
        assert "the process instance has no variable file_ref, which validate_file needs" in message
        # Failed once, with no retries left: not retried with backoff as an unexpected error.
        [job] = process_engine.client.search_jobs(processInstanceKey=instance)
        assert job["retries"] == 0
    finally:
        cancel_if_running(process_engine.client, instance)
