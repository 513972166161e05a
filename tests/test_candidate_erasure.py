"""Erasing one candidate: ``DELETE /api/candidates/<id>`` through the webapp, on the engine.

The candidate's resume goes through resume-upload and an application through
resume-submission, both on the real engine with the product's workers, before the
erasure is asked for.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hireflow.adapters.file_store import FileNotFound
from hireflow.store import BusinessRecord, Candidate, EmailOutboxEntry
from tests.engine_helpers import (
    describe_instance,
    unique_key,
    wait_for,
    wait_until_completed,
    wait_until_element,
)
from tests.resume_samples import pdf_resume
from tests.web_helpers import resume_upload

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]


def processed_resume(web, process_engine, candidate_id: str, content: bytes) -> dict:
    """Upload ``content`` for the candidate and wait until resume-upload has finished."""
    email = f"{unique_key('cand')}@example.com"
    accepted = web.post(
        "/api/resumes", **resume_upload(content, candidate_id=candidate_id, candidate_email=email)
    )
    assert accepted.status_code == 202, accepted.json
    wait_until_completed(process_engine.client, accepted.json["processInstanceKey"])
    assert web.get(accepted.headers["Location"]).json["status"] == "processed"
    return accepted.json


def stored_refs(local_world, resume_id: str) -> list[str]:
    with local_world.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("resume", resume_id)).details
    return [details["file_ref"], details["text_ref"]]


def outbox_keys_of(local_world, business_id: str) -> list[str]:
    with local_world.services.db.sessions() as session:
        keys = session.scalars(select(EmailOutboxEntry.dedupe_key))
        return [key for key in keys if f":{business_id}:" in key]


def found_by_search(web, skills: str) -> list[str]:
    """Every candidate id an employer's search for ``skills`` finds, page after page."""
    found, after = [], ""
    while True:
        page = web.get(f"/api/candidates?skills={skills}{after}").json
        found += [candidate["candidateId"] for candidate in page["candidates"]]
        if page["next"] is None:
            return found
        after = f"&after={page['next']}"


def test_a_candidate_is_erased_once_their_items_have_ended(web, process_engine, local_world):
    candidate_id = unique_key("cand")
    content = pdf_resume(pages=2, lines=[f"Ref {candidate_id}", "Python and SQL"])
    resume = processed_resume(web, process_engine, candidate_id, content)
    file_ref, text_ref = stored_refs(local_world, resume["id"])
    assert outbox_keys_of(local_world, resume["id"])  # the resume-received email's entry
    assert candidate_id in found_by_search(web, "python,sql")
    # A middling match (python, not go): it waits for a recruiter's screening.
    posting_id = local_world.add_posting(["python", "go"])
    application = web.post(
        "/api/applications",
        json={
            "candidate_id": candidate_id,
            "candidate_name": "Ada Lovelace",
            "candidate_email": f"{unique_key('ada')}@example.com",
            "posting_id": posting_id,
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    assert application.status_code == 202, application.json
    application_id = application.json["id"]
    wait_until_element(process_engine.client, application.json["processInstanceKey"], "ScreenApplication")
    # The posting's employer sees it among the applications, as scored.
    applied = web.get(f"/api/postings/{posting_id}/applications").json["applications"]
    assert [(a["applicationId"], a["matchedSkills"]) for a in applied] == [(application_id, ["python"])]

    refused = web.delete(f"/api/candidates/{candidate_id}")
    assert refused.status_code == 409, refused.json
    assert f"application {application_id}" in refused.json["detail"]
    assert local_world.services.files.read(file_ref)  # nothing was erased

    assert web.post(f"/api/applications/{application_id}/withdrawal").status_code == 202
    wait_for(
        lambda: web.get(f"/api/applications/{application_id}").json["final"],
        what="the withdrawal",
        seen=lambda: describe_instance(process_engine.client, application.json["processInstanceKey"]),
    )
    # What the candidate may ask to see first (GDPR art. 15): all that the erasure removes.
    kept = web.get(f"/api/candidates/{candidate_id}")
    assert kept.status_code == 200, kept.json
    assert kept.json["profile"]["email"].endswith("@example.com")
    assert kept.json["profile"]["skills"] == ["python", "sql"]
    assert [(i["kind"], i["id"]) for i in kept.json["items"]] == [
        ("resume", resume["id"]),
        ("application", application_id),
    ]
    assert kept.json["files"] == sorted([file_ref, text_ref])
    assert "resume-received" in [email["template"] for email in kept.json["emails"]]
    assert resume["processInstanceKey"] in kept.json["engine"]["processInstanceKeys"]

    erased = web.delete(f"/api/candidates/{candidate_id}")

    assert erased.status_code == 200, erased.json
    report = erased.json
    assert sorted(report["erased"]["items"]) == sorted(
        [f"resume {resume['id']}", f"application {application_id}"]
    )
    assert report["erased"]["profile"] is True
    assert report["erased"]["files"] == 2 and report["erased"]["emails"] >= 1
    assert resume["processInstanceKey"] in report["engine"]["processInstanceKeys"]
    for ref in (file_ref, text_ref):
        with pytest.raises(FileNotFound):
            local_world.services.files.read(ref)
    with local_world.services.db.sessions() as session:
        assert session.get(Candidate, candidate_id) is None
    assert candidate_id not in found_by_search(web, "python,sql")
    assert web.get(f"/api/postings/{posting_id}/applications").json["applications"] == []
    assert outbox_keys_of(local_world, resume["id"]) == []
    status = web.get(f"/api/resumes/{resume['id']}").json
    assert (status["status"], status["final"]) == ("erased", True)
    assert "filename" not in status["details"] and "candidate_id" not in status["details"]

    assert web.delete(f"/api/candidates/{candidate_id}").status_code == 404  # nothing is left
    assert web.get(f"/api/candidates/{candidate_id}").status_code == 404  # nothing ties to them

    # The same candidate may come back with the same file: it is a new upload, processed anew.
    again = processed_resume(web, process_engine, candidate_id, content)
    assert again["id"] == resume["id"] and again["created"] is True
    assert again["processInstanceKey"] != resume["processInstanceKey"]
    assert all(local_world.services.files.exists(ref) for ref in stored_refs(local_world, resume["id"]))
    assert "erased_at" not in web.get(f"/api/resumes/{resume['id']}").json["details"]


def test_a_file_two_candidates_uploaded_stays_until_both_are_erased(web, process_engine, local_world):
    same_bytes = pdf_resume(pages=1, lines=[f"Shared {unique_key('cv')}", "Python and SQL"])
    first, second = unique_key("cand"), unique_key("cand")
    first_resume = processed_resume(web, process_engine, first, same_bytes)
    processed_resume(web, process_engine, second, same_bytes)
    refs = stored_refs(local_world, first_resume["id"])

    assert web.delete(f"/api/candidates/{first}").json["erased"]["files"] == 0
    assert all(local_world.services.files.read(ref) for ref in refs)  # the other candidate's resume
    assert web.delete(f"/api/candidates/{second}").json["erased"]["files"] == 2
    assert not any(local_world.services.files.exists(ref) for ref in refs)


def test_an_unknown_candidate_is_404_and_a_malformed_id_400(web):
    assert web.delete(f"/api/candidates/{unique_key('nobody')}").status_code == 404
    assert web.delete("/api/candidates/..%2Fetc").status_code == 404  # a path, which no route takes
    malformed = web.delete("/api/candidates/-starts-with-a-dash")
    assert malformed.status_code == 400
    assert malformed.json["invalid_params"][0]["name"] == "candidate_id"
