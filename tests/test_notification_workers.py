"""The send-email worker against the mail capture, over real HTTP (issue 3)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from pyzeebe import Job

from hireflow.adapters.email import EmailOutbox, SendGridMailer
from hireflow.adapters.file_store import LocalFileStore
from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.sandboxes.mail_capture import create_mail_capture
from hireflow.signed_links import CardLinks, ContactLinks, RescheduleLinks, UnlockLinks, WithdrawalLinks
from hireflow.store import Database
from job_workers.notifications import NotificationTasks, build_router
from job_workers.services import Services, tasks_url_from_environment

HEADERS = {
    "template": "resume-received",
    "recipientVariable": "candidate_email",
    "businessIdVariable": "resume_id",
}
VARIABLES = {
    "candidate_email": "ada@example.com",
    "resume_id": "r-7",
    "candidate_name": "Ada",
    "skills": ["python"],
}


@pytest.fixture
def capture(tmp_path, serve):
    return serve(create_mail_capture(tmp_path / "mail.sqlite3", "SG.key"))


@pytest.fixture
def services(tmp_path, capture, store_url) -> Services:
    db = Database(store_url)
    db.create_schema()
    mailer = SendGridMailer(
        "SG.key", sender="no-reply@hireflow.example", outbox=EmailOutbox(db), host=capture.url
    )
    return Services(files=LocalFileStore(tmp_path / "files"), db=db, mailer=mailer)


def send_email_job(element_instance_key: int = 500, headers=None, variables=None) -> Job:
    return Job(
        key=element_instance_key + 1,
        type=JobType.SEND_EMAIL,
        process_instance_key=400,
        bpmn_process_id="resume-upload",
        process_definition_version=1,
        process_definition_key=300,
        element_id="tell-candidate",
        element_instance_key=element_instance_key,
        custom_headers=HEADERS if headers is None else headers,
        worker="test",
        retries=5,
        deadline=0,
        variables=VARIABLES if variables is None else variables,
    )


def mails(capture) -> list[dict]:
    return requests.get(f"{capture.url}/_capture/messages", timeout=5).json()


def the_one_sent(services: Services, capture, headers: dict, variables: dict) -> dict:
    """The mail a send-email job with ``headers`` and ``variables`` sends, the only one captured."""
    NotificationTasks(services).send_email(send_email_job(headers=headers, variables=variables))
    [mail] = mails(capture)
    return mail


def the_token(mail: dict, links) -> str:
    """The token of the one link in ``mail``, which must be one of ``links``' kind and address."""
    [link] = [word for word in mail["text"].split() if word.startswith("http://")]
    assert link.startswith(links.base_url + "/"), link
    return link.rsplit("/", 1)[1]


def test_a_redelivered_job_sends_its_email_once(services, capture):
    tasks = NotificationTasks(services)
    tasks.send_email(send_email_job())
    tasks.send_email(send_email_job())
    [mail] = mails(capture)
    assert (mail["to"], mail["subject"]) == (["ada@example.com"], "We received your resume, Ada")
    assert mail["dedupe_key"] == "resume-received:r-7:500"


def test_each_visit_of_the_task_sends_again_as_timer_reminders_need(services, capture):
    tasks = NotificationTasks(services)
    tasks.send_email(send_email_job(element_instance_key=500))
    tasks.send_email(send_email_job(element_instance_key=600))
    assert len(mails(capture)) == 2


@pytest.mark.parametrize(
    ("headers", "variables", "message"),
    [
        ({"template": "resume-received"}, VARIABLES, "lacks the header"),
        (HEADERS, {"resume_id": "r-7"}, "no value for candidate_email"),
    ],
)
def test_a_misconfigured_task_is_a_permanent_failure_that_names_the_fix(
    services, headers, variables, message
):
    with pytest.raises(PermanentFailure, match=message):
        NotificationTasks(services).send_email(send_email_job(headers=headers, variables=variables))


@pytest.mark.parametrize(
    ("recipient", "kind"),
    [
        (5, "a number"),  # was a TypeError in the address check: a probable bug, retried
        (True, "true or false"),
        (["ada@example.com"], "a list"),  # was "the mail provider refused" it
        ({"email": "ada@example.com"}, "an object"),
    ],
)
def test_a_recipient_that_is_no_text_is_a_permanent_failure_that_names_the_variable(
    services, capture, recipient, kind
):
    job = send_email_job(variables={**VARIABLES, "candidate_email": recipient})
    with pytest.raises(PermanentFailure, match=f"candidate_email is {kind}, not an email address"):
        NotificationTasks(services).send_email(job)
    assert mails(capture) == []


