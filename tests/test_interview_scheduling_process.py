"""interview-scheduling on a real Zeebe engine with the product's worker (issue 4, process 4).

Slots offered by signed links, the choice booked, invitations to everyone, a reminder
24 hours before, feedback from each panelist; a slot taken meanwhile loops back to new
slots; silence ends with a recruiter's follow-up; a cancellation releases the booking.
"""

from __future__ import annotations

import json

import pytest

from hireflow.adapters.email import readable_time
from hireflow.constants import Message, ProcessId
from hireflow.store import BusinessRecord
from tests.engine_helpers import (
    advance_engine_clock_past,
    describe_instance,
    process_variable,
    unique_key,
    wait_for,
    wait_for_user_task,
    wait_until_completed,
    wait_until_element,
)

# Every test here runs the product's worker against the engine.
pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

ONE_DAY_MS = 24 * 60 * 60 * 1000


def a_panel() -> list[dict]:
    return [
        {"username": name, "email": f"{name}@acme.example", "name": name.title()}
        for name in (unique_key("alice"), unique_key("bob"))
    ]


def request_interview(process_engine, panel: list[dict] | None = None) -> tuple[str, dict]:
    variables = {
        "interview_id": unique_key("interview"),
        "application_id": unique_key("app"),
        "candidate_name": "Katherine Johnson",
        "candidate_email": f"{unique_key('kj')}@example.com",
        "lead_recruiter_email": f"{unique_key('lead')}@acme.example",
        "panel": panel or a_panel(),
        "posting_title": "Flight engineer",  # as the webapp passes it, from the posting
    }
    created = process_engine.client.create_process_instance(ProcessId.INTERVIEW_SCHEDULING, variables)
    return created["processInstanceKey"], variables


def variable(process_engine, instance: str, name: str):
    return process_variable(process_engine.client, instance, name)


def choose_first_slot(process_engine, instance: str, v: dict) -> dict:
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")
    slot = variable(process_engine, instance, "proposed_slots")[0]
    # What the webapp does when the candidate opens a signed slot link.
    process_engine.client.publish_message(
        Message.INTERVIEW_SLOT_SELECTED, v["interview_id"], variables={"selected_slot": slot}
    )
    return slot


def wait_for_second_offer(process_engine, instance: str) -> None:
    """Wait until the instance waits for the candidate's choice a second time."""
    wait_for(
        lambda: (
            len(
                process_engine.client.search_element_instances(
                    processInstanceKey=instance, elementId="AwaitSlotChoice"
                )
            )
            == 2
        ),
        what="a second wait for the candidate's choice",
        seen=lambda: describe_instance(process_engine.client, instance),
    )


def interview_status(local_world, interview_id: str) -> str | None:
    with local_world.services.db.sessions() as session:
        record = session.get(BusinessRecord, ("interview", interview_id))
        return record.status if record else None


