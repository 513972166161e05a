"""Applications through the webapp: what they take from the file, and withdrawals."""

from __future__ import annotations

from hireflow.constants import Message
from hireflow.signed_links import WithdrawalLinks
from hireflow.store import Employer, JobPosting
from job_workers.records import record_status
from tests.offline_webapp import empty_services, indexed_candidate, recording_app_with, refused_field
from tests.web_helpers import csrf_token


def test_an_item_that_is_over_is_neither_withdrawn_nor_cancelled(recording):
    # A message to a process that has ended would wait for nobody, and the client would
    # read "published" as done.
    web, engine, services = recording
    record_status(services.db, "application", "app_declined", "declined", {"candidate_id": "ada"})
    record_status(services.db, "interview", "int_done", "done", {"application_id": "app_declined"})
    record_status(services.db, "interview", "int_cancelled", "cancelled", {"application_id": "app_declined"})

    declined = web.post("/api/applications/app_declined/withdrawal")
    assert declined.status_code == 409 and "declined" in declined.json["detail"]
    done = web.post("/api/interviews/int_done/cancellation")
    assert done.status_code == 409 and "done" in done.json["detail"]
    # Its instance gone with the engine that ran it (make run's embedded engine, restarted).
    record_status(services.db, "interview", "int_ended", "ended", {"application_id": "app_declined"})
    ended = web.post("/api/interviews/int_ended/cancellation")
    assert ended.status_code == 409 and "ended" in ended.json["detail"]
    assert web.post("/api/interviews/int_cancelled/cancellation").status_code == 200  # a repeat
    interview = {
        "application_id": "app_declined",
        "candidate_name": "Ada",
        "candidate_email": "ada@example.com",
        "lead_recruiter_email": "lead@example.com",
        "panel": [{"username": "alice", "email": "alice@example.com", "name": "Alice"}],
    }
    refused = web.post("/api/interviews", json=interview)
    assert refused.status_code == 409 and "declined" in refused.json["detail"]
    assert (engine.published, engine.started) == ([], [])


def test_a_shortlisted_candidate_withdraws_by_cancelling_the_open_interviews(recording):
    # resume-submission ended with the shortlist: the application lives on in its interviews.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    for interview_id, status in (("int_open", "requested"), ("int_done", "done"), ("int_over", "cancelled")):
        record_status(services.db, "interview", interview_id, status, {"application_id": "app_1"})
    record_status(services.db, "interview", "int_other", "requested", {"application_id": "app_2"})
    assert "Withdraw application" in web.get("/items/application/app_1").text

    first = web.post("/api/applications/app_1/withdrawal")
    second = web.post("/api/applications/app_1/withdrawal")
    assert (first.status_code, second.status_code) == (202, 200)
    assert engine.published == [(Message.INTERVIEW_CANCELLED, "int_open")]
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"


def test_a_candidate_withdraws_by_the_signed_link_in_their_email(recording):
    web, engine, services = recording
    details = {"candidate_id": "ada", "posting_id": "p-1", "posting_title": "Python engineer"}
    record_status(services.db, "application", "app_1", "shortlisted", details)
    record_status(services.db, "interview", "int_open", "requested", {"application_id": "app_1"})
    token = services.withdrawal_links.token_for("app_1")

    # Application ids can be guessed: only a signature opens the page, and only its own kind.
    assert web.get(f"/applications/withdrawal/{token[:-2]}xx").status_code == 404
    assert web.get(f"/applications/withdrawal/{services.card_links.token_for('app_1')}").status_code == 404
    page = web.get(f"/applications/withdrawal/{token}")
    assert page.status_code == 200 and "Withdraw my application" in page.text
    assert "<strong>Python engineer</strong> is shortlisted" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert 'href="/items' not in page.text  # a candidate's page never links into the console
    assert web.post(f"/applications/withdrawal/{token}").status_code == 400  # no CSRF token
    assert engine.published == []

    form = {"csrf_token": csrf_token(page.text)}
    done = web.post(f"/applications/withdrawal/{token}", data=form)
    again = web.post(f"/applications/withdrawal/{token}", data=form)  # a second click

    assert (done.status_code, again.status_code) == (200, 200)
    assert 'data-testid="withdrawn"' in done.text and 'data-testid="withdrawn"' in again.text
    assert engine.published == [(Message.INTERVIEW_CANCELLED, "int_open")]  # once
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"
    # A declined application has nothing to withdraw; the page says so.
    record_status(services.db, "application", "app_2", "declined", details)
    over_token = services.withdrawal_links.token_for("app_2")
    over = web.post(f"/applications/withdrawal/{over_token}", data=form)
    assert over.status_code == 409 and 'data-testid="over"' in over.text and "is declined" in over.text
    services.withdrawal_links = WithdrawalLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    # A candidate follows links from an email: a refused one is a page saying why, not JSON.
    expired = web.get(f"/applications/withdrawal/{token}")
    assert expired.status_code == 410 and expired.mimetype == "text/html" and "expired" in expired.text
    forged = web.get(f"/applications/withdrawal/{token[:-2]}xx")
    assert forged.status_code == 404 and forged.mimetype == "text/html"


