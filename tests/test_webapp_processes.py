"""The webapp in front of the real engine, with the product's worker doing the work (issue 5).

Each test goes through Flask's test client: the requests a browser, a client or the
payment provider would send, and what the processes then do.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest
import requests

from chaos.flows import SLOT_ALREADY_CHOSEN
from hireflow.constants import ProcessId
from hireflow.model_checks import MODELS_DIR
from hireflow.sandboxes.payment_webhooks import WebhookDispatcher, WebhookSettings
from hireflow.seed import load_demo_data
from hireflow.store import CalendarBooking, ContactAccess, RequestClaim
from job_workers.records import record_status
from tests.engine_helpers import (
    cancel_if_running,
    describe_instance,
    process_variable,
    unique_key,
    wait_for,
    wait_for_incident,
    wait_for_user_task,
    wait_until_completed,
    wait_until_element,
)
from tests.resume_samples import pdf_resume
from tests.test_interview_scheduling_process import (
    advance_engine_clock_past,
    choose_first_slot,
    request_interview,
)
from tests.web_helpers import (
    ADMIN,
    WEBHOOK_SECRET,
    csrf_token,
    payment_succeeded,
    resume_upload,
    signed_webhook,
)
from webapp.blueprints.ui import URL_IN_TEXT
from webapp.local_forms import bundled_forms, user_task_form_ids, variables_shown

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]


def test_an_uploaded_resume_is_processed_and_a_repeat_starts_nothing(web, process_engine, local_world):
    content = pdf_resume(pages=1)
    email = f"{unique_key('ada')}@example.com"
    candidate_id = unique_key("cand")

    first = web.post(
        "/api/resumes", **resume_upload(content, candidate_id=candidate_id, candidate_email=email)
    )
    assert first.status_code == 202, first.json
    assert first.json["created"] is True
    again_sent_at = datetime.now(UTC)
    again = web.post(
        "/api/resumes", **resume_upload(content, candidate_id=candidate_id, candidate_email=email)
    )
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert again.json["processInstanceKey"] == first.json["processInstanceKey"]

    wait_until_completed(process_engine.client, first.json["processInstanceKey"])
    status = web.get(first.headers["Location"]).json
    assert status["status"] == "processed" and status["final"] is True
    # When the file was taken, once: the repeat kept the first upload's time.
    assert datetime.fromisoformat(status["details"]["uploaded_at"]) < again_sent_at
    assert status["engine"]["state"] == "COMPLETED"
    # What search read from it; the name and email stay out (an unlock pays for them).
    assert status["profile"]["yearsOfExperience"] == 8
    assert {"python", "sql", "docker", "kubernetes"} <= set(status["profile"]["skills"])
    page = web.get(f"/items/resume/{first.json['id']}").text
    assert re.search(r'data-testid="profile">skills: [^<]*python', page)
    instances = [
        v
        for v in process_engine.client.search_variables(name="resume_id", value=json.dumps(first.json["id"]))
    ]
    assert len({v["processInstanceKey"] for v in instances}) == 1
    assert len(local_world.mails_to(email)) == 1


def test_an_earlier_resume_uploaded_again_becomes_the_profile_again(web, process_engine):
    candidate_id = unique_key("cand")

    def upload(content: bytes) -> dict:
        sent = web.post("/api/resumes", **resume_upload(content, candidate_id=candidate_id))
        assert sent.status_code == 202, sent.json
        wait_until_completed(process_engine.client, sent.json["processInstanceKey"])
        return web.get(sent.headers["Location"]).json

    python = pdf_resume(pages=1)
    earlier = upload(python)
    newer = upload(pdf_resume(["Grace Hopper", "5 years of COBOL and SQL"]))
    again = upload(python)

    assert newer["profile"]["skills"] == ["sql"]  # the newer one was the profile's
    for before in (earlier, newer):  # neither is now
        assert web.get(f"/api/resumes/{before['id']}").json["profile"] is None
    assert again["id"] != earlier["id"] and again["details"]["attempt"] == 2
    assert again["profile"]["yearsOfExperience"] == 8
    assert "python" in again["profile"]["skills"]


def test_an_unlock_shows_the_contact_details_given_with_the_resume_until_an_erasure(
    web, process_engine, local_world
):
    candidate_id, email = unique_key("cand"), f"{unique_key('ada')}@example.com"
    uploaded = web.post(
        "/api/resumes",
        **resume_upload(pdf_resume(pages=1), candidate_id=candidate_id, candidate_email=email),
    )
    wait_until_completed(process_engine.client, uploaded.json["processInstanceKey"])
    assert "contact" not in web.get(uploaded.headers["Location"]).json  # an unlock's alone

    employer_id = unique_key("emp")
    unlock = web.post(
        "/api/unlocks",
        json={
            "employer_id": employer_id,
            "employer_email": f"{employer_id}@example.com",
            "candidate_id": candidate_id,
            "payment_method_ref": "pm_card_visa",
        },
    )
    assert unlock.status_code == 202, unlock.json
    wait_until_completed(process_engine.client, unlock.json["processInstanceKey"])
    unlocked = web.get(unlock.headers["Location"]).json
    assert unlocked["status"] == "unlocked"
    assert unlocked["contact"] == {"name": "Ada Lovelace", "email": email}
    page = web.get(f"/items/unlock/{unlock.json['id']}").text
    assert f'href="mailto:{email}"' in page and "Ada Lovelace" in page
    # The marketplace asks by employer and candidate, without keeping the unlock's id.
    contact = f"/api/candidates/{candidate_id}/contact"
    seen = web.get(contact, query_string={"employer_id": employer_id})
    assert seen.status_code == 200, seen.json
    assert (seen.json["name"], seen.json["email"], seen.json["unlockId"]) == (
        "Ada Lovelace",
        email,
        unlock.json["id"],
    )
    not_unlocked = web.get(contact, query_string={"employer_id": unique_key("other")})
    assert not_unlocked.status_code == 404 and "has no access" in not_unlocked.json["detail"]

    # The candidate's erasure takes the employer's access, and the details, with it.
    assert web.delete(f"/api/candidates/{candidate_id}").status_code == 200
    after = web.get(unlock.headers["Location"]).json
    assert after["status"] == "unlocked" and after["contact"] is None
    assert web.get(contact, query_string={"employer_id": employer_id}).status_code == 404


def test_an_admin_start_with_the_same_business_key_starts_one_instance(web, process_engine, local_world):
    candidate_id = local_world.add_candidate()
    body = {
        "processDefinitionId": "resume-unlock",
        "businessKey": unique_key("admin-unlock"),
        "variables": {
            "unlock_id": unique_key("unlock"),
            "employer_id": unique_key("emp"),
            "employer_email": "hr@acme.example",
            "candidate_id": candidate_id,
            "employer_plan": "standard",
            "years_of_experience": 4,
            "payment_method_ref": "pm_card_visa",
        },
    }
    first = web.post("/api/admin/process-instances", json=body, headers=ADMIN)
    second = web.post("/api/admin/process-instances", json=body, headers=ADMIN)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["processInstanceKey"] == second.json["processInstanceKey"]
    changed = web.post(
        "/api/admin/process-instances", json={**body, "variables": {"other": 1}}, headers=ADMIN
    )
    assert changed.status_code == 409 and "business key of its own" in changed.json["detail"]
    assert web.post("/api/admin/process-instances", json=body).status_code == 401
    unknown = web.post(
        "/api/admin/process-instances",
        json={**body, "processDefinitionId": "no-such-process"},
        headers=ADMIN,
    )
    assert unknown.status_code == 400
    assert unknown.json["invalid_params"] == [
        {
            "name": "processDefinitionId",
            "reason": "no process 'no-such-process' is deployed (GET /api/admin/processes lists them)",
        }
    ]
    listed = web.get("/api/admin/processes", headers=ADMIN).json["items"]
    assert {"resume-upload", "resume-unlock"} <= {p["processDefinitionId"] for p in listed}


def test_admins_deploy_the_bundled_models_and_broken_ones_are_refused(web):
    bundled = web.post("/api/admin/deployments/bundled", headers=ADMIN)
    assert bundled.status_code == 201
    assert "resume-upload.bpmn" in bundled.json["resources"]
    broken = web.post(
        "/api/admin/deployments",
        data={"resources": (io.BytesIO(b"<definitions>not a process</definitions>"), "broken.bpmn")},
        content_type="multipart/form-data",
        headers=ADMIN,
    )
    assert broken.status_code == 422
    assert broken.json["title"] == "Deployment refused"
    # The engine's words about the file, not its whole answer as a Python dict.
    assert "broken.bpmn" in broken.json["detail"] and not broken.json["detail"].startswith("{")
    # Forms are bound by deployment: a diagram deployed without them is refused, and says so.
    without_forms = web.post(
        "/api/admin/deployments",
        data={"resources": (io.BytesIO((MODELS_DIR / "interview-scheduling.bpmn").read_bytes()), "i.bpmn")},
        content_type="multipart/form-data",
        headers=ADMIN,
    )
    assert without_forms.status_code == 422
    assert "Expected to find form with id 'interview-feedback'" in without_forms.json["detail"]
    wrong_kind = web.post(
        "/api/admin/deployments",
        data={"resources": (io.BytesIO(b"#!/bin/sh"), "run.sh")},
        content_type="multipart/form-data",
        headers=ADMIN,
    )
    assert wrong_kind.status_code == 400


def test_a_signed_payment_webhook_unblocks_the_unlock_once_and_a_forged_one_is_refused(
    web, process_engine, local_world
):
    candidate_id = local_world.add_candidate()
    employer_id = unique_key("emp")
    accepted = web.post(
        "/api/unlocks",
        json={
            "employer_id": employer_id,
            "employer_email": f"{employer_id}@example.com",
            "candidate_id": candidate_id,
            "payment_method_ref": "pm_card_async",  # the sandbox settles it later, by webhook
        },
    )
    assert accepted.status_code == 202, accepted.json
    instance = accepted.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")
    payment_id = process_variable(process_engine.client, instance, "payment_id")
    event = payment_succeeded(unique_key("evt").replace("-", "_"), payment_id, accepted.json["id"])

    forged = web.post("/webhooks/payments", **signed_webhook(event, secret="whsec_not_ours"))
    assert forged.status_code == 400
    assert "signature" in forged.json["detail"]
    with local_world.services.db.sessions() as session:
        assert session.get(RequestClaim, ("message:payment-confirmed", event["id"])) is None
    assert process_engine.client.get_process_instance(instance)["state"] == "ACTIVE"

    delivered = web.post("/webhooks/payments", **signed_webhook(event))
    redelivered = web.post("/webhooks/payments", **signed_webhook(event))
    assert (delivered.status_code, redelivered.status_code) == (202, 200)
    assert redelivered.json["status"] == "duplicate"

    wait_until_completed(process_engine.client, instance)
    confirmed = process_engine.client.search_element_instances(
        processInstanceKey=instance, elementId="AwaitConfirmation", state="COMPLETED"
    )
    assert len(confirmed) == 1
    with local_world.services.db.sessions() as session:
        assert session.get(ContactAccess, (employer_id, candidate_id)) is not None
    assert web.get(accepted.headers["Location"]).json["status"] == "unlocked"


def test_a_slot_link_used_twice_books_once(web, process_engine, local_world):
    candidate_id = local_world.add_candidate()
    candidate_email = f"{unique_key('grace')}@example.com"
    application = web.post(
        "/api/applications",
        json={
            "candidate_id": candidate_id,
            "candidate_name": "Grace Hopper",
            "candidate_email": candidate_email,
            "posting_id": local_world.add_posting(["python"]),
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    assert application.status_code == 202, application.json
    panel = [
        {"username": unique_key("alice"), "email": "alice@acme.example", "name": "Alice"},
        {"username": unique_key("bob"), "email": "bob@acme.example", "name": "Bob"},
    ]
    interview_request = {
        "application_id": application.json["id"],
        "candidate_name": "Grace Hopper",
        "candidate_email": candidate_email,
        "lead_recruiter_email": "lead@acme.example",
        "panel": panel,
    }
    interview = web.post("/api/interviews", json=interview_request)
    assert interview.status_code == 202, interview.json
    instance = interview.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")
    [mail] = wait_for(
        lambda: [
            m for m in local_world.mails_to(candidate_email) if "/interviews/slot/" in (m["text"] or "")
        ],
        what="the slot links email",
        seen=lambda: local_world.mails_to(candidate_email),
    )
    token = re.search(r"/interviews/slot/([A-Za-z0-9._-]+)", mail["text"]).group(1)

    page = web.get(f"/interviews/slot/{token}")
    assert page.status_code == 200 and "Confirm this slot" in page.text
    # The page names the time as the email did: "Monday 14 December 2026, 09:00 UTC",
    # and the end: "Monday 14 December 2026, 09:00 to 10:00 UTC".
    first_time = re.search(r"- (\w+ \d+ \w+ \d{4}, \d\d:\d\d) UTC: ", mail["text"]).group(1)
    assert f'data-testid="slot-time">{first_time} to ' in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    form = {"csrf_token": csrf_token(page.text)}
    first = web.post(f"/interviews/slot/{token}", data=form)
    second = web.post(f"/interviews/slot/{token}", data=form)
    assert (first.status_code, second.status_code) == (202, 200)
    assert web.post(f"/interviews/slot/{token}", data={}).status_code == 400  # no CSRF token

    interview_id = interview.json["id"]
    wait_for(
        lambda: web.get(f"/api/interviews/{interview_id}").json["status"] == "scheduled",
        what="the booking",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    booked = process_engine.client.search_element_instances(processInstanceKey=instance, elementId="BookSlot")
    assert len(booked) == 1
    with local_world.services.db.sessions() as session:
        assert session.get(CalendarBooking, interview_id).status == "booked"
    assert web.get(f"/interviews/slot/{token}x").status_code == 404  # tampered

    # Once booked, the links say so, and the other times are no longer offered.
    chosen_again = web.get(f"/interviews/slot/{token}")
    assert "This time is booked for your interview" in chosen_again.text
    assert SLOT_ALREADY_CHOSEN.search(chosen_again.text)  # as the chaos flows read it
    assert "Confirm this slot" not in chosen_again.text
    other_token = re.findall(r"/interviews/slot/([A-Za-z0-9._-]+)", mail["text"])[1]
    other = web.get(f"/interviews/slot/{other_token}")
    assert f"already booked for {first_time}" in other.text and "Confirm this slot" not in other.text
    refused = web.post(f"/interviews/slot/{other_token}", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 409 and "already booked" in refused.text
    assert web.post(f"/interviews/slot/{token}", data=form).status_code == 200

    cancelled = web.post(f"/api/interviews/{interview_id}/cancellation")
    repeated = web.post(f"/api/interviews/{interview_id}/cancellation")
    assert (cancelled.status_code, repeated.status_code) == (202, 200)
    wait_until_completed(process_engine.client, instance)

    # The cancelled interview is over: asking again schedules a new one, not the old answer.
    assert web.get(f"/api/interviews/{interview_id}").json["status"] == "cancelled"
    rescheduled = web.post("/api/interviews", json=interview_request)
    assert rescheduled.status_code == 202 and rescheduled.json["id"] != interview_id
    assert web.get(rescheduled.headers["Location"]).json["details"]["attempt"] == 2
    web.post(f"/api/interviews/{rescheduled.json['id']}/cancellation")
    wait_until_completed(process_engine.client, rescheduled.json["processInstanceKey"])


def test_a_candidate_who_cannot_make_it_asks_from_the_invitation_and_chooses_another_time(
    web, process_engine, local_world
):
    candidate_email = f"{unique_key('mary')}@example.com"
    panelist_email = f"{unique_key('alice')}@acme.example"
    application = web.post(
        "/api/applications",
        json={
            "candidate_id": local_world.add_candidate(),
            "candidate_name": "Mary Jackson",
            "candidate_email": candidate_email,
            "posting_id": local_world.add_posting(["python"]),
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    interview = web.post(
        "/api/interviews",
        json={
            "application_id": application.json["id"],
            "candidate_name": "Mary Jackson",
            "candidate_email": candidate_email,
            "lead_recruiter_email": "lead@acme.example",
            "panel": [{"username": unique_key("alice"), "email": panelist_email, "name": "Alice"}],
        },
    )
    assert interview.status_code == 202, interview.json
    instance, interview_id = interview.json["processInstanceKey"], interview.json["id"]

    def candidates_mails(path: str, count: int) -> list[dict]:
        return wait_for(
            lambda: (
                len(found := [m for m in local_world.mails_to(candidate_email) if path in (m["text"] or "")])
                == count
                and found
            ),
            what=f"{count} email(s) with {path}",
            seen=lambda: describe_instance(process_engine.client, instance),
        )

    def choose_the_first_time(offer: dict) -> None:
        token = re.search(r"/interviews/slot/([A-Za-z0-9._-]+)", offer["text"]).group(1)
        page = web.get(f"/interviews/slot/{token}")
        assert (
            web.post(f"/interviews/slot/{token}", data={"csrf_token": csrf_token(page.text)}).status_code
            == 202
        )

    [first_offer] = candidates_mails("/interviews/slot/", 1)
    first_times = process_variable(process_engine.client, instance, "proposed_slots")
    choose_the_first_time(first_offer)
    [invitation] = candidates_mails("/interviews/reschedule/", 1)
    link = "/interviews/reschedule/" + re.search(
        r"/interviews/reschedule/([A-Za-z0-9._-]+)", invitation["text"]
    ).group(1)
    page = web.get(link)
    assert page.status_code == 200 and "Ask for another time" in page.text
    asked = web.post(link, data={"csrf_token": csrf_token(page.text)})
    assert asked.status_code == 202, asked.text

    # The model gives up the time, tells everyone with the calendar's cancellation of it,
    # and offers new times: none of them the one given up.
    second_offer = candidates_mails("/interviews/slot/", 2)[-1]
    second_times = process_variable(process_engine.client, instance, "proposed_slots")
    assert first_times[0] not in second_times and len(second_times) == 3
    wait_until_element(process_engine.client, instance, "SendRescheduleNotices", state="COMPLETED")
    notices = {}
    for attendee in (panelist_email, candidate_email):
        notices[attendee] = next(
            m for m in local_world.mails_to(attendee) if m["dedupe_key"].startswith("interview-rescheduled:")
        )
        assert notices[attendee]["attachments"][0]["type"] == "text/calendar; method=CANCEL"
    # Each is told who asked: the webapp keeps the request as the engine takes it.
    assert "As you asked, your interview" in notices[candidate_email]["text"]
    assert "the candidate asked for a new time." in notices[panelist_email]["text"]
    assert "You asked for another time already" in web.get(link).text
    assert web.get(f"/api/interviews/{interview_id}").json["details"]["rescheduled_from"] == [first_times[0]]

    choose_the_first_time(second_offer)
    invitations = candidates_mails("/interviews/reschedule/", 2)
    with local_world.services.db.sessions() as session:
        booking = session.get(CalendarBooking, interview_id)
        assert (booking.status, booking.start.isoformat() + "Z") == ("booked", second_times[0]["start"])
    # The same calendar event, moved: two changes later than the first invitation.
    sequences = [
        int(re.search(rb"SEQUENCE:(\d+)", base64.b64decode(mail["attachments"][0]["content"])).group(1))
        for mail in invitations
    ]
    assert sorted(sequences) == [0, 2]
    old_link = web.get(link).text
    assert (
        "This link is for a time given up before" in old_link
        and "Ask for another time</button>" not in old_link
    )

    web.post(f"/api/interviews/{interview_id}/cancellation")
    wait_until_completed(process_engine.client, instance)


def test_a_withdrawal_is_published_once_and_the_candidate_may_apply_again(web, process_engine, local_world):
    body = {
        "candidate_id": local_world.add_candidate(["python"]),
        "candidate_name": "Alan Turing",
        "candidate_email": f"{unique_key('alan')}@example.com",
        # Half the skills match: the application waits for screening, so the withdrawal
        # cannot race an automatic decision.
        "posting_id": local_world.add_posting(["python", "go"]),
        "employer_email": "hiring@acme.example",
        "recruiter_team_email": "recruiters@acme.example",
    }
    application = web.post("/api/applications", json=body)
    assert application.status_code == 202
    assert web.post("/api/applications", json=body).status_code == 200
    application_id = application.json["id"]
    wait_for_user_task(process_engine.client, application.json["processInstanceKey"], "ScreenApplication")
    first = web.post(f"/api/applications/{application_id}/withdrawal")
    second = web.post(f"/api/applications/{application_id}/withdrawal")
    assert (first.status_code, second.status_code) == (202, 200)
    wait_for(
        lambda: web.get(f"/api/applications/{application_id}").json["status"] == "withdrawn",
        what="the withdrawal",
        seen=lambda: describe_instance(process_engine.client, application.json["processInstanceKey"]),
    )
    assert web.post("/api/applications/nope/withdrawal").status_code == 404

    # A withdrawn application is over; applying again is a new application.
    again = web.post("/api/applications", json=body)
    assert again.status_code == 202 and again.json["id"] != application_id
    assert web.get(f"/api/applications/{again.json['id']}").json["details"]["attempt"] == 2
    assert web.post("/api/applications", json=body).json["id"] == again.json["id"]


def test_the_screening_form_finds_every_fact_it_shows_in_the_instance(web, process_engine, local_world):
    """Started by the webapp, the instance holds every variable the recruiter's form shows."""
    applied = web.post(
        "/api/applications",
        json={
            "candidate_id": local_world.add_candidate(["python"]),
            "candidate_name": "Grace Hopper",
            "candidate_email": f"{unique_key('grace')}@example.com",
            "posting_id": local_world.add_posting(["python", "go"]),  # a half match: screening
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    assert applied.status_code == 202, applied.json
    instance = applied.json["processInstanceKey"]
    wait_for_user_task(process_engine.client, instance, "ScreenApplication")

    variables = {
        v["name"]: json.loads(v["value"])
        for v in process_engine.client.search_variables(processInstanceKey=instance)
    }
    for task_id in ("ScreenApplication", "ReviewOverdueApplication"):  # the review uses the same facts
        form = bundled_forms()[user_task_form_ids()[("resume-submission", task_id)]]
        missing = variables_shown(form) - {
            name for name, value in variables.items() if value not in (None, "")
        }
        assert not missing, f"{task_id}'s form would show blanks for {sorted(missing)}"
    # The link from Tasklist (another host) back to the application's page is absolute.
    public_url = web.application.extensions["hireflow"].services.public_url
    assert variables["application_url"] == f"{public_url}/items/application/{applied.json['id']}"
    web.post(f"/api/applications/{applied.json['id']}/withdrawal")
    wait_until_completed(process_engine.client, instance)


def test_a_shortlisted_candidate_who_withdraws_has_the_interview_cancelled(web, process_engine, local_world):
    candidate_email = f"{unique_key('edsger')}@example.com"
    application = web.post(
        "/api/applications",
        json={
            "candidate_id": local_world.add_candidate(["python"]),
            "candidate_name": "Edsger Dijkstra",
            "candidate_email": candidate_email,
            "posting_id": local_world.add_posting(["python"]),  # a full match: shortlisted at once
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    application_id = application.json["id"]
    wait_for(
        lambda: web.get(f"/api/applications/{application_id}").json["status"] == "shortlisted",
        what="the shortlist",
        seen=lambda: describe_instance(process_engine.client, application.json["processInstanceKey"]),
    )
    panelist_email = f"{unique_key('alice')}@acme.example"
    interview_request = {
        "application_id": application_id,
        "candidate_name": "Edsger Dijkstra",
        "candidate_email": candidate_email,
        "lead_recruiter_email": "lead@acme.example",
        "panel": [{"username": unique_key("alice"), "email": panelist_email, "name": "Alice"}],
    }
    interview = web.post("/api/interviews", json=interview_request)
    instance = interview.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")

    withdrawn = web.post(f"/api/applications/{application_id}/withdrawal")
    assert withdrawn.status_code == 202, withdrawn.json
    assert web.get(f"/api/applications/{application_id}").json["status"] == "withdrawn"
    wait_until_completed(process_engine.client, instance)
    assert web.get(f"/api/interviews/{interview.json['id']}").json["status"] == "cancelled"
    # The cancellation path told the panel, as when a recruiter cancels.
    [cancelled] = wait_for(
        lambda: local_world.mails_to(panelist_email),
        what="the panel's cancellation email",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert cancelled["subject"] == "Cancelled: interview with Edsger Dijkstra"
    refused = web.post("/api/interviews", json=interview_request)
    assert refused.status_code == 409 and "withdrawn" in refused.json["detail"]


@pytest.fixture
def provider_webhooks(web_app, local_world, serve):
    """The payment sandbox delivering its events to the webapp on a local port, as ``make run`` wires it."""
    webapp_server = serve(web_app)
    settings = WebhookSettings(
        url=f"{webapp_server.url}/webhooks/payments", secret=WEBHOOK_SECRET, poll_seconds=0.1
    )
    dispatcher = WebhookDispatcher(local_world.payment_records, settings).start()
    yield dispatcher
    dispatcher.stop()


def start_unlock(web, local_world, payment_method: str) -> tuple[dict, str, str]:
    """Start an unlock paid by ``payment_method``; returns the answer, the employer's email, the candidate."""
    candidate_id = local_world.add_candidate()
    employer_id = unique_key("emp")
    employer_email = f"{employer_id}@example.com"
    accepted = web.post(
        "/api/unlocks",
        json={
            "employer_id": employer_id,
            "employer_email": employer_email,
            "candidate_id": candidate_id,
            "payment_method_ref": payment_method,
        },
    )
    assert accepted.status_code == 202, accepted.json
    return accepted, employer_email, candidate_id


def test_an_unlock_cancelled_for_want_of_a_card_can_be_asked_for_again(web, process_engine, local_world):
    first, employer_email, candidate_id = start_unlock(web, local_world, "pm_card_chargeDeclined")
    wait_until_element(process_engine.client, first.json["processInstanceKey"], "AwaitNewCard")
    process_engine.client.advance_clock(7 * 24 * 60 * 60 * 1000 + 60_000)  # no new card in 7 days
    wait_until_completed(process_engine.client, first.json["processInstanceKey"])
    assert web.get(first.headers["Location"]).json["status"] == "cancelled"

    request = {
        "employer_id": employer_email.split("@")[0],
        "employer_email": employer_email,
        "candidate_id": candidate_id,
        "payment_method_ref": "pm_card_visa",
    }
    second = web.post("/api/unlocks", json=request)
    # The cancelled attempt is over: this is a new one, not the old one's answer.
    assert second.status_code == 202, second.json
    assert second.json["created"] and second.json["id"] != first.json["id"]
    wait_until_completed(process_engine.client, second.json["processInstanceKey"])
    status = web.get(second.headers["Location"]).json
    assert (status["status"], status["details"]["attempt"]) == ("unlocked", 2)
    # Asking once more finds the unlock that succeeded: nothing is charged again.
    again = web.post("/api/unlocks", json=request)
    assert (again.status_code, again.json["id"], again.json["created"]) == (200, second.json["id"], False)
    assert charges_of(local_world, second.json["id"]) == ["succeeded"]


def card_page_from_email(web, local_world, employer_email: str) -> str:
    """The path of the save-a-new-card page that the payment-declined email links to."""
    [mail] = wait_for(
        lambda: [m for m in local_world.mails_to(employer_email) if "/card" in (m["text"] or "")],
        what="the update-your-card email",
        seen=lambda: local_world.mails_to(employer_email),
    )
    return urlparse(URL_IN_TEXT.search(mail["text"]).group(0)).path


def save_card(web, path: str, payment_method: str = "pm_card_visa"):
    """Save a new card through the UI page, as the employer does."""
    page = web.get(path)
    assert page.status_code == 200 and "Save card" in page.text
    return web.post(path, data={"csrf_token": csrf_token(page.text), "payment_method_ref": payment_method})


def charges_of(local_world, unlock_id: str) -> list[str]:
    intents = local_world.payment_ledger()["payment_intents"]
    return sorted(i["status"] for i in intents if i["metadata"].get("unlock_id") == unlock_id)


def test_a_declined_card_is_replaced_from_the_emailed_link_and_the_unlock_completes(
    web, process_engine, local_world, provider_webhooks
):
    accepted, employer_email, _ = start_unlock(web, local_world, "pm_card_chargeDeclined")
    instance = accepted.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitNewCard")
    # The item says where the unlock waits, by the model's name.
    waiting = web.get(accepted.headers["Location"]).json["engine"]["waitingAt"]
    assert waiting == [{"elementId": "AwaitNewCard", "name": "Await a new card", "type": "RECEIVE_TASK"}]
    # The item's page points to the employer's email, whose link saves a new card.
    assert 'data-testid="new-card-hint"' in web.get(f"/items/unlock/{accepted.json['id']}").text
    path = card_page_from_email(web, local_world, employer_email)
    # The link is signed for this unlock: the unlock id alone opens nothing.
    assert path.startswith("/unlocks/card/")
    assert local_world.services.card_links.read(path.rsplit("/", 1)[1]) == accepted.json["id"]

    saved = save_card(web, path)
    # The unlock charges it at once: the page may find it paid already.
    assert saved.status_code == 200
    assert 'data-testid="card-saved"' in saved.text or 'data-testid="card-over"' in saved.text

    wait_until_completed(process_engine.client, instance)
    assert web.get(accepted.headers["Location"]).json["status"] == "unlocked"

    # The provider's payment_method.attached webhook comes too: left alone, it charges nothing.
    def card_events():
        employer_id = employer_email.split("@")[0]  # the customer at the provider
        return [
            e
            for e in local_world.payment_records.events()
            if e["payload"]["data"]["object"].get("customer") == employer_id
        ]

    [event] = wait_for(
        lambda: [e for e in card_events() if e["delivered_at"]],
        what="the webhook delivered",
        seen=card_events,
    )
    assert event["type"] == "payment_method.attached"
    assert charges_of(local_world, accepted.json["id"]) == ["requires_payment_method", "succeeded"]


def test_a_card_saved_from_one_declined_unlocks_link_completes_the_employers_others(
    web, process_engine, local_world
):
    first, employer_email, _ = start_unlock(web, local_world, "pm_card_chargeDeclined")
    second = web.post(
        "/api/unlocks",
        json={
            "employer_id": employer_email.split("@")[0],
            "employer_email": employer_email,
            "candidate_id": local_world.add_candidate(),
            "payment_method_ref": "pm_card_chargeDeclined",
        },
    )
    assert second.status_code == 202, second.json
    for accepted in (first, second):
        wait_until_element(process_engine.client, accepted.json["processInstanceKey"], "AwaitNewCard")
    [mail] = wait_for(
        lambda: [
            m
            for m in local_world.mails_to(employer_email)
            if "/card" in (m["text"] or "") and first.json["id"] in m["subject"]
        ],
        what="the first unlock's update-your-card email",
        seen=lambda: local_world.mails_to(employer_email),
    )
    saved = save_card(web, urlparse(URL_IN_TEXT.search(mail["text"]).group(0)).path)

    assert saved.status_code == 200
    for accepted in (first, second):  # one card saved, both unlocks charge it
        wait_until_completed(process_engine.client, accepted.json["processInstanceKey"])
        assert web.get(accepted.headers["Location"]).json["status"] == "unlocked"
        assert charges_of(local_world, accepted.json["id"]) == ["requires_payment_method", "succeeded"]
    assert f"<code>{second.json['id']}</code>" in saved.text or 'data-testid="card-over"' in saved.text


def test_the_same_card_saved_again_after_another_decline_is_charged_again(
    web, process_engine, local_world, provider_webhooks
):
    # Declined, the employer saves the same card again (say, once the funds are there). The
    # provider replayed its first attach for that (no new webhook), and the unlock waited
    # for nothing until it was cancelled. With the provider's webhooks on, each save charges once.
    accepted, employer_email, _ = start_unlock(web, local_world, "pm_card_chargeDeclined")
    instance, location = accepted.json["processInstanceKey"], accepted.headers["Location"]
    wait_until_element(process_engine.client, instance, "AwaitNewCard")
    path = card_page_from_email(web, local_world, employer_email)

    def declined_charge() -> str:
        return web.get(location).json["details"]["card_declined"]["charge"]

    for charge in ("2", "3"):  # the employer's card on file, then the same card saved twice
        assert save_card(web, path, "pm_card_chargeDeclined").status_code == 200
        wait_for(
            lambda expected=charge: declined_charge() == expected,
            what=f"charge {charge} declined",
            seen=lambda: charges_of(local_world, accepted.json["id"]),
        )
    assert save_card(web, path, "pm_card_visa").status_code == 200
    wait_until_completed(process_engine.client, instance)
    assert web.get(location).json["status"] == "unlocked"
    assert charges_of(local_world, accepted.json["id"]) == ["requires_payment_method"] * 3 + ["succeeded"]
    declines_emailed = [
        m for m in local_world.mails_to(employer_email) if "/unlocks/card/" in (m["text"] or "")
    ]
    assert len(declines_emailed) == 3


def test_an_unlock_whose_charge_failed_says_why_until_its_retry_succeeds(web, process_engine, local_world):
    # Five 500s outlast the adapter's four quick tries: the charge job fails once, and waits
    # out its backoff with no incident. The item says so, with the failure policy's message.
    requests.post(
        f"{local_world.payments_url}/_sandbox/faults", json={"next_count": {"server_error": 5}}, timeout=5
    ).raise_for_status()
    accepted, _, _ = start_unlock(web, local_world, "pm_card_visa")
    instance, location = accepted.json["processInstanceKey"], accepted.headers["Location"]

    def failing_steps():
        engine = web.get(location).json["engine"]
        return [element for element in engine.get("waitingAt", []) if "failing" in element]

    [charge] = wait_for(
        failing_steps,
        what="the unlock to show its failed charge",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert (charge["elementId"], charge["failing"]["retriesLeft"]) == ("ChargeCard", 4)
    assert "HTTP 500: Injected server error" in charge["failing"]["errorMessage"]
    page = web.get(f"/items/unlock/{accepted.json['id']}").text
    assert "4 tries left before an incident" in page
    assert 'data-testid="new-card-hint"' not in page  # the gateway failed, not the card

    process_engine.client.advance_clock(11_000)  # ChargeCard's backoff base is 10 s
    wait_until_completed(process_engine.client, instance)
    assert web.get(location).json["status"] == "unlocked"
    assert charges_of(local_world, accepted.json["id"]) == ["succeeded"]


@pytest.mark.parametrize("settles", ["succeeded", "failed"])
def test_a_debit_settled_by_the_provider_continues_the_unlock(
    web, process_engine, local_world, provider_webhooks, settles
):
    accepted, employer_email, _ = start_unlock(web, local_world, "pm_sepa_debit")
    instance = accepted.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")
    payment_id = process_variable(process_engine.client, instance, "payment_id")

    # The debit settles at the provider (here on request; on `make run` after a few
    # seconds), and its payment_intent.succeeded or .payment_failed webhook arrives.
    local_world.payment_records.settle(payment_id, succeeded=settles == "succeeded")

    if settles == "failed":  # the employer is asked for another card, with the provider's reason
        path = card_page_from_email(web, local_world, employer_email)
        assert "declined (insufficient funds)" in local_world.mails_to(employer_email)[0]["text"]
        assert save_card(web, path).status_code == 200
    wait_until_completed(process_engine.client, instance)
    assert web.get(accepted.headers["Location"]).json["status"] == "unlocked"
    confirmed = process_engine.client.search_element_instances(
        processInstanceKey=instance, elementId="AwaitConfirmation", state="COMPLETED"
    )
    assert len(confirmed) == (1 if settles == "succeeded" else 0)
    expected = ["succeeded"] if settles == "succeeded" else ["requires_payment_method", "succeeded"]
    assert charges_of(local_world, accepted.json["id"]) == expected


@pytest.mark.parametrize("bank_says", ["complete", "fail"])
def test_a_payment_the_bank_asks_to_approve_is_approved_from_the_emailed_link(
    web, process_engine, local_world, provider_webhooks, bank_says
):
    accepted, employer_email, _ = start_unlock(web, local_world, "pm_card_authenticationRequired")
    instance = accepted.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")
    [mail] = wait_for(
        lambda: [m for m in local_world.mails_to(employer_email) if "/unlocks/payment/" in (m["text"] or "")],
        what="the approve-the-payment email",
        seen=lambda: local_world.mails_to(employer_email),
    )
    path = urlparse(URL_IN_TEXT.search(mail["text"]).group(0)).path
    # The item's page tells the team what the unlock waits for.
    assert 'data-testid="approval-hint"' in web.get(f"/items/unlock/{accepted.json['id']}").text
    page = web.get(path)
    assert page.status_code == 200 and "Approve with my bank" in page.text
    approving = web.post(path, data={"csrf_token": csrf_token(page.text)})
    bank_url = re.search(r'href="([^"]+)" data-testid="continue-to-bank"', approving.text).group(1)

    # The employer's browser at their bank, and back at hireflow.
    answered = requests.post(bank_url, data={"outcome": bank_says}, allow_redirects=False, timeout=5)
    back = urlparse(answered.headers["Location"])
    shown = web.get(f"{back.path}?{back.query}")
    if bank_says == "complete":  # the provider's payment_intent.succeeded webhook confirms it
        assert 'data-testid="payment-approved"' in shown.text
        expected = ["succeeded"]
    else:  # its payment_intent.payment_failed asks for another card, saying why
        assert 'data-testid="payment-refused"' in shown.text
        card_path = card_page_from_email(web, local_world, employer_email)
        assert "declined (authentication failed)" in local_world.mails_to(employer_email)[-1]["text"]
        # Its record no longer offers the payment for approval, and says why a card is wanted.
        details = web.get(accepted.headers["Location"]).json["details"]
        assert "card_needs_authentication" not in details
        assert details["card_declined"] == {
            "card": "pm_card_authenticationRequired",
            "decline_code": "authentication_failed",
            "charge": process_variable(process_engine.client, instance, "payment_id"),  # the one refused
        }
        assert save_card(web, card_path).status_code == 200
        expected = ["requires_payment_method", "succeeded"]
    wait_until_completed(process_engine.client, instance)
    assert web.get(accepted.headers["Location"]).json["status"] == "unlocked"
    assert charges_of(local_world, accepted.json["id"]) == expected


def test_with_the_demo_data_the_ui_needs_only_ids_to_unlock_apply_and_schedule(
    web, process_engine, local_world
):
    load_demo_data(local_world.services.db)
    page = web.get("/")
    assert "Acme Analytics (pays with credits)" in page.text
    assert "interviewer, interviewer@hireflow.example, Ivy Interviewer" in page.text  # the panel, filled in
    email = f"{unique_key('ada')}@example.com"
    candidate_id = local_world.add_candidate(name="Ada Lovelace", email=email)
    assert f'<option value="{candidate_id}">' in web.get("/").text  # offered in the id fields

    unlocked = web.post(
        "/unlocks",
        data={"csrf_token": csrf_token(page.text), "employer_id": "acme", "candidate_id": candidate_id},
    )
    assert unlocked.status_code == 303, unlocked.text
    unlock = web.get(unlocked.headers["Location"].replace("/items/unlock/", "/api/unlocks/")).json
    instance = unlock["engine"]["processInstanceKey"]
    wait_until_completed(process_engine.client, instance)
    # The employer's email, plan and card came from the store; its credits paid.
    assert process_variable(process_engine.client, instance, "employer_email") == "hiring@acme.example"
    assert process_variable(process_engine.client, instance, "employer_plan") == "premium"
    assert process_variable(process_engine.client, instance, "paid_with") == "credits"

    applied = web.post(
        "/applications",
        data={
            "csrf_token": csrf_token(page.text),
            "posting_id": "demo-python-engineer",
            "candidate_id": candidate_id,
            "recruiter_team_email": "recruiters@hireflow.example",
        },
    )
    assert applied.status_code == 303, applied.text
    application = web.get(
        applied.headers["Location"].replace("/items/application/", "/api/applications/")
    ).json
    instance = application["engine"]["processInstanceKey"]
    # The employer's email came from the posting, the candidate's name and email from the resume.
    assert process_variable(process_engine.client, instance, "employer_email") == "hiring@acme.example"
    assert process_variable(process_engine.client, instance, "candidate_name") == "Ada Lovelace"
    assert process_variable(process_engine.client, instance, "candidate_email") == email

    scheduled = web.post(
        "/interviews",
        data={
            "csrf_token": csrf_token(page.text),
            "application_id": application["id"],
            "round": "2",  # a later round: the form asks for it, as the API does
            "lead_recruiter_email": "lead@hireflow.example",
            "panel": "interviewer, interviewer@hireflow.example, Ivy Interviewer",
        },
    )
    assert scheduled.status_code == 303, scheduled.text
    interview = web.get(scheduled.headers["Location"].replace("/items/interview/", "/api/interviews/")).json
    assert interview["details"]["round"] == 2
    interview_instance = interview["engine"]["processInstanceKey"]
    assert process_variable(process_engine.client, interview_instance, "candidate_email") == email
    web.post(f"/api/interviews/{interview['id']}/cancellation")
    wait_until_completed(process_engine.client, interview_instance)


def link_mailed(local_world, address: str, links, item_id: str) -> str:
    """The path of the link of ``links``' kind for ``item_id`` in the mail to ``address``."""

    def found() -> str | None:
        for mail in local_world.mails_to(address):
            for url in URL_IN_TEXT.findall(mail["text"] or ""):
                if url.startswith(links.base_url + "/") and links.read(url.rsplit("/", 1)[1]) == item_id:
                    return urlparse(url).path
        return None

    return wait_for(found, what=f"the {links.kind} for {item_id}", seen=lambda: local_world.mails_to(address))


def test_an_employer_unlocks_a_shortlisted_candidate_from_its_email_and_reads_the_receipts_link(
    web, process_engine, local_world
):
    load_demo_data(local_world.services.db)  # Acme, on file with credits, posts the Python job
    email = f"{unique_key('ada')}@example.com"
    candidate_id = local_world.add_candidate(skills=["python", "sql"], name="Ada Lovelace", email=email)
    applied = web.post(
        "/api/applications", json={"candidate_id": candidate_id, "posting_id": "demo-python-engineer"}
    )
    assert applied.status_code == 202, applied.json
    wait_until_completed(process_engine.client, applied.json["processInstanceKey"])
    assert web.get(applied.headers["Location"]).json["status"] == "shortlisted"

    # The employer's email about the shortlisted candidate links to a page that unlocks her.
    links = local_world.services
    offer = link_mailed(local_world, "hiring@acme.example", links.unlock_links, applied.json["id"])
    page = web.get(offer)
    assert page.status_code == 200 and "Ada Lovelace</strong> is shortlisted" in page.text
    asked = web.post(offer, data={"csrf_token": csrf_token(page.text)})
    assert asked.status_code == 200, asked.text
    [unlock] = [
        u for u in web.get("/api/employers/acme/unlocks").json["unlocks"] if u["candidateId"] == candidate_id
    ]
    wait_for(
        lambda: web.get(f"/api/unlocks/{unlock['unlockId']}").json["status"] == "unlocked",
        what="the unlock paid",
        seen=lambda: web.get(f"/api/unlocks/{unlock['unlockId']}").json,
    )

    # Its receipt links to her contact details; the unlock link now does too, and unlocks no more.
    contact = link_mailed(local_world, "hiring@acme.example", links.contact_links, unlock["unlockId"])
    assert f'href="mailto:{email}"' in web.get(contact).text
    again = web.get(offer).text
    assert 'data-testid="contact-link"' in again and 'data-testid="unlock"' not in again


def test_without_tasklist_a_screening_is_done_in_the_console_with_its_form(web, process_engine, local_world):
    if not web.application.config.get("ENGINE_CONTROL_URL"):
        pytest.skip("a cluster has Tasklist; the console's task pages are for the embedded engine")
    candidate_id = local_world.add_candidate(["python"])
    applied = web.post(
        "/api/applications",
        json={
            "candidate_id": candidate_id,
            "candidate_name": "Ada Lovelace",
            "candidate_email": "ada@example.com",
            # A middling match (python, not go): it waits for a recruiter's screening.
            "posting_id": local_world.add_posting(["python", "go"]),
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    assert applied.status_code == 202, applied.json
    instance = applied.json["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "ScreenApplication")
    item_page = web.get(f"/items/application/{applied.json['id']}").text
    assert f'href="/tasks?instance={instance}">do it here</a>' in item_page

    # One task waits in the instance: the link leads to its form, which the task list names too.
    linked = web.get(f"/tasks?instance={instance}")
    assert linked.status_code == 302
    task_path = linked.headers["Location"]
    assert f'href="{task_path}">Screen the application</a>' in web.get("/tasks").text
    form = web.get(task_path)
    assert form.status_code == 200
    # The form from bpmn/, filled from the instance: read-only fields and Markdown with variables.
    assert "Ada Lovelace" in form.text
    assert "<strong>Matched skills:</strong> python" in form.text
    assert 'name="screening_decision" value="shortlist"' in form.text

    # A required choice left out, or a value the form does not offer: the form again, nothing done.
    token = csrf_token(form.text)
    missing = web.post(task_path, data={"csrf_token": token, "screening_note": "keen"})
    assert missing.status_code == 400 and 'data-testid="error-screening_decision"' in missing.text
    assert ">keen</textarea>" in missing.text  # what was typed stays
    odd = web.post(task_path, data={"csrf_token": token, "screening_decision": "hire-at-once"})
    assert odd.status_code == 400
    assert web.post(task_path, data={"screening_decision": "shortlist"}).status_code == 400  # no CSRF token

    done = web.post(task_path, data={"csrf_token": token, "screening_decision": "shortlist"})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/items/application/{applied.json['id']}"
    # The page it leads to no longer offers the task just done (the engine's reads lag a little).
    assert "do it here" not in web.get(done.headers["Location"]).text
    wait_until_completed(process_engine.client, instance)
    assert web.get(f"/api/applications/{applied.json['id']}").json["status"] == "shortlisted"
    assert web.get(task_path).status_code == 404  # completed: no longer open
    assert 'data-testid="no-tasks"' in web.get(f"/tasks?instance={instance}").text


def test_without_operate_the_tasks_page_lists_incidents_and_leads_to_their_item(
    web, process_engine, local_world
):
    if not web.application.config.get("ENGINE_CONTROL_URL"):
        pytest.skip("a cluster has Operate; the console's incident list is for the embedded engine")
    # An application to a posting that does not exist: the score step stops at once.
    instance, variables = apply_to_a_missing_posting(process_engine, local_world)
    record_status(
        local_world.services.db,
        "application",
        variables["application_id"],
        "submitted",
        {"process_instance_key": str(instance), "candidate_id": variables["candidate_id"]},
    )
    wait_for_incident(process_engine.client, instance)

    page = web.get(f"/tasks?instance={instance}").text
    [row] = re.findall(r'<table data-testid="incidents">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert "Score the match" in row
    assert f'<a href="/items/application/{variables["application_id"]}">' in row
    # What failed, for which item, and what to do; the item's page has the rest.
    assert "Cannot succeed with this data, at ScoreMatch" in row and "Fix what the detail says" in row
    assert 'data-testid="no-tasks"' in page
    assert 'data-testid="no-incidents"' in web.get("/tasks?instance=1").text

    # Mended (the posting now exists), the step is retried from the list, and the
    # application moves on.
    local_world.add_posting(["python"], posting_id=variables["posting_id"])
    [retry] = re.findall(r'<form method="post" action="([^"]+/retry)">', page)
    done = web.post(retry, data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303
    wait_until_element(process_engine.client, instance, "RouteApplication", state="COMPLETED")
    assert 'data-testid="no-incidents"' in web.get(f"/tasks?instance={instance}").text
    cancel_if_running(process_engine.client, instance)  # it may wait for a screening


def test_every_incident_of_a_cause_is_retried_at_once_once_it_is_mended(web, process_engine, local_world):
    # Two applications to postings that are not on file yet: both stop at the score step.
    stopped = [apply_to_a_missing_posting(process_engine, local_world) for _ in range(2)]
    incidents = [
        str(wait_for_incident(process_engine.client, instance)["incidentKey"]) for instance, _ in stopped
    ]
    counted = web.get("/api/admin/incidents", headers=ADMIN).json["causes"]
    bad_data = next(c for c in counted if c["cause"] == "Cannot succeed with this data")
    assert bad_data["count"] >= 2 and bad_data["batchRetry"] is True

    # Mended (the postings now exist), every one of them is retried with one request.
    for _, variables in stopped:
        local_world.add_posting(["python"], posting_id=variables["posting_id"])
    retried = web.post("/api/admin/incidents/retry", json={"cause": bad_data["cause"]}, headers=ADMIN)

    assert retried.status_code == 200, retried.json
    assert set(incidents) <= set(retried.json["retried"])
    for instance, _ in stopped:
        wait_until_element(process_engine.client, instance, "RouteApplication", state="COMPLETED")
        assert not process_engine.client.search_incidents(processInstanceKey=instance, state="ACTIVE")
        cancel_if_running(process_engine.client, instance)  # it may wait for a screening


def apply_to_a_missing_posting(process_engine, local_world) -> tuple[str, dict]:
    candidate_id = local_world.add_candidate(["python"])
    variables = {
        "application_id": unique_key("app"),
        "candidate_id": candidate_id,
        "candidate_name": "Grace Hopper",
        "candidate_email": f"{candidate_id}@example.com",
        "posting_id": unique_key("no-such-posting"),
        "employer_email": "hiring@acme.example",
        "recruiter_team_email": "recruiters@acme.example",
    }
    created = process_engine.client.create_process_instance(ProcessId.RESUME_SUBMISSION, variables)
    return created["processInstanceKey"], variables


def test_each_panelist_sees_only_their_own_feedback_task_answers(web, process_engine, local_world):
    if not web.application.config.get("ENGINE_CONTROL_URL"):
        pytest.skip("a cluster has Tasklist; the console's task pages are for the embedded engine")
    instance, v = request_interview(process_engine)
    slot = choose_first_slot(process_engine, instance, v)
    wait_until_element(process_engine.client, instance, "DayBeforeInterview")
    advance_engine_clock_past(process_engine.client, slot["end"])
    wait_for(
        lambda: (
            len(
                process_engine.client.search_user_tasks(
                    processInstanceKey=instance, elementId="GiveFeedback", state="CREATED"
                )
            )
            == 2
        ),
        what="a feedback task per panelist",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    listed = web.get(f"/tasks?instance={instance}").text
    rows = re.findall(
        r'href="(/tasks/\d+)">Give interview feedback</a>.*?data-testid="assignee">([^<]*)<', listed, re.S
    )
    # Each task names its panelist, and is due two days after the interview (the model's schedule).
    assert sorted(assignee for _, assignee in rows) == sorted(p["username"] for p in v["panel"])
    due = re.findall(r'data-testid="due">([^<]*)<', listed)
    assert len(due) == 2 and all(d.endswith(" UTC") and d[0].isalpha() for d in due), due
    (first, _), (second, _) = rows

    page = web.get(first).text
    answers = {"interview_rating": "5", "interview_recommendation": "hire", "interview_notes": "sharp"}
    done = web.post(first, data={"csrf_token": csrf_token(page), **answers})
    assert done.status_code == 303

    # The other panelist's form shows the interview, not the first one's answers.
    other = web.get(second).text
    assert "Katherine Johnson" in other
    assert "sharp" not in other and 'value="5"' not in other
    assert 'value="hire" checked' not in other
    answers = {"interview_rating": "3", "interview_recommendation": "next-round", "interview_notes": "ok"}
    assert web.post(second, data={"csrf_token": csrf_token(other), **answers}).status_code == 303
    wait_until_completed(process_engine.client, instance)
    # Each panelist's answers are collected, none overwritten by the other's.
    collected = process_variable(process_engine.client, instance, "feedback")
    assert sorted((f["rating"], f["recommendation"], f["notes"]) for f in collected) == [
        (3, "next-round", "ok"),
        (5, "hire", "sharp"),
    ]
    assert sorted(f["panelist"] for f in collected) == sorted(p["username"] for p in v["panel"])
