"""Interview-scheduling workers on a real store, mailing through the capture server over HTTP."""

import base64
import re
from datetime import UTC, datetime

import icalendar
import pytest
import requests

from hireflow.adapters.calendar import SlotTaken, StoreCalendar
from hireflow.adapters.email import EmailOutbox, SendGridMailer, readable_time
from hireflow.constants import JobType
from hireflow.errors import PermanentFailure
from hireflow.sandboxes.mail_capture import create_mail_capture
from hireflow.signed_links import (
    OtherTimesLinks,
    RescheduleLinks,
    SignedLinkInvalid,
    SlotLinks,
    WithdrawalLinks,
)
from hireflow.store import BusinessRecord, Database
from job_workers.interview import InterviewSchedulingTasks, NoFreeSlots
from job_workers.records import OFFERED_SLOTS, OTHER_TIMES_ASKED, SLOT_CHOSEN, SLOT_LOST, record_details
from job_workers.services import Services
from tests.jobs import make_job

PANEL = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]
# The marketplace's own address: emails come from it, and invitations name it as organizer.
MAIL_FROM = "interviews@marketplace.test"
MONDAY_MORNING = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def capture(tmp_path, serve):
    return serve(create_mail_capture(tmp_path / "mail.sqlite3", "SG.key"))


@pytest.fixture
def tasks(store_url, capture) -> InterviewSchedulingTasks:
    db = Database(store_url)
    db.create_schema()
    services = Services(
        files=None,
        db=db,
        mailer=SendGridMailer("SG.key", sender=MAIL_FROM, outbox=EmailOutbox(db), host=capture.url),
        calendar=StoreCalendar(db),
        slot_links=SlotLinks("a-test-secret-of-some-length", "http://hireflow.test/interviews/slot"),
        mail_from=MAIL_FROM,
    )
    return InterviewSchedulingTasks(services, now=lambda: MONDAY_MORNING)


def mails(capture) -> list[dict]:
    return requests.get(f"{capture.url}/_capture/messages", timeout=5).json()


def invitation_of(mail: dict) -> tuple[str, icalendar.Calendar]:
    """A mail's calendar attachment: its MIME type, and its iCalendar object."""
    [attachment] = mail["attachments"]
    assert attachment["filename"] == "invitation.ics"
    return attachment["type"], icalendar.Calendar.from_ical(base64.b64decode(attachment["content"]))


def test_slots_are_offered_by_signed_links_sent_once(tasks, capture):
    # The candidate's choice from an earlier offer (its slot taken meanwhile) is forgotten.
    record_details(tasks.services.db, "interview", "i-1", "requested", slot_chosen={"start": "x"})
    slots = tasks.find_slots("i-1", PANEL)["proposed_slots"]
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("interview", "i-1")).details
        assert SLOT_CHOSEN not in details
        assert details[OFFERED_SLOTS] == slots  # the webapp refuses a link of another offer
    assert len(slots) == 3 and slots[0]["start"] == "2026-11-24T09:00:00Z"
    job = make_job(JobType.EMAIL_SLOT_LINKS, headers={"template": "interview-slots"})
    tasks.email_slot_links(job, "i-1", "cand@example.com", "Cas", slots)
    tasks.email_slot_links(job, "i-1", "cand@example.com", "Cas", slots)
    sent = mails(capture)
    assert len(sent) == 1
    tokens = re.findall(r"http://hireflow\.test/interviews/slot/(\S+)", sent[0]["text"])
    assert len(tokens) == 3
    token = tokens[0]
    choice = tasks.services.slot_links.read(token)
    assert choice.interview_id == "i-1" and choice.slot == slots[0]
    with pytest.raises(SignedLinkInvalid):
        tasks.services.slot_links.read(token[:-2] + "xx")


def test_a_time_taken_before_it_was_booked_is_kept_beside_the_new_offer(tasks):
    # Its link's page then says it was taken, not that it came from an earlier email.
    taken = {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}
    tasks.find_slots("i-34", PANEL, new_offer_reason="slot-taken", selected_slot=taken)
    with tasks.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("interview", "i-34")).details[SLOT_LOST] == taken
    # The next offer made for another reason (a move, a follow-up) forgets it.
    tasks.find_slots("i-34", PANEL, new_offer_reason="moved", selected_slot=taken)
    with tasks.services.db.sessions() as session:
        assert SLOT_LOST not in session.get(BusinessRecord, ("interview", "i-34")).details