def test_a_chosen_slot_is_booked_reminded_and_followed_by_feedback(process_engine, local_world):
    panel = a_panel()
    panel[0]["timezone"] = "Europe/Berlin"  # the other panelist gave none: UTC
    instance, v = request_interview(process_engine, panel)
    slot = choose_first_slot(process_engine, instance, v)
    [links_mail] = local_world.mails_to(v["candidate_email"])

    wait_until_element(process_engine.client, instance, "DayBeforeInterview")
    attendees = [p["email"] for p in v["panel"]] + [v["candidate_email"]]
    assert all(len(local_world.mails_to(a)) >= 1 for a in attendees)  # the invitations

    advance_engine_clock_past(process_engine.client, slot["end"])
    tasks = wait_for(
        lambda: (
            len(
                found := process_engine.client.search_user_tasks(
                    processInstanceKey=instance, elementId="GiveFeedback", state="CREATED"
                )
            )
            == 2
            and found
        ),
        what="a feedback task per panelist",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert len(local_world.mails_to(v["candidate_email"])) == 3  # links, invitation, reminder
    # Each panelist's invitation and reminder give the time in their zone.
    for panelist, zone in zip(panel, ["(Europe/Berlin)", "UTC"], strict=True):
        mails = local_world.mails_to(panelist["email"])
        assert len(mails) == 2 and all(zone in mail["text"] for mail in mails), mails
    # Each panelist's feedback form shows the start in their zone (a variable of their task).
    variables = process_engine.client.search_variables(processInstanceKey=instance)
    starts = {
        task["assignee"]: found["value"]
        for task in tasks
        for found in variables
        if found["name"] == "interview_start_for_panelist"
        and str(found["scopeKey"]) == str(task["elementInstanceKey"])
    }
    assert starts == {
        panel[0]["username"]: json.dumps(readable_time(slot["start"], "Europe/Berlin")),
        panel[1]["username"]: json.dumps(readable_time(slot["start"])),
    }
    for rating, task in enumerate(tasks, start=4):
        answers = {"interview_rating": rating, "interview_recommendation": "hire", "interview_notes": "clear"}
        process_engine.client.complete_user_task(task["userTaskKey"], answers)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "InterviewDone", state="COMPLETED")
    assert interview_status(local_world, v["interview_id"]) == "done"
    # Each panelist's answers are kept apart (an output mapping on the task), none lost to the other's.
    feedback = variable(process_engine, instance, "feedback")
    assert sorted((f["panelist"], f["rating"]) for f in feedback) == sorted(
        zip([task["assignee"] for task in tasks], [4, 5], strict=True)
    )
    # The result outlives the instance: the store keeps it with the interview's status.
    with local_world.services.db.sessions() as session:
        recorded = session.get(BusinessRecord, ("interview", v["interview_id"])).details
    assert recorded["feedback"] == feedback
    assert links_mail["text"].count("/interviews/slot/") == 3  # a signed link per offered slot


def test_a_slot_taken_meanwhile_offers_new_slots(process_engine, local_world):
    panel = a_panel()
    first, v1 = request_interview(process_engine, panel)
    second, v2 = request_interview(process_engine, panel)
    taken = choose_first_slot(process_engine, first, v1)
    wait_until_element(process_engine.client, first, "BookSlot", state="COMPLETED")

    wait_until_element(process_engine.client, second, "AwaitSlotChoice")
    process_engine.client.publish_message(
        Message.INTERVIEW_SLOT_SELECTED, v2["interview_id"], variables={"selected_slot": taken}
    )

    wait_until_element(process_engine.client, second, "SlotTaken", state="COMPLETED")
    wait_for_second_offer(process_engine, second)
    assert taken not in variable(process_engine, second, "proposed_slots")
    first_links, new_links = local_world.mails_to(v2["candidate_email"])  # two sets of links
    # The candidate who chose a time reads that it was lost, not a first offer again.
    assert new_links["subject"] == "Please choose another interview time, Katherine Johnson"
    assert f"the time you chose, {readable_time(taken['start'])}, was no longer free" in new_links["text"]
    # Its link's page (the webapp reads the record) says it was taken, not that it is old.
    with local_world.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("interview", v2["interview_id"])).details["slot_lost"] == taken


def test_times_the_candidate_turns_down_give_way_to_new_ones(process_engine, local_world):
    instance, v = request_interview(process_engine)
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")
    first_offer = variable(process_engine, instance, "proposed_slots")
    [links_mail] = local_world.mails_to(v["candidate_email"])
    assert "/interviews/other-times/" in links_mail["text"]  # the model's task asks for the link

    process_engine.client.publish_message(Message.INTERVIEW_OTHER_TIMES_REQUESTED, v["interview_id"])

    wait_until_element(process_engine.client, instance, "OtherTimesAsked", state="COMPLETED")
    wait_for_second_offer(process_engine, instance)
    assert variable(process_engine, instance, "offers_declined") == [first_offer]
    second_offer = variable(process_engine, instance, "proposed_slots")
    assert len(second_offer) == 3 and not [slot for slot in second_offer if slot in first_offer]
    first, second = local_world.mails_to(v["candidate_email"])
    assert "/interviews/other-times/" in second["text"]  # one offer turned down of two
    assert "As you asked, here are new times" in second["text"]
    # Silence after that: the recruiter's follow-up form says how many were turned down.
    stay_silent_until_the_follow_up(process_engine, instance)
    assert variable(process_engine, instance, "offers_turned_down") == 1
    process_engine.client.cancel_process_instance(instance)


