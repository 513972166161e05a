"""The SendGrid mailer against the mail capture, over real HTTP (issue 3, acceptance 2)."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta

import pytest
import requests
from flask import Flask

from hireflow.adapters.email import (
    Claim,
    EmailMessage,
    EmailOutbox,
    EmailOutcomeNotYetKnown,
    EmailRejected,
    EmailSendInProgress,
    EmailTemplates,
    EmailTemporarilyUnavailable,
    SendGridMailer,
    SendOutcome,
    readable_span,
    readable_time,
)
from hireflow.errors import RetryLater
from hireflow.sandboxes.mail_capture import SCHEMA, create_mail_capture
from hireflow.store import Database, EmailOutboxEntry, utcnow
from tests.concurrency import errors_all_at_once, race
from tests.engine_helpers import unique_key

API_KEY = "SG.for-tests"


@pytest.fixture
def capture(tmp_path, serve):
    return serve(create_mail_capture(tmp_path / "mail.sqlite3", API_KEY, seed=3))


@pytest.fixture
def outbox(store_url):
    db = Database(store_url)
    db.create_schema()
    return EmailOutbox(db)


def mailer(capture, outbox, api_key=API_KEY) -> SendGridMailer:
    # The capture lists a mail at once, so the mailer need not wait for its activity to catch up.
    return SendGridMailer(
        api_key, sender="no-reply@hireflow.example", outbox=outbox, host=capture.url, activity_lag_seconds=0
    )


def captured(capture, to=None) -> list[dict]:
    return requests.get(
        f"{capture.url}/_capture/messages", params={"to": to} if to else None, timeout=5
    ).json()


def resume_received(to="ada@example.com") -> EmailMessage:
    return EmailMessage(
        dedupe_key=unique_key("resume-received"),
        to=to,
        template="resume-received",
        context={"candidate_name": "Ada", "skills": ["python", "sql"]},
    )


def test_a_mail_is_sent_through_the_sendgrid_sdk_with_its_dedupe_key(capture, outbox):
    message = resume_received()
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    [mail] = captured(capture)
    assert mail["to"] == ["ada@example.com"]
    assert mail["subject"] == "We received your resume, Ada"
    assert "- python\n- sql" in mail["text"]
    assert mail["dedupe_key"] == message.dedupe_key


def test_a_dedupe_key_suppresses_a_second_send(capture, outbox):
    message = resume_received()
    first = mailer(capture, outbox).send(message)
    second = mailer(capture, outbox).send(message)
    assert (first, second) == (SendOutcome.SENT, SendOutcome.ALREADY_SENT)
    assert len(captured(capture)) == 1


def test_of_the_same_mail_sent_by_many_workers_at_once_one_goes_out(capture, outbox):
    # A job delivered again while its first delivery still runs (its timeout passed).
    message = resume_received()

    def send(_):
        try:
            return mailer(capture, outbox).send(message).name
        except EmailSendInProgress:
            return "waits"

    outcomes = race(send, [str(n) for n in range(8)])

    assert outcomes.count("SENT") == 1, outcomes
    assert set(outcomes) <= {"SENT", "ALREADY_SENT", "waits"}, outcomes
    assert len(captured(capture)) == 1


@pytest.mark.parametrize("fault", ["too_many_requests", "server_error"])
def test_a_rate_limit_or_server_error_is_retryable_and_the_retry_sends_once(capture, outbox, fault):
    requests.post(f"{capture.url}/_capture/faults", json={"next_count": {fault: 1}}, timeout=5)
    message = resume_received()
    with pytest.raises(EmailTemporarilyUnavailable):
        mailer(capture, outbox).send(message)
    assert captured(capture) == []
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    assert mailer(capture, outbox).send(message) is SendOutcome.ALREADY_SENT
    assert len(captured(capture)) == 1


def test_a_live_claim_by_another_worker_makes_this_one_wait_until_the_claim_ends(capture, outbox):
    message = resume_received()
    assert outbox.try_claim(message) is Claim.NEW
    with pytest.raises(EmailSendInProgress) as waiting:
        mailer(capture, outbox).send(message)
    assert captured(capture) == []
    # A wait, not a failure (a duplicate delivery must not use up the job's retries),
    # and it ends about when the 30 s claim does.
    assert isinstance(waiting.value, RetryLater)
    assert 25 < waiting.value.after_seconds <= 31


def test_a_claim_left_by_a_sender_that_died_before_sending_expires_and_it_goes_out(capture, outbox):
    message = resume_received()
    expired = EmailOutbox(outbox.db, claim_seconds=-1)
    assert expired.try_claim(message) is Claim.NEW
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    assert len(captured(capture)) == 1


def test_of_many_workers_finding_the_same_claim_expired_one_takes_it_over(outbox):
    # Jobs delivered again after a sender died: each reads the expired claim, and without a
    # check at the write every one of them would go on to send (SQLite ignores FOR UPDATE).
    message = resume_received()
    assert EmailOutbox(outbox.db, claim_seconds=-1).try_claim(message) is Claim.NEW

    taken_over: list[Claim] = []
    errors = errors_all_at_once(8, lambda: outbox, lambda same: taken_over.append(same.try_claim(message)))

    assert taken_over == [Claim.AFTER_LOST_ATTEMPT]
    assert len(errors) == 7 and all(isinstance(error, EmailSendInProgress) for error in errors), errors


def forget_that_it_was_sent(outbox, message) -> None:
    """What a sender SIGKILLed after SendGrid accepted the mail leaves: an expired claim."""
    with outbox.db.sessions.begin() as session:
        entry = session.get(EmailOutboxEntry, message.dedupe_key)
        entry.status, entry.claimed_until = "sending", utcnow() - timedelta(seconds=1)


def test_a_mail_accepted_just_before_its_sender_died_is_found_at_sendgrid_not_sent_again(capture, outbox):
    message = resume_received()
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    forget_that_it_was_sent(outbox, message)

    assert mailer(capture, outbox).send(message) is SendOutcome.ALREADY_SENT

    [mail] = captured(capture)
    assert outbox.try_claim(message) is Claim.ALREADY_SENT
    with outbox.db.sessions() as session:
        assert session.get(EmailOutboxEntry, message.dedupe_key).provider_message_id == mail["id"]


def test_a_lost_try_that_sendgrid_does_not_list_yet_is_waited_for_not_sent_again(tmp_path, serve, outbox):
    # SendGrid's Email Activity lists an accepted mail only after a while.
    capture = serve(create_mail_capture(tmp_path / "mail.sqlite3", API_KEY, activity_lag_seconds=1.0))
    lagging = SendGridMailer(
        API_KEY, sender="no-reply@hireflow.example", outbox=outbox, host=capture.url, activity_lag_seconds=2.0
    )
    message = resume_received()
    assert lagging.send(message) is SendOutcome.SENT
    forget_that_it_was_sent(outbox, message)

    with pytest.raises(EmailOutcomeNotYetKnown) as waiting:
        lagging.send(message)
    assert 0 < waiting.value.after_seconds <= 2.0  # the job waits, keeping its retries
    time.sleep(1.2)  # SendGrid's activity catches up
    assert lagging.send(message) is SendOutcome.ALREADY_SENT
    assert len(captured(capture)) == 1


def test_a_lost_try_that_never_reached_sendgrid_goes_out_once_the_lag_has_passed(capture, outbox):
    lagging = SendGridMailer(
        API_KEY, sender="no-reply@hireflow.example", outbox=outbox, host=capture.url, activity_lag_seconds=0.5
    )
    message = resume_received()
    assert outbox.try_claim(message) is Claim.NEW  # a sender that died before sending
    forget_that_it_was_sent(outbox, message)

    with pytest.raises(EmailOutcomeNotYetKnown):
        lagging.send(message)
    time.sleep(0.6)
    assert lagging.send(message) is SendOutcome.SENT
    assert len(captured(capture)) == 1


@pytest.mark.parametrize("answer", ["<html>Sign in</html>", "[]"])
def test_a_search_answered_by_another_server_is_the_providers_fault_not_a_bug(serve, outbox, answer):
    # Was a JSONDecodeError (or an AttributeError): an incident saying "probably a bug".
    not_sendgrid = Flask("not_sendgrid")
    not_sendgrid.add_url_rule(
        "/<path:anything>", "any", lambda anything: (answer, 200), methods=["GET", "POST"]
    )
    sender = mailer(serve(not_sendgrid), outbox)
    message = resume_received()
    assert outbox.try_claim(message) is Claim.NEW  # a try whose outcome was lost
    forget_that_it_was_sent(outbox, message)
    with pytest.raises(EmailTemporarilyUnavailable, match="not its JSON.*check that the SendGrid host"):
        sender.send(message)


def test_without_the_activity_api_a_lost_attempt_is_sent_again(tmp_path, serve, outbox):
    capture = serve(create_mail_capture(tmp_path / "mail.sqlite3", API_KEY, activity_api=False))
    message = resume_received()
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    forget_that_it_was_sent(outbox, message)

    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    assert len(captured(capture)) == 2  # the documented cost of an account without the add-on


def test_the_capture_searches_mail_activity_as_sendgrid_does(capture, outbox):
    message = resume_received()
    assert mailer(capture, outbox).send(message) is SendOutcome.SENT
    search = f"{capture.url}/v3/messages"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    query = {"query": f"unique_args['dedupe_key']=\"{message.dedupe_key}\"", "limit": 5}
    [found] = requests.get(search, params=query, headers=auth, timeout=5).json()["messages"]
    assert found["to_email"] == "ada@example.com"
    nobody = {"query": 'to_email="nobody@example.com"'}
    assert requests.get(search, params=nobody, headers=auth, timeout=5).json() == {"messages": []}
    assert requests.get(search, params={"query": "subject=1"}, headers=auth, timeout=5).status_code == 400
    assert requests.get(search, params=query, timeout=5).status_code == 401


def test_a_wrong_api_key_is_rejected_for_a_person_to_fix(capture, outbox):
    with pytest.raises(EmailRejected, match="401"):
        mailer(capture, outbox, api_key="SG.wrong").send(resume_received())


# A number is refused too (it was a TypeError): the adapter is not only the send-email worker's.
# So is an address longer than SMTP carries (254): the outbox keeps recipients in 320
# characters, which PostgreSQL enforces and SQLite does not.
@pytest.mark.parametrize(
    "address",
    ["not-an-address", "ada@", "Ada <ada@example.com>", "ada@localhost", 5, "a" * 250 + "@example.com"],
)
def test_a_bad_address_is_rejected_before_anything_is_claimed_or_sent(capture, outbox, address):
    message = resume_received(to=address)
    with pytest.raises(EmailRejected, match="Invalid recipient"):
        mailer(capture, outbox).send(message)
    assert captured(capture) == []
    assert outbox.try_claim(message) is Claim.NEW, "a rejected mail must leave no claim behind"


def test_a_value_with_a_line_break_stays_on_its_line_and_cannot_end_the_subject():
    name = "Ada\nBcc: someone@example.com\r\n\x00"
    subject, text = EmailTemplates().render(
        "application-shortlisted",
        {"candidate_name": name, "posting_title": "Engineer", "application_id": "a-1"},
    )
    assert subject == "Good news about your application, Ada Bcc: someone@example.com"
    assert "\x00" not in text and not text.startswith("Bcc:")
    assert "\n\n" in text  # the template's own line breaks stay


def test_a_template_missing_a_value_is_an_error_not_a_blank():
    with pytest.raises(EmailRejected, match="missing a value"):
        EmailTemplates().render("resume-received", {"skills": []})


@pytest.mark.parametrize("amount_cents", [None, "twelve", [1]])
def test_a_value_a_template_cannot_use_is_bad_data_not_a_bug(amount_cents):
    # The fuzz of send-email found this: a TypeError in the template, "probably a bug".
    context = {"unlock_id": "unl_1", "candidate_id": "ada", "unlock_price": {"amount_cents": amount_cents}}
    with pytest.raises(EmailRejected, match="'payment-approval' cannot use a value it was given"):
        EmailTemplates().render("payment-approval", {**context, "payment_link": lambda _: "http://x"})


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-14T09:00:00Z", "Monday 14 December 2026, 09:00 UTC"),
        ("2026-12-14T10:30:00+01:00", "Monday 14 December 2026, 09:30 UTC"),
        ("2026-12-14T09:00:00", "Monday 14 December 2026, 09:00 UTC"),
        ("2026-12-14T09:00:00.339Z[Etc/UTC]", "Monday 14 December 2026, 09:00 UTC"),  # a user task's due date
        ("next week", "next week"),
    ],
)
def test_times_in_emails_read_as_people_write_them(value, shown):
    assert readable_time(value) == shown


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ("2026-12-14T09:00:00Z", "2026-12-14T10:00:00Z", "Monday 14 December 2026, 09:00 to 10:00 UTC"),
        (
            "2026-12-14T23:30:00Z",
            "2026-12-15T00:30:00Z",
            "Monday 14 December 2026, 23:30 UTC to Tuesday 15 December 2026, 00:30 UTC",
        ),
        ("soon", "later", "soon to later"),
    ],
)
def test_a_span_names_its_day_once(start, end, shown):
    assert readable_span(start, end) == shown


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Europe/Berlin", "Monday 14 December 2026, 10:00 (Europe/Berlin)"),
        ("America/New_York", "Monday 14 December 2026, 04:00 (America/New_York)"),
        ("Pacific/Auckland", "Monday 14 December 2026, 22:00 (Pacific/Auckland)"),
        ("UTC", "Monday 14 December 2026, 09:00 UTC"),
        (None, "Monday 14 December 2026, 09:00 UTC"),
        ("Mars/Olympus_Mons", "Monday 14 December 2026, 09:00 UTC"),  # an odd zone stops no email
        (5, "Monday 14 December 2026, 09:00 UTC"),  # nor a panel's zone that is no text
    ],
)
def test_a_time_reads_in_the_readers_zone(zone, shown):
    assert readable_time("2026-12-14T09:00:00Z", zone) == shown


def test_a_span_in_a_zone_names_the_day_it_falls_on_there():
    # 23:30 UTC on the 14th is the 15th in Tokyo.
    assert (
        readable_span("2026-12-14T23:30:00Z", "2026-12-15T00:30:00Z", "Asia/Tokyo")
        == "Tuesday 15 December 2026, 08:30 to 09:30 (Asia/Tokyo)"
    )


def test_the_slot_email_lists_readable_times_with_their_links():
    subject, text = EmailTemplates().render(
        "interview-slots",
        {
            "candidate_name": "Katherine Johnson",
            "slot_links": [
                {"start": "2026-12-14T09:00:00Z", "url": "http://hireflow.test/interviews/slot/t1"}
            ],
        },
    )
    assert subject == "Choose your interview time, Katherine Johnson"
    assert "- Monday 14 December 2026, 09:00 UTC: http://hireflow.test/interviews/slot/t1" in text


def test_each_attendee_reads_reminders_and_cancellations_in_their_zone():
    # Sent by send-email with the process variables: an instance started before the zones
    # existed has no candidate_timezone and no panelist's timezone, and its mails must
    # still render (in UTC).
    variables = {
        "candidate_name": "Cas",
        "candidate_email": "cas@example.com",
        "interview_start": "2026-12-14T09:00:00Z",
    }
    zoned = {
        **variables,
        "candidate_timezone": "Europe/Berlin",
        "panel": [
            {"username": "ivy", "email": "ivy@example.com", "name": "Ivy", "timezone": "Asia/Kolkata"},
            {"username": "max", "email": "max@example.com", "name": "Max"},
        ],
    }
    templates = EmailTemplates()

    def reminder_to(attendee: str, known: dict, template: str = "interview-reminder") -> str:
        return templates.render(template, {**known, "attendee_email": attendee})[1]

    assert "is on Monday 14 December 2026, 10:00 (Europe/Berlin)." in reminder_to("cas@example.com", zoned)
    assert "is on Monday 14 December 2026, 14:30 (Asia/Kolkata)." in reminder_to("ivy@example.com", zoned)
    assert "is on Monday 14 December 2026, 09:00 UTC." in reminder_to("max@example.com", zoned)
    assert "is on Monday 14 December 2026, 09:00 UTC." in reminder_to("cas@example.com", variables)
    cancelled = reminder_to("ivy@example.com", zoned, "interview-cancelled")
    assert "on Monday 14 December 2026, 14:30 (Asia/Kolkata) has been cancelled." in cancelled


def test_the_capture_refuses_a_body_sendgrid_would_refuse(capture):
    response = requests.post(
        f"{capture.url}/v3/mail/send",
        json={"subject": "hi"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"personalizations", "from.email", "content"} <= fields


def a_mail_body(**fields) -> dict:
    """A v3 mail body SendGrid accepts, with ``fields`` put in its place."""
    body = {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "no-reply@hireflow.example"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    return {**body, **fields}


def an_invitation(media_type: str) -> dict:
    """An attachment as the invitation step sends it, with ``media_type`` as its type."""
    return {"content": "QkVHSU4=", "filename": "invite.ics", "type": media_type}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        # Each of these was a 500 (a TypeError, or SQLite refusing a list), and nothing was kept.
        ({"custom_args": ["dedupe_key"]}, "custom_args"),
        (
            {"personalizations": [{"to": [{"email": "ada@example.com"}], "custom_args": "x"}]},
            "personalizations.0.custom_args",
        ),
        ({"subject": ["Hello"]}, "subject"),
        ({"personalizations": [{"to": [{"email": ["ada@example.com"]}]}]}, "personalizations.0.to"),
        ({"from": {"email": ["no-reply@hireflow.example"]}}, "from.email"),
        ({"content": [{"type": "text/plain", "value": ["Hi"]}]}, "content"),
        # These were kept, though SendGrid refuses them.
        ({"custom_args": {"attempt": 1}}, "custom_args.attempt"),
        ({"attachments": [{"filename": ["invite.ics"]}]}, "attachments"),
        ({"attachments": {"invite.ics": "QkVHSU4="}}, "attachments"),
        # SendGrid takes no parameter in an attachment's type but a calendar's method.
        (
            {"attachments": [an_invitation("text/calendar; charset=UTF-8; method=REQUEST")]},
            "attachments.0.type",
        ),
        ({"attachments": [an_invitation("text/calendar\r\nX-Header: 1")]}, "attachments.0.type"),
    ],
)
def test_the_capture_refuses_a_value_of_the_wrong_type_naming_its_field(capture, fields, field):
    response = requests.post(
        f"{capture.url}/v3/mail/send",
        json=a_mail_body(**fields),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}
    assert requests.get(f"{capture.url}/_capture/messages", timeout=5).json() == []


@pytest.mark.parametrize(
    "media_type", ["text/calendar", "text/calendar; method=REQUEST", "text/calendar;method=CANCEL"]
)
def test_the_capture_keeps_a_mail_with_string_custom_args_and_an_attachment(capture, media_type):
    attachment = an_invitation(media_type)
    response = requests.post(
        f"{capture.url}/v3/mail/send",
        json=a_mail_body(custom_args={"dedupe_key": "k1"}, attachments=[attachment]),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 202
    [kept] = requests.get(f"{capture.url}/_capture/messages", timeout=5).json()
    assert (kept["dedupe_key"], kept["attachments"]) == ("k1", [attachment])


def test_the_capture_refuses_a_key_with_a_foreign_letter_as_any_wrong_key(capture):
    # compare_digest refuses a str with a non-ASCII letter: that was a 500.
    response = requests.post(
        f"{capture.url}/v3/mail/send", json={}, headers={"Authorization": "Bearer \xe9"}, timeout=5
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body", [{"rates": "all"}, {"rates": {"too_many_requests": 2}}, {"next_count": {"server_error": -1}}, []]
)
def test_bad_fault_settings_for_the_capture_get_a_clear_400(capture, body):
    response = requests.post(f"{capture.url}/_capture/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


def test_the_capture_refuses_json_nested_too_deeply_to_read(capture):
    # Python's parser gives up some 1,000 levels down; that was a 500 (a RecursionError).
    response = requests.post(
        f"{capture.url}/v3/mail/send",
        data=b"[" * 5000 + b"]" * 5000,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["errors"]


@pytest.mark.parametrize(
    ("skills", "says"),
    [
        (["python"], "We found 1 skill in it:\n- python\n"),
        (["python", "sql"], "We found 2 skills in it:\n- python\n- sql\n"),
        ([], "We found no skills we know in it"),
    ],
)
def test_the_resume_email_counts_skills_in_words(skills, says):
    _, text = EmailTemplates().render("resume-received", {"candidate_name": "Ada", "skills": skills})
    assert says in text
    assert "(s)" not in text


@pytest.mark.parametrize(
    ("credits", "left", "says"),
    [
        (1, None, "Paid with 1 credit.\n"),  # an instance from before the balance was kept
        (2, 0, "Paid with 2 credits; you have 0 credits left.\n"),
        (2, 1, "Paid with 2 credits; you have 1 credit left.\n"),
    ],
)
def test_the_receipt_counts_credits_spent_and_left_in_words(credits, left, says):
    context = {"unlock_id": "unl_1", "candidate_id": "ada", "paid_with": "credits", "credits_spent": credits}
    if left is not None:
        context["credit_balance"] = left
    _, text = EmailTemplates().render("unlock-receipt", context)
    assert says in text


@pytest.mark.parametrize(
    ("given_back", "says"),
    [
        ({}, "has been refunded.\n"),  # an instance without the refund's variables
        ({"credits_refunded": 1}, "has been refunded: 1 credit is back in your balance.\n"),
        (
            {"refund_id": "re_1", "unlock_price": {"amount_cents": 2000, "currency": "eur"}},
            "has been refunded: 20.00 EUR to your card (refund re_1).\n",
        ),
    ],
)
def test_the_refund_email_says_what_came_back(given_back, says):
    context = {"unlock_id": "unl_1", "candidate_id": "ada", **given_back}
    _, text = EmailTemplates().render("unlock-refunded", context)
    assert says in text


# An interview's variables as its emails see them; each test adds what it is about.
INTERVIEW_VARIABLES = {
    "candidate_name": "Cas",
    "candidate_email": "cas@example.com",
    "interview_start": "2026-12-14T09:00:00Z",
    "tasks_url": "http://hireflow.test/tasks",
}


@pytest.mark.parametrize("template", ["interview-invitation", "interview-reminder", "interview-cancelled"])
def test_interview_emails_speak_to_the_candidate_and_about_them_to_the_panel(template):
    context = INTERVIEW_VARIABLES
    _, to_candidate = EmailTemplates().render(template, {**context, "attendee_email": "cas@example.com"})
    _, to_panel = EmailTemplates().render(template, {**context, "attendee_email": "ivy@example.com"})
    assert to_candidate.startswith("Hello Cas,\n\n") and "our interview" in to_candidate
    assert "interview with Cas" not in to_candidate
    assert to_panel.startswith("Hello,\n") and "interview with Cas" in to_panel
    assert "Monday 14 December 2026, 09:00 UTC" in to_candidate and "Monday 14 December 2026" in to_panel
    # An instance that knows the job's title names it to both; one started without it does not.
    assert 'for "' not in to_candidate + to_panel
    titled = {**context, "posting_title": "Welder"}
    _, to_candidate = EmailTemplates().render(template, {**titled, "attendee_email": "cas@example.com"})
    _, to_panel = EmailTemplates().render(template, {**titled, "attendee_email": "ivy@example.com"})
    assert 'our interview for "Welder"' in to_candidate and 'interview with Cas for "Welder"' in to_panel


@pytest.mark.parametrize("template", ["interview-invitation", "interview-reminder"])
def test_the_booked_interview_is_given_from_when_to_when(template):
    context = {
        **INTERVIEW_VARIABLES,
        "attendee_email": "cas@example.com",
        "candidate_timezone": "Europe/Berlin",
        "interview_end": "2026-12-14T10:00:00Z",
    }
    _, text = EmailTemplates().render(template, context)
    assert "Monday 14 December 2026, 10:00 to 11:00 (Europe/Berlin)." in text


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("interview-slots", 'times for your interview for "Welder":'),
        ("interview-slot-reminder", 'a time for your interview for "Welder" yet'),
        ("feedback-overdue", 'the interview with Cas for "Welder" ('),
    ],
)
def test_the_other_interview_emails_name_the_job_when_the_instance_knows_it(template, says):
    slot_links = [{"start": "2026-12-14T09:00:00Z", "url": "http://hireflow.test/s/1"}]
    context = {**INTERVIEW_VARIABLES, "slot_links": slot_links}
    _, untitled = EmailTemplates().render(template, context)
    _, titled = EmailTemplates().render(template, {**context, "posting_title": "Welder"})
    assert 'for "' not in untitled
    assert says in titled


@pytest.mark.parametrize(
    ("decline_code", "says"),
    [
        ("insufficient_funds", "Your card was declined (insufficient funds) when"),
        ("generic_decline", "Your card was declined when"),
        (None, "Your card was declined when"),
    ],
)
def test_a_decline_is_explained_in_words_not_codes(decline_code, says):
    context = {"unlock_id": "unl_1", "candidate_id": "ada", "card_link": lambda unlock_id: "http://x/card"}
    if decline_code:
        context["decline_code"] = decline_code
    _, text = EmailTemplates().render("payment-declined", context)
    assert says in text


def test_a_shortlist_without_matched_skills_says_so_instead_of_an_empty_list():
    context = {"candidate_name": "Cas", "posting_title": "Welder", "match_score": 20, "matched_skills": []}
    _, text = EmailTemplates().render("candidate-shortlisted", context)
    assert "Matched skills: ." not in text and "a recruiter shortlisted the profile" in text


def test_a_capture_file_from_before_the_recipients_index_gets_it_with_its_mails(tmp_path, serve):
    # A make run's capture keeps its file across runs: the mails it held before the index
    # must still be found by recipient, and once.
    path = tmp_path / "mail.sqlite3"
    earlier = sqlite3.connect(path)
    earlier.executescript(SCHEMA)
    recipients = json.dumps(["a@example.com", "b@example.com"])
    earlier.execute(
        "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?)",
        ("m1", 1.0, "no-reply@hireflow.example", recipients, "Hello", "Hi", None, "{}", "[]"),
    )
    earlier.commit()
    earlier.close()

    capture = serve(create_mail_capture(path, API_KEY))
    create_mail_capture(path, API_KEY)  # a second start adds nothing

    for address in ("a@example.com", "b@example.com"):
        inbox = requests.get(f"{capture.url}/_capture/messages", params={"to": address}, timeout=5)
        assert [mail["id"] for mail in inbox.json()] == ["m1"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM recipients").fetchone() == (2,)


def test_the_capture_lists_the_newest_mails_with_the_count_of_all(capture, outbox):
    sender = mailer(capture, outbox)
    for address in ("a@example.com", "b@example.com", "a@example.com"):
        sender.send(resume_received(to=address))
    listed = requests.get(f"{capture.url}/_capture/messages", params={"limit": 2}, timeout=5)
    assert [mail["to"] for mail in listed.json()] == [["b@example.com"], ["a@example.com"]]  # oldest first
    assert listed.headers["X-Total-Count"] == "3"
    to_a = requests.get(
        f"{capture.url}/_capture/messages", params={"to": "a@example.com", "limit": 1}, timeout=5
    )
    assert (len(to_a.json()), to_a.headers["X-Total-Count"]) == (1, "2")
    every_to_a = requests.get(f"{capture.url}/_capture/messages", params={"to": "a@example.com"}, timeout=5)
    assert [mail["id"] for mail in every_to_a.json()] == [
        mail["id"]
        for mail in requests.get(f"{capture.url}/_capture/messages", timeout=5).json()
        if mail["to"] == ["a@example.com"]
    ]
    assert len(every_to_a.json()) == 2 and every_to_a.json()[-1]["id"] == to_a.json()[0]["id"]
    nobody = requests.get(f"{capture.url}/_capture/messages", params={"to": "example.com"}, timeout=5)
    assert (nobody.json(), nobody.headers["X-Total-Count"]) == ([], "0")  # a whole address, not a part
    for bad in ("0", "000", "many", "1_0", "\u0663", "-1"):
        refused = requests.get(f"{capture.url}/_capture/messages", params={"limit": bad}, timeout=5)
        assert refused.status_code == 400 and "limit" in refused.text
    # More than SQLite's integers hold was a 500 (OverflowError); no count of mails reaches it.
    every = requests.get(f"{capture.url}/_capture/messages", params={"limit": "9" * 30}, timeout=5)
    assert every.status_code == 200 and len(every.json()) == int(every.headers["X-Total-Count"])