def test_the_offer_gives_the_earliest_hour_then_other_days_at_other_hours(tasks):
    # Not Tuesday 09:00, 10:00 and 11:00: a candidate busy on Tuesday mornings had no choice.
    slots = tasks.find_slots("i-30", PANEL)["proposed_slots"]
    assert [slot["start"] for slot in slots] == [
        "2026-11-24T09:00:00Z",
        "2026-11-25T10:00:00Z",
        "2026-11-26T11:00:00Z",
    ]


def test_times_the_candidate_turned_down_are_not_offered_again(tasks):
    first = tasks.find_slots("i-31", PANEL)["proposed_slots"]
    record_details(
        tasks.services.db, "interview", "i-31", "requested", **{OTHER_TIMES_ASKED: first[0]["start"]}
    )
    second = tasks.find_slots("i-31", PANEL, offers_declined=[first])["proposed_slots"]
    assert len(second) == 3 and not set(map(str, first)) & set(map(str, second))
    third = tasks.find_slots("i-31", PANEL, offers_declined=[first, second])["proposed_slots"]
    assert not set(map(str, first + second)) & set(map(str, third))
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("interview", "i-31")).details
    # The webapp reads how many were turned down, and takes a choice from the new offer again.
    assert (details["offers_turned_down"], OTHER_TIMES_ASKED in details) == (2, False)
    with pytest.raises(PermanentFailure, match="offers_declined must be a list of offers"):
        tasks.find_slots("i-31", PANEL, offers_declined=first)


def test_the_offer_links_to_ask_for_other_times_while_the_model_waits_for_that(tasks, capture):
    tasks.services.other_times_links = OtherTimesLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/interviews/other-times"
    )
    slots = tasks.find_slots("i-32", PANEL)["proposed_slots"]
    asks_too = {"template": "interview-slots", "otherTimesLink": "true"}
    link = r"http://hireflow\.test/interviews/other-times/(\S+)"
    for key, (headers, declined) in enumerate(
        [
            (asks_too, None),
            (asks_too, [[{"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z"}]]),
            (asks_too, [[], []]),  # turned down as many offers as they may
            ({"template": "interview-slots"}, None),  # a model before the wait for it
        ],
        start=800,
    ):
        job = make_job(JobType.EMAIL_SLOT_LINKS, element_instance_key=key, headers=headers)
        tasks.email_slot_links(job, "i-32", "cand@example.com", "Cas", slots, offers_declined=declined)
    # HIREFLOW_MAX_OFFERS_DECLINED at 1: one offer turned down is as many as they may.
    tasks.services.max_offers_declined = 1
    job = make_job(JobType.EMAIL_SLOT_LINKS, element_instance_key=804, headers=asks_too)
    tasks.email_slot_links(job, "i-32", "cand@example.com", "Cas", slots, offers_declined=[[]])
    found = [re.findall(link, mail["text"]) for mail in mails(capture)]
    assert [len(tokens) for tokens in found] == [1, 1, 0, 0, 0]
    # Where the model waits for it but no more may be turned down, the email says what then.
    instead = ["a recruiter will contact you to find a time" in mail["text"] for mail in mails(capture)]
    assert instead == [False, False, True, False, True]
    asked = tasks.services.other_times_links.read(found[0][0])
    assert (asked.interview_id, asked.offer_start) == ("i-32", slots[0]["start"])
    assert "None of these times suit you?" in mails(capture)[0]["text"]


def test_a_new_offer_says_why_it_comes(tasks, capture):
    # A candidate who chose a time and then got "Choose your interview time" again could take
    # the first choice for booked; each loop back to the offer names its reason instead.
    slots = tasks.find_slots("i-33", PANEL)["proposed_slots"]
    taken = {"start": "2026-11-24T14:00:00Z", "end": "2026-11-24T15:00:00Z"}
    reasons = [None, "slot-taken", "other-times-asked", "moved", "follow-up", "a-reason-added-later"]
    for key, reason in enumerate(reasons, start=900):
        job = make_job(
            JobType.EMAIL_SLOT_LINKS, element_instance_key=key, headers={"template": "interview-slots"}
        )
        tasks.email_slot_links(
            job,
            "i-33",
            "cand@example.com",
            "Cas",
            slots,
            candidate_timezone="America/New_York",
            new_offer_reason=reason,
            selected_slot=taken,
        )
    sent = mails(capture)
    assert [mail["subject"] for mail in sent] == [
        "Choose your interview time, Cas",
        "Please choose another interview time, Cas",
        *["New times for your interview, Cas"] * 4,
    ]
    texts = [mail["text"] for mail in sent]
    assert "Please pick one of these times for your interview:" in texts[0]
    # The time lost, in the candidate's zone as their first email gave it.
    lost = readable_time(taken["start"], "America/New_York")
    assert f"Sorry: the time you chose, {lost}, was no longer free" in texts[1]
    assert "not booked yet" in texts[1]
    assert "As you asked, here are new times" in texts[2] and "none of those you turned down" in texts[2]
    assert "is moving. Please pick one of these new times:" in texts[3]
    assert "We have not heard from you" in texts[4]
    assert "Here are new times for your interview. Please pick one:" in texts[5]
    assert all(text.count("/interviews/slot/") == 3 for text in texts)
    with pytest.raises(PermanentFailure, match="selected_slot"):
        tasks.email_slot_links(
            make_job(
                JobType.EMAIL_SLOT_LINKS, element_instance_key=999, headers={"template": "interview-slots"}
            ),
            "i-33",
            "cand@example.com",
            "Cas",
            slots,
            new_offer_reason="slot-taken",
            selected_slot={"start": "not a time"},
        )