def test_of_two_withdrawals_at_once_after_the_shortlist_one_is_accepted_and_one_is_a_repeat(
    recording, monkeypatch
):
    # Both read "shortlisted" before either writes: as two requests on two threads can.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    hireflow = web.application.extensions["hireflow"]
    as_first_read = hireflow.status("application", "app_1")
    real_status = hireflow.status
    monkeypatch.setattr(
        hireflow,
        "status",
        lambda kind, business_id: as_first_read if kind == "application" else real_status(kind, business_id),
    )

    first = web.post("/api/applications/app_1/withdrawal")
    second = web.post("/api/applications/app_1/withdrawal")

    assert (first.status_code, second.status_code) == (202, 200)
    monkeypatch.undo()
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"


def test_a_withdrawal_during_screening_cancels_the_interviews_too(recording):
    # An interview may be asked for before the screening ends; it must not outlive the application.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "submitted", {"candidate_id": "ada"})
    record_status(services.db, "interview", "int_early", "requested", {"application_id": "app_1"})

    assert web.post("/api/applications/app_1/withdrawal").status_code == 202
    assert engine.published == [
        (Message.INTERVIEW_CANCELLED, "int_early"),
        (Message.APPLICATION_WITHDRAWN, "app_1"),
    ]


def test_an_application_and_an_interview_take_the_candidates_contact_from_their_resume(tmp_path):
    # The console always filled these in from the store; the API now does the same.
    services = empty_services(tmp_path)
    web, engine = recording_app_with(
        services,
        Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
        JobPosting(posting_id="p-acme", employer_id="acme", title="Engineer"),
        JobPosting(posting_id="p-other", employer_id="not-on-file", title="Engineer"),
        indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
        # Indexed before hireflow kept the name and email given with a resume.
        indexed_candidate("old"),
    )
    team = {"recruiter_team_email": "recruiters@example.com"}

    applied = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-acme", **team})
    no_employer = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-other", **team})
    no_contact = web.post("/api/applications", json={"candidate_id": "old", "posting_id": "p-acme", **team})

    assert applied.status_code == 202, applied.json
    started = engine.variables[0]
    assert (started["candidate_name"], started["candidate_email"], started["employer_email"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "hr@acme.example",
    )
    assert refused_field(no_employer) == (400, "employer_email")
    assert "employer not-on-file of the posting is not on file" in no_employer.json["detail"]
    assert refused_field(no_contact) == (400, "candidate_name")
    assert len(engine.variables) == 1

    record_status(services.db, "application", applied.json["id"], "shortlisted", {"candidate_id": "ada"})
    panel = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]
    interview = web.post(
        "/api/interviews",
        json={
            "application_id": applied.json["id"],
            "lead_recruiter_email": "lead@example.com",
            "panel": panel,
        },
    )
    assert interview.status_code == 202, interview.json
    assert (engine.variables[1]["candidate_name"], engine.variables[1]["candidate_email"]) == (
        "Ada Lovelace",
        "ada@example.com",
    )


def test_an_application_takes_its_recruiters_from_the_posting(tmp_path):
    # Every application had to name the recruiters, though a posting's team screens them all.
    services = empty_services(tmp_path)
    web, engine = recording_app_with(
        services,
        Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
        JobPosting(
            posting_id="p-team",
            employer_id="acme",
            title="Engineer",
            recruiter_team_email="team@acme.example",
        ),
        JobPosting(posting_id="p-no-team", employer_id="acme", title="Engineer"),
        indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
        indexed_candidate("bob", name="Bob", email="bob@example.com"),
    )

    from_posting = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-team"})
    named = web.post(
        "/api/applications",
        json={"candidate_id": "bob", "posting_id": "p-team", "recruiter_team_email": "other@acme.example"},
    )
    no_team = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-no-team"})

    assert (from_posting.status_code, named.status_code) == (202, 202), (from_posting.json, named.json)
    assert [started["recruiter_team_email"] for started in engine.variables] == [
        "team@acme.example",
        "other@acme.example",
    ]
    assert refused_field(no_team) == (400, "recruiter_team_email")
    assert "posting p-no-team names no recruiters, so the request must give this" in no_team.json["detail"]
    # The application keeps the posting's title as it read then: its page says what was applied to.
    assert web.get(from_posting.headers["Location"]).json["details"]["posting_title"] == "Engineer"
