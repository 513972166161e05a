"""resume-submission on a real Zeebe engine with the product's worker (issue 4, process 2).

The application-routing decision's three routes, recruiter screening with its P1D
reminder and P3D escalation, withdrawal at any point, and an incident an operator
repairs.
"""

from __future__ import annotations

import pytest

from hireflow.constants import Message, ProcessId
from hireflow.store import BusinessRecord
from tests.engine_helpers import (
    unique_key,
    wait_for,
    wait_for_incident,
    wait_for_user_task,
    wait_until_completed,
    wait_until_element,
)

# Every test here runs the product's worker against the engine.
pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

ONE_DAY_MS = 24 * 60 * 60 * 1000
CANDIDATE_SKILLS = ["python", "sql"]


def apply(process_engine, local_world, posting_id: str) -> tuple[str, dict]:
    candidate_id = local_world.add_candidate(CANDIDATE_SKILLS, years_of_experience=5)
    variables = {
        "application_id": unique_key("app"),
        "candidate_id": candidate_id,
        "candidate_name": "Grace Hopper",
        "candidate_email": f"{candidate_id}@example.com",
        "posting_id": posting_id,
        "employer_email": f"{unique_key('employer')}@example.com",
        "recruiter_team_email": f"{unique_key('recruiters')}@example.com",
    }
    created = process_engine.client.create_process_instance(ProcessId.RESUME_SUBMISSION, variables)
    return created["processInstanceKey"], variables


def application_status(local_world, application_id: str) -> str | None:
    record = application_record(local_world, application_id)
    return record.status if record else None


def application_record(local_world, application_id: str) -> BusinessRecord | None:
    with local_world.services.db.sessions() as session:
        return session.get(BusinessRecord, ("application", application_id))


def test_a_strong_match_is_forwarded_and_both_sides_told(process_engine, local_world):
    instance, v = apply(process_engine, local_world, local_world.add_posting(["python", "sql"]))

    wait_until_completed(process_engine.client, instance)
    assert not process_engine.client.get_process_instance(instance)["hasIncident"]
    wait_until_element(process_engine.client, instance, "CandidateShortlisted", state="COMPLETED")
    assert application_status(local_world, v["application_id"]) == "shortlisted"
    # The match that decided the routing is part of the status.
    details = application_record(local_world, v["application_id"]).details
    assert (details["match_score"], details["matched_skills"]) == (100, ["python", "sql"])
    [to_candidate] = local_world.mails_to(v["candidate_email"])
    [to_employer] = local_world.mails_to(v["employer_email"])
    # The candidate may withdraw from the email: a link signed for this application.
    [link] = [word for word in to_candidate["text"].split() if "/applications/withdrawal/" in word]
    assert local_world.services.withdrawal_links.read(link.rsplit("/", 1)[1]) == v["application_id"]
    # The employer may unlock the candidate from theirs, by a link of its own kind.
    [link] = [word for word in to_employer["text"].split() if "/applications/unlock/" in word]
    assert local_world.services.unlock_links.read(link.rsplit("/", 1)[1]) == v["application_id"]


def test_a_weak_match_is_kindly_declined_without_screening(process_engine, local_world):
    posting = local_world.add_posting(["cobol", "fortran"], min_years=20)
    instance, v = apply(process_engine, local_world, posting)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ApplicationDeclined", state="COMPLETED")
    assert not process_engine.client.search_user_tasks(processInstanceKey=instance)
    assert application_status(local_world, v["application_id"]) == "declined"
    assert application_record(local_world, v["application_id"]).details["matched_skills"] == []
    assert "screening" not in application_record(local_world, v["application_id"]).details
    assert local_world.mails_to(v["employer_email"]) == []


def test_a_middling_match_is_screened_by_a_recruiter(process_engine, local_world):
    instance, v = apply(process_engine, local_world, local_world.add_posting(["python", "go"]))
    task = wait_for_user_task(process_engine.client, instance, "ScreenApplication")
    assert task["candidateGroups"] == ["recruiters"]

    answers = {"screening_decision": "shortlist", "screening_note": " Strong Python, no Go yet. "}
    process_engine.client.complete_user_task(task["userTaskKey"], answers)

    wait_until_completed(process_engine.client, instance)
    assert not process_engine.client.get_process_instance(instance)["hasIncident"]
    wait_until_element(process_engine.client, instance, "CandidateShortlisted", state="COMPLETED")
    # The form's "note for the file" is kept in the file, with the decision it explains.
    details = application_record(local_world, v["application_id"]).details
    assert details["screening"] == {"decision": "shortlist", "note": "Strong Python, no Go yet."}


def test_screening_reminds_after_a_day_and_escalates_after_three(process_engine, local_world):
    instance, v = apply(process_engine, local_world, local_world.add_posting(["python", "go"]))
    wait_for_user_task(process_engine.client, instance, "ScreenApplication")

    process_engine.client.advance_clock(ONE_DAY_MS + 60_000)
    wait_until_element(process_engine.client, instance, "RecruitersReminded", state="COMPLETED")
    assert len(local_world.mails_to(v["recruiter_team_email"])) == 1
    assert process_engine.client.search_user_tasks(
        processInstanceKey=instance, elementId="ScreenApplication", state="CREATED"
    )

    process_engine.client.advance_clock(2 * ONE_DAY_MS)
    review = wait_for_user_task(process_engine.client, instance, "ReviewOverdueApplication")
    assert review["candidateGroups"] == ["lead-recruiters"]
    process_engine.client.complete_user_task(review["userTaskKey"], {"screening_decision": "reject"})

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ApplicationDeclined", state="COMPLETED")
    assert application_record(local_world, v["application_id"]).details["screening"] == {"decision": "reject"}


def test_a_withdrawal_during_screening_ends_the_application(process_engine, local_world):
    instance, v = apply(process_engine, local_world, local_world.add_posting(["python", "go"]))
    task = wait_for_user_task(process_engine.client, instance, "ScreenApplication")

    process_engine.client.publish_message(Message.APPLICATION_WITHDRAWN, v["application_id"])

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ApplicationWithdrawn", state="COMPLETED")
    [cancelled] = process_engine.client.search_user_tasks(userTaskKey=task["userTaskKey"])
    assert cancelled["state"] == "CANCELED"
    assert application_status(local_world, v["application_id"]) == "withdrawn"


def test_an_unknown_posting_is_an_incident_an_operator_can_repair(process_engine, local_world):
    missing_posting = unique_key("posting")
    instance, v = apply(process_engine, local_world, missing_posting)

    incident = wait_for_incident(process_engine.client, instance)
    assert incident["elementId"] == "ScoreMatch"
    assert missing_posting in incident["errorMessage"]  # tells the operator what to fix
    # The instance says so too (the webapp's item page shows it, with a link to Operate).
    wait_for(
        lambda: process_engine.client.get_process_instance(instance)["hasIncident"],
        what="the instance to show its incident",
        seen=lambda: process_engine.client.get_process_instance(instance),
    )

    local_world.add_posting(["python", "sql"], posting_id=missing_posting)
    process_engine.client.update_job_retries(incident["jobKey"], 1)
    process_engine.client.resolve_incident(incident["incidentKey"])

    wait_until_completed(process_engine.client, instance)
    assert not process_engine.client.get_process_instance(instance)["hasIncident"]
    wait_until_element(process_engine.client, instance, "CandidateShortlisted", state="COMPLETED")