def test_the_slot_offer_and_its_reminder_offer_to_withdraw_instead(tasks, capture):
    # Rather than stay silent (and be reminded, then followed up), the candidate can say no.
    tasks.services.withdrawal_links = WithdrawalLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/applications/withdrawal"
    )
    slots = tasks.find_slots("i-3", PANEL)["proposed_slots"]
    for key, template in enumerate(("interview-slots", "interview-slot-reminder"), start=700):
        job = make_job(JobType.EMAIL_SLOT_LINKS, element_instance_key=key, headers={"template": template})
        tasks.email_slot_links(job, "i-3", "cand@example.com", "Cas", slots, application_id="app_3")
    sent = mails(capture)
    assert len(sent) == 2
    for mail in sent:
        [token] = re.findall(r"http://hireflow\.test/applications/withdrawal/(\S+)", mail["text"])
        assert tasks.services.withdrawal_links.read(token) == "app_3"


def test_the_withdrawal_link_is_only_ever_for_the_interviews_own_application(tasks, capture):
    tasks.services.withdrawal_links = WithdrawalLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/applications/withdrawal"
    )
    record_details(tasks.services.db, "interview", "i-4", "requested", application_id="app_4")
    slots = tasks.find_slots("i-4", PANEL)["proposed_slots"]
    job = make_job(JobType.EMAIL_SLOT_LINKS, headers={"template": "interview-slots"})
    # application_id set by hand to another candidate's application: no link to withdraw it.
    with pytest.raises(PermanentFailure, match="set application_id back to 'app_4'"):
        tasks.email_slot_links(job, "i-4", "cand@example.com", "Cas", slots, application_id="app_other")
    assert mails(capture) == []
    tasks.email_slot_links(job, "i-4", "cand@example.com", "Cas", slots, application_id="app_4")
    assert len(mails(capture)) == 1


def test_each_panelist_reads_the_booked_start_in_their_zone(tasks):
    panel = [
        {"username": "ivy", "email": "ivy@example.com", "name": "Ivy", "timezone": "Europe/Berlin"},
        {"username": "joe", "email": "joe@example.com", "name": "Joe"},
    ]
    slot = {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}
    booked = tasks.book_slot("i-12", panel, slot)
    assert booked["interview_start_by_panelist"] == {
        "ivy": "Monday 14 December 2026, 10:00 (Europe/Berlin)",
        "joe": "Monday 14 December 2026, 09:00 UTC",
    }


def test_slots_are_searched_from_the_engines_clock_when_the_model_passes_it(tasks):
    # FEEL's now(), as the engine hands it over: a week after the worker's own clock.
    slots = tasks.find_slots("i-8", PANEL, search_from="2026-11-30T08:00:00.123Z[Etc/UTC]")["proposed_slots"]
    assert slots[0]["start"] == "2026-12-01T09:00:00Z"