def wait_for_completions(process_engine, instance: str, element_id: str, count: int, *, what: str) -> None:
    """Wait until ``element_id`` has completed ``count`` times in ``instance``."""
    wait_for(
        lambda: (
            len(
                process_engine.client.search_element_instances(
                    processInstanceKey=instance, elementId=element_id, state="COMPLETED"
                )
            )
            == count
        ),
        what=what,
        seen=lambda: describe_instance(process_engine.client, instance),
    )


def stay_silent_until_the_follow_up(process_engine, instance: str) -> dict:
    """Let every reminder pass unanswered; returns the recruiter's follow-up task."""
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")
    for _ in range(2):
        process_engine.client.advance_clock(2 * ONE_DAY_MS + 60_000)
    wait_for_completions(process_engine, instance, "CandidateReminded", 2, what="two reminders")
    process_engine.client.advance_clock(ONE_DAY_MS)
    return wait_for_user_task(process_engine.client, instance, "FollowUpWithCandidate")


def test_silence_reminds_twice_then_hands_off_to_a_recruiter(process_engine, local_world):
    instance, v = request_interview(process_engine)
    task = stay_silent_until_the_follow_up(process_engine, instance)
    answers = {"follow_up_decision": "close", "follow_up_note": "Took another offer."}
    process_engine.client.complete_user_task(task["userTaskKey"], answers)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "InterviewNotScheduled", state="COMPLETED")
    assert len(local_world.mails_to(v["candidate_email"])) == 3  # links and two reminders
    # Why it was not scheduled stays on file, not only in the ended instance.
    with local_world.services.db.sessions() as session:
        recorded = session.get(BusinessRecord, ("interview", v["interview_id"]))
        assert (recorded.status, recorded.details["follow_up"]) == (
            "not-scheduled",
            {"decision": "close", "note": "Took another offer."},
        )


def test_a_recruiter_who_follows_up_can_offer_new_slots(process_engine, local_world):
    instance, v = request_interview(process_engine)
    task = stay_silent_until_the_follow_up(process_engine, instance)
    process_engine.client.complete_user_task(task["userTaskKey"], {"follow_up_decision": "offer-new-slots"})

    wait_for_completions(process_engine, instance, "OfferSlots", 2, what="a second offer of slots")
    choose_first_slot(process_engine, instance, v)
    wait_until_element(process_engine.client, instance, "BookSlot", state="COMPLETED")
    sent = local_world.mails_to(v["candidate_email"])
    assert len(sent) >= 4  # links, 2 reminders, new links
    [new_links] = [mail for mail in sent if mail["subject"].startswith("New times")]
    assert "We have not heard from you" in new_links["text"]
    process_engine.client.cancel_process_instance(instance)  # the rest is another test's


def test_a_second_follow_up_opens_blank_and_its_decision_counts(process_engine, local_world):
    instance, v = request_interview(process_engine)
    first = stay_silent_until_the_follow_up(process_engine, instance)
    answers = {"follow_up_decision": "offer-new-slots", "follow_up_note": "was travelling"}
    process_engine.client.complete_user_task(first["userTaskKey"], answers)
    wait_for_completions(process_engine, instance, "OfferSlots", 2, what="a second offer of slots")

    second = stay_silent_until_the_follow_up(process_engine, instance)
    # The task sees its own empty answers, not the first follow-up's: Tasklist's form opens blank.
    own = {
        variable["name"]: variable["value"]
        for variable in process_engine.client.search_variables(scopeKey=second["elementInstanceKey"])
    }
    assert own == {"follow_up_decision": "null", "follow_up_note": "null", "offers_turned_down": "0"}
    process_engine.client.complete_user_task(second["userTaskKey"], {"follow_up_decision": "close"})

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "InterviewNotScheduled", state="COMPLETED")
    assert variable(process_engine, instance, "follow_up_decision") == "close"