@pytest.mark.parametrize("resume_id", ["../../etc/passwd", "x" * 300, "a b", 7])
def test_a_business_id_that_is_no_id_is_a_permanent_failure_that_names_the_variable(
    services, capture, resume_id
):
    # It is part of the dedupe key, which the outbox keeps in 200 characters.
    job = send_email_job(variables={**VARIABLES, "resume_id": resume_id})
    with pytest.raises(PermanentFailure, match="The variable resume_id is not a business id"):
        NotificationTasks(services).send_email(job)
    assert mails(capture) == []


DECLINED_HEADERS = {
    "template": "payment-declined",
    "recipientVariable": "employer_email",
    "businessIdVariable": "unlock_id",
}
DECLINED_VARIABLES = {"employer_email": "emp@example.com", "unlock_id": "unl_7", "candidate_id": "cand-7"}


def test_the_payment_declined_email_links_to_a_card_page_signed_for_its_unlock(services, capture):
    services.card_links = CardLinks("a-test-secret-of-some-length", "http://hireflow.test/unlocks/card")
    job = send_email_job(headers=DECLINED_HEADERS, variables=DECLINED_VARIABLES)
    NotificationTasks(services).send_email(job)
    [mail] = mails(capture)
    assert services.card_links.read(the_token(mail, services.card_links)) == "unl_7"
    assert "unl_7/card" not in mail["text"]  # never the guessable address


def test_a_worker_without_card_links_fails_the_declined_email_permanently(services, capture):
    job = send_email_job(headers=DECLINED_HEADERS, variables=DECLINED_VARIABLES)
    with pytest.raises(PermanentFailure, match="card_link"):
        NotificationTasks(services).send_email(job)
    assert mails(capture) == []


RECEIPT_HEADERS = {**DECLINED_HEADERS, "template": "unlock-receipt"}
RECEIPT_VARIABLES = {**DECLINED_VARIABLES, "paid_with": "credits", "credits_spent": 1}


def test_the_receipt_links_to_the_contact_details_the_unlock_opened(services, capture):
    services.contact_links = ContactLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/unlocks/contact"
    )
    mail = the_one_sent(services, capture, RECEIPT_HEADERS, RECEIPT_VARIABLES)
    assert "You can now see the contact details of candidate cand-7:\n" in mail["text"]
    assert services.contact_links.read(the_token(mail, services.contact_links)) == "unl_7"
    assert "it works for 30 days" in mail["text"]


def test_a_receipt_from_a_worker_without_contact_links_goes_without_one(services, capture):
    mail = the_one_sent(services, capture, RECEIPT_HEADERS, RECEIPT_VARIABLES)
    assert "You can now see the contact details of candidate cand-7.\n" in mail["text"]
    assert "http" not in mail["text"] and "Paid with 1 credit." in mail["text"]


EMPLOYER_SHORTLISTED_HEADERS = {
    "template": "candidate-shortlisted",
    "recipientVariable": "employer_email",
    "businessIdVariable": "application_id",
}
EMPLOYER_SHORTLISTED_VARIABLES = {
    "employer_email": "hiring@acme.example",
    "candidate_name": "Ada",
    "application_id": "app_7",
    "posting_title": "Python engineer",
    "match_score": 100,
    "matched_skills": ["python"],
}


def test_the_employers_shortlisted_email_links_to_unlocking_the_candidate(services, capture):
    services.unlock_links = UnlockLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/applications/unlock"
    )
    mail = the_one_sent(services, capture, EMPLOYER_SHORTLISTED_HEADERS, EMPLOYER_SHORTLISTED_VARIABLES)
    assert "unlock Ada's contact details here (the page asks\nbefore anything is paid)" in mail["text"]
    assert services.unlock_links.read(the_token(mail, services.unlock_links)) == "app_7"


def test_an_employers_shortlisted_email_without_unlock_links_says_to_unlock_on_hireflow(services, capture):
    mail = the_one_sent(services, capture, EMPLOYER_SHORTLISTED_HEADERS, EMPLOYER_SHORTLISTED_VARIABLES)
    assert (
        "Unlock the contact details on hireflow to get in touch." in mail["text"]
        and "http" not in mail["text"]
    )


SHORTLISTED_HEADERS = {
    "template": "application-shortlisted",
    "recipientVariable": "candidate_email",
    "businessIdVariable": "application_id",
}
SHORTLISTED_VARIABLES = {
    "candidate_email": "ada@example.com",
    "candidate_name": "Ada",
    "application_id": "app_7",
    "posting_title": "Python engineer",
}


def test_the_shortlisted_email_gives_the_candidate_a_signed_link_to_withdraw(services, capture):
    services.withdrawal_links = WithdrawalLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/applications/withdrawal"
    )
    NotificationTasks(services).send_email(
        send_email_job(headers=SHORTLISTED_HEADERS, variables=SHORTLISTED_VARIABLES)
    )
    [mail] = mails(capture)
    assert services.withdrawal_links.read(the_token(mail, services.withdrawal_links)) == "app_7"