def test_a_booked_slot_is_taken_for_the_next_interview_and_invitations_carry_ics(tasks, capture):
    slot = tasks.find_slots("i-2", PANEL)["proposed_slots"][0]
    booked = tasks.book_slot("i-2", PANEL, slot)
    assert booked == {
        "interview_start": slot["start"],
        "interview_end": slot["end"],
        "interview_start_by_panelist": {"ivy": readable_time(slot["start"])},
    }
    assert tasks.book_slot("i-2", PANEL, slot) == booked  # redelivered job: same booking
    with pytest.raises(SlotTaken):
        tasks.book_slot("i-3", PANEL, slot)
    job = make_job(JobType.SEND_INTERVIEW_INVITATION, headers={"method": "REQUEST"})
    tasks.send_invitation(job, "i-2", "ivy@example.com", "Cas", "cas@example.com", panel=PANEL)
    tasks.send_invitation(job, "i-2", "ivy@example.com", "Cas", "cas@example.com", panel=PANEL)
    sent = mails(capture)
    assert len(sent) == 1
    # The type names the method too, as iMIP asks of an invitation sent by email; the
    # organizer, where attendees' calendar apps send their answer, is the mail's sender.
    media_type, invitation = invitation_of(sent[0])
    assert (media_type, str(invitation["METHOD"])) == ("text/calendar; method=REQUEST", "REQUEST")
    [event] = invitation.walk("VEVENT")
    assert (str(event["ORGANIZER"]), sent[0]["from"]) == (f"mailto:{MAIL_FROM}", MAIL_FROM)
    # The calendar app lists the guest by name, as the panel gives it.
    attendee = event["ATTENDEE"]
    assert (str(attendee), attendee.params["CN"]) == ("mailto:ivy@example.com", "Ivy")
    assert sent[0]["subject"].startswith("Interview with Cas on ")
    # The panelist learns where their feedback form will wait.
    tasks_at = f"your feedback form waits for\nyou in the task list: {tasks.services.tasks_url}\n"
    assert tasks_at in sent[0]["text"]