def test_a_time_given_up_stops_its_reminder_and_the_new_offer_leaves_it_out(process_engine, local_world):
    instance, v = request_interview(process_engine)
    first = choose_first_slot(process_engine, instance, v)
    wait_until_element(process_engine.client, instance, "DayBeforeInterview")

    # What the webapp publishes for the candidate's link, or a recruiter's request.
    move = {"time": first["start"], "asker": "candidate"}
    process_engine.client.publish_message(
        Message.INTERVIEW_RESCHEDULE_REQUESTED, v["interview_id"], variables={"move_request": move}
    )

    wait_for_second_offer(process_engine, instance)
    assert variable(process_engine, instance, "rescheduled_from") == [first]
    # Who asked reaches the notices: the event maps the message's move_request out (a
    # message event with output mappings merges only what they map).
    notice = next(m for m in local_world.mails_to(v["candidate_email"]) if "moved" in m["subject"])
    assert notice["text"].startswith("Hello Katherine Johnson,\n\nAs you asked, your interview")
    new_links = local_world.mails_to(v["candidate_email"])[-1]
    assert "is moving. Please pick one of these new times:" in new_links["text"]
    offered = variable(process_engine, instance, "proposed_slots")
    assert len(offered) == 3 and first not in offered
    assert local_world.services.calendar.booking(v["interview_id"]).status == "cancelled"
    # The interview's own timers went with the time: its hour passes with no reminder and no
    # feedback. Two days more bring the new offer's reminder, due after any of them.
    advance_engine_clock_past(process_engine.client, first["end"])
    process_engine.client.advance_clock(2 * ONE_DAY_MS + 60_000)
    templates = wait_for(
        lambda: (
            "interview-slot-reminder"
            in (sent := [m["dedupe_key"].split(":")[0] for m in local_world.mails_to(v["candidate_email"])])
            and sent
        ),
        what="the new offer's reminder",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert "interview-reminder" not in templates and "interview-rescheduled" in templates
    assert not process_engine.client.search_user_tasks(processInstanceKey=instance, elementId="GiveFeedback")

    process_engine.client.publish_message(Message.INTERVIEW_CANCELLED, v["interview_id"])
    wait_until_completed(process_engine.client, instance)


def test_a_cancellation_after_booking_releases_the_slot_and_tells_everyone(process_engine, local_world):
    instance, v = request_interview(process_engine)
    choose_first_slot(process_engine, instance, v)
    wait_until_element(process_engine.client, instance, "SendInvitations", state="COMPLETED")

    process_engine.client.publish_message(Message.INTERVIEW_CANCELLED, v["interview_id"])

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "InterviewCancelled", state="COMPLETED")
    assert local_world.services.calendar.booking(v["interview_id"]).status == "cancelled"
    assert interview_status(local_world, v["interview_id"]) == "cancelled"
    for panelist in v["panel"]:
        mails = local_world.mails_to(panelist["email"])
        templates = [m["dedupe_key"].split(":")[0] for m in mails]
        assert templates[0] == "interview-invitation" and templates[-1] == "interview-cancelled"
        # Each carries the event, its method named in the type as iMIP asks.
        types = [m["attachments"][0]["type"] for m in (mails[0], mails[-1])]
        assert types == ["text/calendar; method=REQUEST", "text/calendar; method=CANCEL"]
        assert all('Katherine Johnson for "Flight engineer"' in m["text"] for m in (mails[0], mails[-1]))