def test_a_worker_without_withdrawal_links_sends_the_shortlisted_email_without_one(services, capture):
    NotificationTasks(services).send_email(
        send_email_job(headers=SHORTLISTED_HEADERS, variables=SHORTLISTED_VARIABLES)
    )
    [mail] = mails(capture)
    assert "has been shortlisted" in mail["text"] and "Withdraw" not in mail["text"]


def test_each_attendees_reminder_links_to_ask_for_another_time_as_them(services, capture):
    services.reschedule_links = RescheduleLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/interviews/reschedule"
    )
    headers = {
        "template": "interview-reminder",
        "recipientVariable": "attendee_email",
        "businessIdVariable": "interview_id",
    }
    variables = {
        "interview_id": "int_7",
        "candidate_name": "Ada",
        "candidate_email": "ada@example.com",
        "interview_start": "2026-12-14T09:00:00Z",
        "interview_end": "2026-12-14T10:00:00Z",
        "panel": [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}],
    }
    for key, attendee in enumerate(("ada@example.com", "ivy@example.com"), start=900):
        variables_of_one = {**variables, "attendee_email": attendee}
        NotificationTasks(services).send_email(
            send_email_job(key, headers=headers, variables=variables_of_one)
        )
    links = {
        mail["to"][0]: [word for word in mail["text"].split() if "/interviews/reschedule/" in word]
        for mail in mails(capture)
    }
    [link] = links["ada@example.com"]
    [panelists_link] = links["ivy@example.com"]
    asked = services.reschedule_links.read(link.rsplit("/", 1)[1])
    assert (asked.interview_id, asked.start, asked.panelist) == ("int_7", "2026-12-14T09:00:00Z", None)
    asked = services.reschedule_links.read(panelists_link.rsplit("/", 1)[1])
    assert (asked.interview_id, asked.start, asked.panelist) == ("int_7", "2026-12-14T09:00:00Z", "ivy")
    # With one move allowed and made, the reminder goes without the link.
    services.max_reschedules = 1
    moved_once = {**variables, "attendee_email": "ada@example.com", "rescheduled_from": [{"start": "x"}]}
    NotificationTasks(services).send_email(send_email_job(902, headers=headers, variables=moved_once))
    NotificationTasks(services).send_email(
        send_email_job(903, headers=headers, variables={**moved_once, "attendee_email": "ivy@example.com"})
    )
    candidates, panelists = mails(capture)[-2:]  # oldest first
    assert (
        candidates["subject"] == "Tomorrow: your interview"
        and "/interviews/reschedule/" not in candidates["text"]
    )
    assert panelists["subject"] == "Tomorrow: interview with Ada"
    assert "/interviews/reschedule/" not in panelists["text"]


def test_the_re_upload_email_names_the_reason_and_the_upload_limit_in_force(services, capture):
    services.intake_limits = replace(services.intake_limits, max_bytes=10 * 2**20)
    headers = {
        "template": "resume-rejected",
        "recipientVariable": "candidate_email",
        "businessIdVariable": "resume_id",
    }
    variables = {
        "candidate_email": "ada@example.com",
        "candidate_name": "Ada",
        "resume_id": "res_1",
        "rejection_message": "The document is password-protected.",
    }
    NotificationTasks(services).send_email(send_email_job(headers=headers, variables=variables))
    [mail] = mails(capture)
    assert "The document is password-protected." in mail["text"]
    assert "at most 10 MB" in mail["text"]


def test_pyzeebe_hands_the_job_itself_to_the_task(services):
    [task] = build_router(services).tasks
    assert task.type == JobType.SEND_EMAIL
    assert task.config.job_parameter_name == "job"


@pytest.mark.parametrize(
    ("environment", "tasks_url"),
    [
        ({"HIREFLOW_TASKLIST_URL": "https://camunda.example/tasklist"}, "https://camunda.example/tasklist"),
        # make run's embedded engine has no Tasklist: the webapp lists the tasks.
        ({"HIREFLOW_ENGINE_CONTROL_URL": "http://127.0.0.1:26599"}, "http://hireflow.test/tasks"),
        ({}, "http://localhost:8080/tasklist"),
    ],
)
def test_the_reminder_to_recruiters_links_to_where_their_tasks_are(services, capture, environment, tasks_url):
    services.tasks_url = tasks_url_from_environment("http://hireflow.test", environment)
    headers = {
        "template": "screening-reminder",
        "recipientVariable": "recruiter_team_email",
        "businessIdVariable": "application_id",
    }
    variables = {
        "recruiter_team_email": "recruiters@example.com",
        "application_id": "app_1",
        "candidate_name": "Ada",
        "posting_title": "Python engineer",
        "match_score": 0.5,
    }
    NotificationTasks(services).send_email(send_email_job(headers=headers, variables=variables))
    [mail] = mails(capture)
    assert f"Please pick it up: {tasks_url}\n" in mail["text"]