def test_the_candidate_is_invited_in_the_second_person(tasks, capture):
    slot = tasks.find_slots("i-9", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-9", PANEL, slot)
    job = make_job(JobType.SEND_INTERVIEW_INVITATION, headers={"method": "REQUEST"})
    tasks.send_invitation(job, "i-9", "cas@example.com", "Cas", "cas@example.com")
    [mail] = mails(capture)
    assert invitation_of(mail)[1].walk("VEVENT")[0]["ATTENDEE"].params["CN"] == "Cas"
    assert mail["subject"].startswith("Your interview on ")
    assert mail["text"].startswith("Hello Cas,\n\nYour interview is booked for ")
    assert ", 09:00 to 10:00 UTC.\n" in mail["text"]  # from when to when
    assert "The interview with Cas" not in mail["text"] and "feedback" not in mail["text"]


def test_the_offer_and_each_invitation_name_the_job_in_the_email_and_the_calendar(tasks, capture):
    # A candidate may be interviewing for several jobs: each email and event says which.
    slots = tasks.find_slots("i-14", PANEL)["proposed_slots"]
    offer = make_job(JobType.EMAIL_SLOT_LINKS, headers={"template": "interview-slots"})
    tasks.email_slot_links(offer, "i-14", "cas@example.com", "Cas", slots, posting_title="Welder")
    tasks.book_slot("i-14", PANEL, slots[0])
    for key, attendee in enumerate(("cas@example.com", "ivy@example.com"), start=800):
        invite = make_job(
            JobType.SEND_INTERVIEW_INVITATION, element_instance_key=key, headers={"method": "REQUEST"}
        )
        tasks.send_invitation(invite, "i-14", attendee, "Cas", "cas@example.com", posting_title="Welder")
    links, to_candidate, to_ivy = mails(capture)
    assert 'Please pick one of these times for your interview for "Welder":' in links["text"]
    assert 'Your interview for "Welder" is booked for ' in to_candidate["text"]
    assert 'The interview with Cas for "Welder" is booked for ' in to_ivy["text"]
    titles = [str(invitation_of(mail)[1].walk("VEVENT")[0]["SUMMARY"]) for mail in (to_candidate, to_ivy)]
    assert titles == ["Interview for Welder", "Interview with Cas for Welder"]


def test_an_instance_started_without_the_jobs_title_gives_none(tasks, capture):
    slot = tasks.find_slots("i-15", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-15", PANEL, slot)
    for key, attendee in enumerate(("cas@example.com", "ivy@example.com"), start=900):
        invite = make_job(
            JobType.SEND_INTERVIEW_INVITATION, element_instance_key=key, headers={"method": "REQUEST"}
        )
        tasks.send_invitation(invite, "i-15", attendee, "Cas", "cas@example.com")
    to_candidate, to_ivy = mails(capture)
    titles = [str(invitation_of(mail)[1].walk("VEVENT")[0]["SUMMARY"]) for mail in (to_candidate, to_ivy)]
    # Not "Interview with Cas" in Cas's own calendar, as it was.
    assert titles == ["Your interview", "Interview with Cas"]
    assert 'for "' not in to_candidate["text"] + to_ivy["text"]


def test_each_attendee_gets_times_in_their_zone_and_the_invitation_in_utc(tasks, capture):
    panel = [
        {"username": "ivy", "email": "ivy@example.com", "name": "Ivy", "timezone": "Europe/Berlin"},
        {"username": "max", "email": "max@example.com", "name": "Max"},  # gave no zone: UTC
    ]
    slots = tasks.find_slots("i-11", panel)["proposed_slots"]
    offer = make_job(JobType.EMAIL_SLOT_LINKS, headers={"template": "interview-slots"})
    tasks.email_slot_links(
        offer, "i-11", "cas@example.com", "Cas", slots, candidate_timezone="America/New_York"
    )
    tasks.book_slot("i-11", panel, slots[0])
    attendees = ("cas@example.com", "ivy@example.com", "max@example.com")
    for key, attendee in enumerate(attendees, start=600):  # one job each
        invite = make_job(
            JobType.SEND_INTERVIEW_INVITATION, element_instance_key=key, headers={"method": "REQUEST"}
        )
        tasks.send_invitation(invite, "i-11", attendee, "Cas", "cas@example.com", "America/New_York", panel)
    links, to_candidate, to_ivy, to_max = mails(capture)
    assert "- Tuesday 24 November 2026, 04:00 (America/New_York): http://" in links["text"]
    assert to_candidate["subject"] == "Your interview on Tuesday 24 November 2026, 04:00 (America/New_York)"
    assert to_ivy["subject"] == "Interview with Cas on Tuesday 24 November 2026, 10:00 (Europe/Berlin)"
    assert to_max["subject"] == "Interview with Cas on Tuesday 24 November 2026, 09:00 UTC"
    # The invitation is the same instant for everyone, in UTC, as calendars take it.
    for mail in (to_candidate, to_ivy):
        assert b"DTSTART:20261124T090000Z" in base64.b64decode(mail["attachments"][0]["content"])


def test_a_choice_from_an_earlier_offer_is_not_booked_and_new_times_are_offered(tasks):
    earlier, *_ = tasks.find_slots("i-10", PANEL)["proposed_slots"]
    now_offered = [s for s in tasks.find_slots("i-10", PANEL)["proposed_slots"] if s != earlier]
    with pytest.raises(SlotTaken, match="not among the times offered now"):
        tasks.book_slot("i-10", PANEL, earlier, proposed_slots=now_offered)
    assert tasks.services.calendar.booking("i-10") is None
    booked = tasks.book_slot("i-10", PANEL, now_offered[0], proposed_slots=now_offered)
    assert booked["interview_start"] == now_offered[0]["start"]


def test_cancelling_releases_the_slot_once(tasks):
    slot = tasks.find_slots("i-4", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-4", PANEL, slot)
    assert tasks.cancel_booking("i-4") == {"booking_released": True}
    assert tasks.cancel_booking("i-5-never-booked") == {"booking_released": False}
    assert tasks.book_slot("i-6", PANEL, slot)["interview_start"] == slot["start"]


def test_a_cancellation_updates_the_invitation_the_attendee_has(tasks, capture):
    slot = tasks.find_slots("i-12", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-12", PANEL, slot)
    invite = make_job(
        JobType.SEND_INTERVIEW_INVITATION, element_instance_key=700, headers={"method": "REQUEST"}
    )
    tasks.send_invitation(invite, "i-12", "ivy@example.com", "Cas", "cas@example.com")
    tasks.cancel_booking("i-12")
    cancel = make_job(
        JobType.SEND_INTERVIEW_INVITATION, element_instance_key=701, headers={"method": "CANCEL"}
    )
    tasks.send_invitation(cancel, "i-12", "ivy@example.com", "Cas", "cas@example.com")
    invited, cancelled = sorted(mails(capture), key=lambda mail: "cancelled" in mail["dedupe_key"])
    assert "cancelled" in cancelled["dedupe_key"]
    _, invitation = invitation_of(invited)
    cancel_type, cancellation = invitation_of(cancelled)
    assert (cancel_type, str(cancellation["METHOD"])) == ("text/calendar; method=CANCEL", "CANCEL")
    # The same event (UID) from the same organizer, a later SEQUENCE: calendars take it out.
    [first], [then] = invitation.walk("VEVENT"), cancellation.walk("VEVENT")
    assert [str(then[p]) for p in ("UID", "ORGANIZER")] == [str(first[p]) for p in ("UID", "ORGANIZER")]
    assert (int(first["SEQUENCE"]), int(then["SEQUENCE"]), str(then["STATUS"])) == (0, 1, "CANCELLED")


def test_an_invitation_taken_before_a_cancellation_is_not_sent_after_it(tasks, capture):
    slot = tasks.find_slots("i-13", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-13", PANEL, slot)
    invite = make_job(JobType.SEND_INTERVIEW_INVITATION, headers={"method": "REQUEST"})
    tasks.cancel_booking("i-13")  # the cancellation's first step ran while the job was out
    assert tasks.send_invitation(invite, "i-13", "ivy@example.com", "Cas", "cas@example.com") == {}
    assert mails(capture) == []


def test_each_attendees_invitation_links_to_ask_for_another_time_as_them(tasks, capture):
    tasks.services.reschedule_links = RescheduleLinks(
        "a-test-secret-of-some-length", "http://hireflow.test/interviews/reschedule"
    )
    slot = tasks.find_slots("i-20", PANEL)["proposed_slots"][0]
    tasks.book_slot("i-20", PANEL, slot)
    for key, attendee in enumerate(("cas@example.com", "ivy@example.com"), start=800):
        job = make_job(
            JobType.SEND_INTERVIEW_INVITATION, element_instance_key=key, headers={"method": "REQUEST"}
        )
        tasks.send_invitation(job, "i-20", attendee, "Cas", "cas@example.com", panel=PANEL)
    link = r"http://hireflow\.test/interviews/reschedule/(\S+)"
    by_attendee = {mail["to"][0]: re.findall(link, mail["text"]) for mail in mails(capture)}
    [token] = by_attendee["cas@example.com"]
    [panelists_token] = by_attendee["ivy@example.com"]
    asked = tasks.services.reschedule_links.read(token)
    assert (asked.interview_id, asked.start, asked.panelist) == ("i-20", slot["start"], None)
    # A panelist who cannot make it asks too, by a link that names them.
    asked = tasks.services.reschedule_links.read(panelists_token)
    assert (asked.interview_id, asked.start, asked.panelist) == ("i-20", slot["start"], "ivy")
    # Moved as often as it may be (HIREFLOW_MAX_RESCHEDULES, 2), the link would only lead to
    # a refusal: the invitation goes without it.
    moved_twice = [{"start": "2026-12-01T09:00:00Z"}, {"start": "2026-12-02T09:00:00Z"}]
    job = make_job(JobType.SEND_INTERVIEW_INVITATION, element_instance_key=802, headers={"method": "REQUEST"})
    tasks.send_invitation(
        job, "i-20", "cas@example.com", "Cas", "cas@example.com", rescheduled_from=moved_twice
    )
    newest = mails(capture)[-1]  # oldest first
    assert newest["to"] == ["cas@example.com"] and newest["subject"].startswith("Your interview on ")
    assert re.findall(link, newest["text"]) == []


def test_moving_an_interview_gives_up_its_time_once_and_never_offers_it_again(tasks, capture):
    slots = tasks.find_slots("i-21", PANEL)["proposed_slots"]
    tasks.book_slot("i-21", PANEL, slots[0], slots)
    moved = tasks.release_for_reschedule("i-21")
    assert moved == {"rescheduled_from": [slots[0]]}
    assert tasks.release_for_reschedule("i-21") == moved  # a redelivered job
    assert tasks.services.calendar.booking("i-21").status == "cancelled"
    with tasks.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("interview", "i-21")).details["rescheduled_from"] == [slots[0]]
    # The time is free for everyone else again, but not offered to this interview.
    assert tasks.find_slots("i-22", PANEL)["proposed_slots"][0] == slots[0]
    again = tasks.find_slots("i-21", PANEL, rescheduled_from=moved["rescheduled_from"])["proposed_slots"]
    assert len(again) == 3 and slots[0] not in again
    # The first offered is the earliest free hour left: the one after the time given up.
    assert again[0]["start"] == "2026-11-24T10:00:00Z"
    # A second move adds the second time; the first stays given up.
    tasks.book_slot("i-21", PANEL, again[0], again)
    twice = tasks.release_for_reschedule("i-21", moved["rescheduled_from"])
    assert twice == {"rescheduled_from": [slots[0], again[0]]}
    # The panel and the candidate are told with the calendar's cancellation of the old time.
    notice = make_job(
        JobType.SEND_INTERVIEW_INVITATION,
        headers={"method": "CANCEL", "template": "interview-rescheduled"},
    )
    tasks.send_invitation(notice, "i-21", "cas@example.com", "Cas", "cas@example.com")
    [mail] = mails(capture)
    assert mail["subject"] == "Your interview is being moved"
    assert "We are emailing you new times" in mail["text"]
    media_type, cancellation = invitation_of(mail)
    assert (media_type, str(cancellation["METHOD"])) == ("text/calendar; method=CANCEL", "CANCEL")


MOVE_NOTICE = {"method": "CANCEL", "template": "interview-rescheduled"}
TWO_PANELISTS = [*PANEL, {"username": "max", "email": "max@example.com", "name": "Max"}]


def moved_notices(tasks, capture, interview_id: str, asked: dict | None, time_given_up=0) -> dict[str, str]:
    """Book, give the time up, and send everyone the notice, with the request for a new time's
    ``move_request`` (``asked``: who asked; None for none) for the ``time_given_up``-th slot."""
    slots = tasks.find_slots(interview_id, TWO_PANELISTS)["proposed_slots"]
    tasks.book_slot(interview_id, TWO_PANELISTS, slots[0], slots)
    move_request = None if asked is None else {"time": slots[time_given_up]["start"], **asked}
    tasks.release_for_reschedule(interview_id)
    # One notice per attendee, as the model's multi-instance sends them.
    attendees = ("ivy@example.com", "max@example.com", "cas@example.com")
    for element_instance_key, attendee in enumerate(attendees):
        notice = make_job(
            JobType.SEND_INTERVIEW_INVITATION, element_instance_key=element_instance_key, headers=MOVE_NOTICE
        )
        tasks.send_invitation(
            notice,
            interview_id,
            attendee,
            "Cas",
            "cas@example.com",
            panel=TWO_PANELISTS,
            move_request=move_request,
        )
    return {", ".join(mail["to"]): mail["text"] for mail in mails(capture)}


def test_a_panelist_who_cannot_make_it_is_named_to_the_panel_and_not_to_the_candidate(tasks, capture):
    asked = {"asked_by": "panelist max", "asker": "panelist", "panelist": "max"}
    notices = moved_notices(tasks, capture, "i-31", asked)
    assert "One of your interviewers cannot make it then, so your interview" in notices["cas@example.com"]
    assert "Max" not in notices["cas@example.com"]
    assert "is off: Max cannot make it and asked for a new time." in notices["ivy@example.com"]
    assert "is off, as you asked." in notices["max@example.com"]


@pytest.mark.parametrize(
    ("asked", "to_candidate", "to_panel"),
    [
        (
            {"asked_by": "the candidate", "asker": "candidate"},
            "As you asked, your interview",
            "is off: the candidate asked for a new time.",
        ),
        (
            {"asked_by": "a recruiter, in the console", "asker": "recruiter"},
            "\nYour interview",
            "is off: the recruiter asked for a new time.",
        ),
        ({"asked_by": "the API", "asker": "api"}, "\nYour interview", "is off: a new time was asked for."),
        # None said (a message an operator published): as before.
        (None, "\nYour interview", "is off: a new time was asked for."),
    ],
)
def test_the_notice_of_a_move_says_who_asked_for_it(tasks, capture, asked, to_candidate, to_panel):
    notices = moved_notices(tasks, capture, "i-32", asked)
    assert to_candidate in notices["cas@example.com"]
    assert to_panel in notices["ivy@example.com"] and to_panel in notices["max@example.com"]


def test_a_request_that_moved_an_earlier_time_says_nothing_of_this_move(tasks, capture):
    # The variable stays in the instance: a later move an operator asked for in Operate,
    # without one, must not repeat who asked for the move before.
    asked = {"asked_by": "the candidate", "asker": "candidate"}
    notices = moved_notices(tasks, capture, "i-33", asked, time_given_up=1)
    candidates = notices["cas@example.com"]
    assert "\nYour interview" in candidates and "As you asked" not in candidates


def test_no_common_free_time_is_a_technical_failure_an_operator_can_fix(tasks):
    mondays = {"days": ["mon"], "start": "09:00", "end": "17:00"}
    tuesdays = {**mondays, "days": ["tue"]}
    panel = [
        {**PANEL[0], "working_hours": mondays},
        {"username": "max", "email": "max@example.com", "name": "Max", "working_hours": tuesdays},
    ]
    with pytest.raises(NoFreeSlots, match="no common free hour") as raised:
        tasks.find_slots("i-7", panel)
    assert str(raised.value).endswith("within the hours they work: UTC mon 09:00-17:00; UTC tue 09:00-17:00")


def test_no_free_time_left_after_times_turned_down_says_they_were_left_out(tasks):
    # The calendars show those hours free: an operator reading only "no common free hour" would
    # look for a fault that is not there.
    one_hour = {"days": ["tue"], "start": "09:00", "end": "10:00"}
    panel = [{**PANEL[0], "working_hours": one_hour}]
    tuesdays = tasks.find_slots("i-9", panel)["proposed_slots"]
    assert len(tuesdays) == 2  # the two Tuesdays of the window
    with pytest.raises(NoFreeSlots) as raised:
        tasks.find_slots("i-9", panel, offers_declined=[tuesdays[:1]], rescheduled_from=tuesdays[1:])
    assert str(raised.value).endswith(
        "(left out as well: 1 time the candidate turned down and 1 time the interview was moved from)"
    )


def test_working_hours_no_one_can_read_fail_at_once_and_say_what_to_fix(tasks):
    odd = {**PANEL[0], "working_hours": {"days": ["someday"], "start": "09:00", "end": "17:00"}}
    with pytest.raises(PermanentFailure, match="panel member 'ivy' has working_hours .* give days"):
        tasks.find_slots("i-7", [odd])


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (
            lambda t: t.find_slots("i-8", PANEL, search_from="next monday"),
            "search_from is 'next monday', not a date-time",
        ),
        (
            lambda t: t.book_slot("i-8", PANEL, {"start": "10:00"}),
            "selected_slot must be a slot {start, end}",
        ),
        (
            lambda t: t.book_slot("i-8", PANEL, {"start": "x", "end": "y"}),
            "selected_slot.start is 'x', not a date-time",
        ),
        (
            lambda t: t.book_slot("i-8", PANEL, {"start": "x", "end": "y"}, proposed_slots=[1]),
            "proposed_slots[0] must be a slot {start, end}, not 1",
        ),
        (
            lambda t: t.email_slot_links(
                make_job(JobType.EMAIL_SLOT_LINKS, headers={"template": "interview-slots"}),
                "i-8",
                "cas@example.com",
                "Cas",
                [{"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}, ["09:00"]],
            ),
            "proposed_slots[1] must be a slot {start, end}, not ['09:00']",
        ),
        (
            lambda t: t.find_slots("i-8", [{"username": ["ivy"], "email": "ivy@example.com"}]),
            "'panel' must be a list of {username, email, name}",
        ),
        # An empty panel had slots offered with no one to attend them. A username the webapp
        # refuses went to the calendar: ".." in a CalDAV calendar's URL names its parent, and
        # PostgreSQL keeps a hold's username in 100 characters.
        (lambda t: t.find_slots("i-8", []), "'panel' has no member"),
        (
            lambda t: t.find_slots("i-8", [{**PANEL[0], "username": ".."}]),
            "each panel member's username must be 1 to 100 letters",
        ),
        (
            lambda t: t.book_slot(
                "i-8",
                [{**PANEL[0], "username": "x" * 101}],
                {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"},
            ),
            "each panel member's username must be 1 to 100 letters",
        ),
    ],
)
def test_times_no_one_can_read_fail_at_once_and_name_the_variable(tasks, call, reason):
    """Before: ValueError, TypeError or KeyError, retried five times as a probable bug."""
    with pytest.raises(PermanentFailure, match=re.escape(reason)):
        call(tasks)
    assert tasks.services.calendar.booking("i-8") is None


def test_a_panel_whose_working_hours_never_meet_is_told_where_they_work(tasks):
    panel = [
        {**PANEL[0], "timezone": "Asia/Tokyo"},
        {"username": "max", "email": "max@example.com", "name": "Max", "timezone": "America/New_York"},
    ]
    with pytest.raises(NoFreeSlots, match="work: America/New_York mon-fri 09:00-17:00; Asia/Tokyo mon-fri"):
        tasks.find_slots("i-8", panel)
    # A panel in Tokyo and a candidate in Los Angeles meet at 09:00 Tokyo, 16:00 there the day before.
    with pytest.raises(
        NoFreeSlots, match=r"Tokyo mon-fri 09:00-17:00, at the candidate's hours in Europe/Lisbon$"
    ):
        tasks.find_slots("i-8", panel[:1], candidate_timezone="Europe/Lisbon")
    [first, *_] = tasks.find_slots("i-8", panel[:1], candidate_timezone="America/Los_Angeles")[
        "proposed_slots"
    ]
    assert first["start"] == "2026-11-25T00:00:00Z"
    # In Tokyo alone, slots fall in Tokyo's working day.
    [first, *_] = tasks.find_slots("i-8", panel[:1])["proposed_slots"]
    # A day from Monday 08:00 UTC at the earliest: Tuesday's 09:00 in Tokyo has passed, Wednesday's.
    assert first["start"] == "2026-11-25T00:00:00Z"
