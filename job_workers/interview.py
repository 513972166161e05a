"""Workers of the interview-scheduling process: find, offer, book, invite, cancel, record.

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

import logging
from datetime import UTC, datetime, timedelta

from pyzeebe import Job

from hireflow.adapters.calendar import (
    CalendarOwner,
    Slot,
    SlotTaken,
    WorkingHours,
    invitation_ics,
    invitation_media_type,
    spread_over_days,
)
from hireflow.adapters.email import EmailAttachment, EmailMessage, panel_member, readable_time
from hireflow.constants import Header, JobType, OfferReason, Var
from hireflow.errors import PermanentFailure
from job_workers.records import (
    OFFERED_SLOTS,
    OFFERS_DECLINED_COUNT,
    OTHER_TIMES_ASKED,
    SLOT_CHOSEN,
    SLOT_LOST,
    a_persons_decision,
    check_as_recorded,
    outcome_header,
    record_details,
    record_status,
)
from job_workers.services import Services
from job_workers.task_router import BUSINESS_ID_FORM, BusinessId, TaskRouter

log = logging.getLogger(__name__)

STORE_TIMEOUT_MS = 30_000
SEND_TIMEOUT_MS = 60_000
# With CalDAV a step makes a request (10 s timeout) per panel member, or two.
CALENDAR_TIMEOUT_MS = 120_000
INTERVIEW_LENGTH = timedelta(hours=1)
# Slots are offered from tomorrow, for two weeks: three at most, so the email stays short,
# spread over days and times of day (``spread_over_days``) out of every free one.
SEARCH_FROM = timedelta(days=1)
SEARCH_WINDOW = timedelta(days=14)
SLOTS_OFFERED = 3
EVERY_SLOT_IN_THE_WINDOW = SEARCH_WINDOW // INTERVIEW_LENGTH
# The slot emails' templates see the signed links by these names; they are never variables.
SLOT_LINKS = "slot_links"
OTHER_TIMES_LINK = "other_times_link"
# True in place of the link once the candidate turned down as many offers as they may: the
# email says a recruiter finds a time with them instead.
OTHER_TIMES_BY_RECRUITER = "other_times_by_recruiter"
# After a slot taken, the start of the time the candidate chose and lost.
TAKEN_SLOT_START = "taken_slot_start"
# The notice of a moved interview sees who asked by these names, made from the request's
# ``move_request`` (``_who_asked_to_move``); they are not variables themselves.
WHO_ASKED_TO_MOVE = frozenset({"move_asker", "move_panelist", "move_panelist_name"})
# The invitation step picks its email by the task's method header.
INVITATION_TEMPLATE = "interview-invitation"
CANCELLATION_TEMPLATE = "interview-cancelled"


class NoFreeSlots(RuntimeError):
    """A technical failure on purpose: retried with backoff, then an incident an operator can act on."""


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _parse_engine_time(moment: str) -> datetime:
    """A FEEL date-time as the engine writes it, e.g. ``2026-11-30T22:15:09.1Z[Etc/UTC]``."""
    return _parse(moment.split("[", 1)[0])


def _moment(interview_id: str, name: str, value: object, parse=_parse) -> datetime:
    """The date-time in ``value``; a permanent failure naming the variable if it holds none."""
    try:
        return parse(value)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError) as exc:
        raise PermanentFailure(
            f"Interview {interview_id}: {name} is {value!r}, not a date-time like 2026-12-07T10:00:00Z"
        ) from exc


def _slot_times(interview_id: str, name: str, slot: object) -> tuple[str, str]:
    """A slot variable's start and end, as given; a permanent failure if it is no slot."""
    if not (
        isinstance(slot, dict) and isinstance(slot.get("start"), str) and isinstance(slot.get("end"), str)
    ):
        raise PermanentFailure(
            f"Interview {interview_id}: {name} must be a slot {{start, end}}, not {slot!r}"
        )
    return slot["start"], slot["end"]


def _utc_slot(interview_id: str, name: str, slot: object) -> Slot:
    """A slot variable as a Slot in UTC without a zone, as the calendar gives its slots."""
    start, end = _slot_times(interview_id, name, slot)
    return Slot(
        *(
            _moment(interview_id, f"{name}.{part}", value).astimezone(UTC).replace(tzinfo=None)
            for part, value in (("start", start), ("end", end))
        )
    )


def _declined_times(interview_id: str, offers_declined: object) -> list[Slot]:
    """Every time of the offers the candidate turned down (a list of offers, each a list of
    slots, as the model appends them); a permanent failure for anything else."""
    if offers_declined is None:
        return []
    if not isinstance(offers_declined, list) or not all(isinstance(offer, list) for offer in offers_declined):
        raise PermanentFailure(
            f"Interview {interview_id}: offers_declined must be a list of offers, each a list of "
            f"slots {{start, end}}, not {offers_declined!r}"
        )
    return [
        _utc_slot(interview_id, f"offers_declined[{at}][{index}]", slot)
        for at, offer in enumerate(offers_declined)
        for index, slot in enumerate(offer)
    ]


def _left_out(moved_from: list[Slot], declined: list[Slot]) -> str:
    """For an operator who finds no free hour: the times left out on purpose, which the
    calendars show as free."""
    parts = [
        f"{len(times)} time{'' if len(times) == 1 else 's'} {what}"
        for times, what in (
            (declined, "the candidate turned down"),
            (moved_from, "the interview was moved from"),
        )
        if times
    ]
    return f" (left out as well: {' and '.join(parts)})" if parts else ""


def _working_hours(interview_id: str, member: dict) -> WorkingHours:
    """A panel member's working hours; a permanent failure for hours no one could read."""
    try:
        return WorkingHours.of_panelist(member)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentFailure(
            f"Interview {interview_id}: panel member {member.get('username')!r} has working_hours "
            f"{member.get('working_hours')!r} ({exc!r}); give days (mon to sun) and a start and end "
            "like 09:00 in the panel variable"
        ) from exc


def _calendar_owners(panel: list) -> dict[str, CalendarOwner]:
    """Each panel member by username, as their own calendar is read: in their time zone, as
    the panel gives it (None: UTC), and by their email."""

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    return {
        member["username"]: CalendarOwner(zone=text(member.get("timezone")), email=text(member.get("email")))
        for member in panel
        if isinstance(member, dict) and isinstance(member.get("username"), str)
    }


def _panel_ids(interview_id: str, panel: list) -> list[str]:
    """The panel's usernames; a permanent failure if the panel is empty, or a member has no
    username, or one the webapp would refuse."""
    if not all(isinstance(member, dict) and isinstance(member.get("username"), str) for member in panel):
        raise PermanentFailure(
            f"Interview {interview_id}: 'panel' must be a list of {{username, email, name}}, not {panel!r}"
        )
    if not panel:
        # Every slot is free for no one: it would be offered and booked with nobody to attend.
        raise PermanentFailure(f"Interview {interview_id}: 'panel' has no member; name who interviews")
    usernames = [member["username"] for member in panel]
    if not all(BUSINESS_ID_FORM.fits(username) for username in usernames):
        # A username names the interviewer's calendar (CalDAV's URL, the holds' 100 characters).
        raise PermanentFailure(
            f"Interview {interview_id}: each panel member's username must be {BUSINESS_ID_FORM.in_words};"
            " set the panel variable right"
        )
    return usernames


def _attendee_name(
    attendee_email: str, candidate_email: str, candidate_name: str, panel: list | None
) -> str | None:
    """The attendee's name, as their invitation lists them: the candidate's, or the panelist's
    as the panel gives it (None when it gives none)."""
    name = (
        candidate_name
        if attendee_email == candidate_email
        else panel_member(attendee_email, panel).get("name")
    )
    return name if isinstance(name, str) else None


def _who_asked_to_move(move_request: dict, panel: list | None) -> dict:
    """The notice of a move's words for who asked (``move_asker``: candidate, panelist,
    recruiter, api; None when the request for a new time said nobody), and for a panelist
    who asked, their username and the name the panel gives them."""
    asker = move_request.get("asker")
    username = move_request.get("panelist") if asker == "panelist" else None
    name = None
    for member in panel or []:
        if isinstance(member, dict) and username is not None and member.get("username") == username:
            name = member.get("name")
    return {
        "move_asker": asker if isinstance(asker, str) else None,
        "move_panelist": username if isinstance(username, str) else None,
        "move_panelist_name": name if isinstance(name, str) and name else username,
    }


def _event_title(for_candidate: bool, candidate_name: str, posting_title: str | None) -> str:
    """The interview's title in an attendee's calendar: in the candidate's, the job; in a
    panelist's, who and for which job."""
    if for_candidate:
        return f"Interview for {posting_title}" if posting_title else "Your interview"
    return f"Interview with {candidate_name}" + (f" for {posting_title}" if posting_title else "")


class InterviewSchedulingTasks:
    """Task functions for interview-scheduling, with their adapters injected."""

    def __init__(self, services: Services, now=lambda: datetime.now(UTC)):
        self.services = services
        self.now = now

    def _calendar(self, interview_id: str):
        if self.services.calendar is None:
            raise PermanentFailure(f"Interview {interview_id}: no calendar is configured for this worker")
        return self.services.calendar

    def _mailer(self, interview_id: str):
        if self.services.mailer is None:
            raise PermanentFailure(f"Interview {interview_id}: no mailer is configured for this worker")
        return self.services.mailer

    def find_slots(
        self,
        interview_id: BusinessId,
        panel: list,
        search_from: str | None = None,
        candidate_timezone: str | None = None,
        rescheduled_from: list | None = None,
        offers_declined: list | None = None,
        new_offer_reason: str | None = None,
        selected_slot: dict | None = None,
    ) -> dict:
        """Up to three hour-long slots when the whole panel is free, in everyone's working
        hours where they work (a member's ``working_hours`` in their ``timezone``; weekdays
        09:00 to 17:00 and UTC for one without), and at hours the candidate is awake where
        they live, when the request gave their zone. None overlaps a time the interview was
        moved from (``rescheduled_from``): someone could not make it; nor a time of an offer
        the candidate turned down (``offers_declined``, a list of offers). The first is the
        earliest; the others fall on the next days, at other times of day, where the panel
        is free then (``spread_over_days``).

        ``search_from`` is the engine's ``now()``, mapped in by the model, so the slots and
        the timers that count down to them share one clock (a test engine's clock moves).

        After a slot taken (``new_offer_reason``), the record keeps the time lost
        (``selected_slot``) beside the new offer, for the page of its link.
        """
        # A new offer: any choice from an earlier one is over (it was taken, or the wait
        # ended without it), so the candidate may choose again from this one.
        record_details(
            self.services.db,
            "interview",
            interview_id,
            "requested",
            forget=(SLOT_CHOSEN, OTHER_TIMES_ASKED, SLOT_LOST),
        )
        lost = (
            {SLOT_LOST: _utc_slot(interview_id, "selected_slot", selected_slot).as_variable()}
            if new_offer_reason == OfferReason.SLOT_TAKEN and selected_slot is not None
            else {}
        )
        searching_from = (
            _moment(interview_id, "search_from", search_from, _parse_engine_time)
            if search_from
            else self.now()
        )
        start = searching_from + SEARCH_FROM
        window = Slot(start, start + SEARCH_WINDOW)
        hours = [_working_hours(interview_id, member) for member in panel if isinstance(member, dict)]
        moved_from = [
            _utc_slot(interview_id, f"rescheduled_from[{at}]", each)
            for at, each in enumerate(rescheduled_from or [])
        ]
        declined = _declined_times(interview_id, offers_declined)
        free = self._calendar(interview_id).free_slots(
            _panel_ids(interview_id, panel),
            window,
            INTERVIEW_LENGTH,
            EVERY_SLOT_IN_THE_WINDOW,
            working_hours=hours,
            candidate_zone=candidate_timezone,
            owners=_calendar_owners(panel),
        )
        free = [slot for slot in free if not any(slot.overlaps(old) for old in moved_from + declined)]
        slots = spread_over_days(free, SLOTS_OFFERED, candidate_timezone)
        if not slots:
            when = "; ".join(sorted({str(each) for each in hours} or {str(WorkingHours())}))
            candidate = f", at the candidate's hours in {candidate_timezone}" if candidate_timezone else ""
            raise NoFreeSlots(
                f"Interview {interview_id}: the panel has no common free hour in the next 14 days "
                f"within the hours they work: {when}{candidate}{_left_out(moved_from, declined)}"
            )
        proposed = [slot.as_variable() for slot in slots]
        # The webapp refuses a link of an earlier offer by this, before it reaches the engine,
        # and a request for other times once the candidate turned down as many as they may.
        record_details(
            self.services.db,
            "interview",
            interview_id,
            "requested",
            **{OFFERED_SLOTS: proposed, OFFERS_DECLINED_COUNT: len(offers_declined or [])},
            **lost,
        )
        return {"proposed_slots": proposed}

    def email_slot_links(
        self,
        job: Job,
        interview_id: BusinessId,
        candidate_email: str,
        candidate_name: str,
        proposed_slots: list,
        candidate_timezone: str | None = None,
        application_id: BusinessId | None = None,
        posting_title: str | None = None,
        offers_declined: list | None = None,
        new_offer_reason: str | None = None,
        selected_slot: dict | None = None,
    ) -> dict:
        """Email the candidate one signed link per slot (links are made here, never stored),
        one to say none of the times suits them (where the task's ``otherTimesLink`` header
        says the model waits for that, until they turned down as many offers as they may),
        and one to withdraw their application instead, when this worker makes such links.

        The times are in the candidate's time zone when the request gave one (else UTC); the
        job is named by its posting's title, when the instance has it. A new offer says why
        it comes (``new_offer_reason``, an ``OfferReason``), and after a slot taken, which
        time was lost (``selected_slot``), so a candidate who chose a time is not left to
        think it booked.
        """
        template = (job.custom_headers or {}).get(Header.EMAIL_TEMPLATE)
        if not template:
            raise PermanentFailure(
                f"Task '{job.element_id}' lacks the 'template' header; set it in the Modeler"
            )
        if self.services.slot_links is None:
            raise PermanentFailure(f"Interview {interview_id}: no slot link signer is configured")
        # The email's withdrawal link withdraws the application the interview is for, no other.
        check_as_recorded(self.services.db, "interview", interview_id, application_id=application_id)
        links = [
            {"start": start, "end": end, "url": self.services.slot_links.link_for(interview_id, slot)}
            for at, slot in enumerate(proposed_slots)
            for start, end in [_slot_times(interview_id, f"proposed_slots[{at}]", slot)]
        ]
        self._mailer(interview_id).send(
            EmailMessage(
                dedupe_key=f"{template}:{interview_id}:{job.element_instance_key}",
                to=candidate_email,
                template=template,
                context={
                    "candidate_name": candidate_name,
                    SLOT_LINKS: links,
                    "candidate_timezone": candidate_timezone,
                    "posting_title": posting_title,
                    **self._other_times_link(job, interview_id, proposed_slots, offers_declined),
                    **self._withdrawal_link(application_id),
                    **self._why_new_times(interview_id, new_offer_reason, selected_slot),
                },
            )
        )
        return {}

    def _other_times_link(
        self, job: Job, interview_id: str, proposed_slots: list, offers_declined: list | None
    ) -> dict:
        """The template's ``other_times_link``: the candidate's signed link to turn this offer
        down, if the model waits for that and they may turn down one more; once they may not,
        ``other_times_by_recruiter``, for the email to say what happens instead."""
        links = self.services.other_times_links
        header = str((job.custom_headers or {}).get(Header.OTHER_TIMES_LINK, "")).strip().lower()
        declined = len(offers_declined) if isinstance(offers_declined, list) else 0
        if links is None or header != "true" or not proposed_slots:
            return {}
        if declined >= self.services.max_offers_declined:
            return {OTHER_TIMES_BY_RECRUITER: True}
        first_start, _ = _slot_times(interview_id, "proposed_slots[0]", proposed_slots[0])
        return {OTHER_TIMES_LINK: links.link_for(interview_id, first_start)}

    @staticmethod
    def _why_new_times(interview_id: str, new_offer_reason: str | None, selected_slot: object) -> dict:
        """The template's ``new_offer_reason`` and, for a slot taken, ``taken_slot_start``."""
        if not new_offer_reason:
            return {}
        if new_offer_reason == OfferReason.SLOT_TAKEN and selected_slot is not None:
            start, _ = _slot_times(interview_id, "selected_slot", selected_slot)
            return {Var.NEW_OFFER_REASON: new_offer_reason, TAKEN_SLOT_START: start}
        return {Var.NEW_OFFER_REASON: new_offer_reason}

    def _withdrawal_link(self, application_id: str | None) -> dict:
        """The template's signed link to withdraw the application, if this worker makes them."""
        links = self.services.withdrawal_links
        if links is None or not application_id:
            return {}
        return {"application_id": application_id, "withdrawal_link": links.link_for}

    def book_slot(
        self, interview_id: BusinessId, panel: list, selected_slot: dict, proposed_slots: list | None = None
    ) -> dict:
        """Book the chosen slot for the whole panel, once; SLOT_TAKEN offers new slots.

        Besides the booked times, ``interview_start_by_panelist`` gives the start as each
        panelist reads it (in their ``timezone``, else UTC), for their feedback form.

        A choice from an earlier offer (a link from the email before a conflict, still
        waiting in the engine's message buffer) is not booked: new times are offered.
        """
        offered = {
            _slot_times(interview_id, f"proposed_slots[{at}]", each)
            for at, each in enumerate(proposed_slots or [])
        }
        start, end = _slot_times(interview_id, "selected_slot", selected_slot)
        if proposed_slots is not None and (start, end) not in offered:
            raise SlotTaken(f"{start} is not among the times offered now")
        slot = Slot(
            _moment(interview_id, "selected_slot.start", start),
            _moment(interview_id, "selected_slot.end", end),
        )
        booking = self._calendar(interview_id).book(
            interview_id, _panel_ids(interview_id, panel), slot, owners=_calendar_owners(panel)
        )
        start = booking.slot.as_variable()["start"]
        return {
            "interview_start": start,
            "interview_end": booking.slot.as_variable()["end"],
            # Each panelist's feedback form shows the start as their invitation gave it.
            "interview_start_by_panelist": {
                member["username"]: readable_time(start, member.get("timezone")) for member in panel
            },
        }

    def send_invitation(
        self,
        job: Job,
        interview_id: BusinessId,
        attendee_email: str,
        candidate_name: str,
        candidate_email: str,
        candidate_timezone: str | None = None,
        panel: list | None = None,
        posting_title: str | None = None,
        rescheduled_from: list | None = None,
        move_request: dict | None = None,
    ) -> dict:
        """Email one attendee the ICS invitation (REQUEST) or cancellation (CANCEL), once.

        The email's template follows the method, unless the task's ``template`` header names
        another (the notice of a time given up for another). The candidate is one of the
        attendees; the templates address them in the second person, and the invitation gives
        them a link to ask for another time, when this worker makes such links and the
        interview may still be moved (``rescheduled_from`` lists its moves). The notice of a
        time given up says who asked for another, as ``move_request`` gives it.
        Each attendee reads the time in their time zone (the candidate's, a panelist's from
        ``panel``; else UTC); the invitation itself is in UTC, as calendars take it. Its
        organizer is the address the email comes from, and its attachment's type carries the
        method, as iMIP (RFC 6047) requires of an invitation sent by email. The email and the
        event name the job by its posting's title, when the instance has it.
        """
        method = (job.custom_headers or {}).get(Header.INVITATION_METHOD, "REQUEST")
        booking = self._calendar(interview_id).booking(interview_id)
        if method != "CANCEL" and booking is not None and booking.status == "cancelled":
            # A job taken just before the interview was cancelled: the engine has cancelled
            # it, and everyone gets the cancellation. "Booked" with a CANCEL file helps no one.
            log.info("interview %s was cancelled; an invitation taken before that is not sent", interview_id)
            return {}
        attachments = ()
        if booking is not None:
            ics = invitation_ics(
                booking,
                summary=_event_title(attendee_email == candidate_email, candidate_name, posting_title),
                organizer=self.services.mail_from,
                attendees=[attendee_email],
                names={
                    attendee_email: _attendee_name(attendee_email, candidate_email, candidate_name, panel)
                },
            )
            attachments = (EmailAttachment("invitation.ics", ics, invitation_media_type(booking)),)
        template = (job.custom_headers or {}).get(Header.EMAIL_TEMPLATE) or (
            CANCELLATION_TEMPLATE if method == "CANCEL" else INVITATION_TEMPLATE
        )
        who_asked = {}
        if method == "CANCEL" and booking is not None:
            # A time given up for another: the notice says who asked, as the request for a new
            # time carried it, when it was for this time (not an earlier move's).
            given_up = booking.slot.as_variable()["start"]
            asked = move_request if isinstance(move_request, dict) else {}
            who_asked = _who_asked_to_move(asked if asked.get("time") == given_up else {}, panel)
        self._mailer(interview_id).send(
            EmailMessage(
                dedupe_key=f"{template}:{interview_id}:{job.element_instance_key}",
                to=attendee_email,
                template=template,
                context={
                    "interview_id": interview_id,
                    "attendee_email": attendee_email,
                    "candidate_email": candidate_email,
                    "candidate_name": candidate_name,
                    "candidate_timezone": candidate_timezone,
                    "panel": panel or [],
                    "posting_title": posting_title,
                    "interview_start": booking.slot.as_variable()["start"] if booking else None,
                    "interview_end": booking.slot.as_variable()["end"] if booking else None,
                    # A panelist's feedback form waits there after the interview.
                    "tasks_url": self.services.tasks_url,
                    **self.services.reschedule_link_for(rescheduled_from),
                    **who_asked,
                },
                attachments=attachments,
            )
        )
        return {}

    def cancel_booking(self, interview_id: BusinessId) -> dict:
        """Free the panel's time, once (nothing to do if the slot was never booked)."""
        booking = self._calendar(interview_id).cancel(interview_id)
        return {"booking_released": booking is not None}

    def release_for_reschedule(self, interview_id: BusinessId, rescheduled_from: list | None = None) -> dict:
        """Free the panel's booked time, once, because the candidate or a recruiter asked for
        another. The time joins ``rescheduled_from``, so that no new offer gives it again;
        the interview's record keeps the list too, for the webapp to count the moves.
        """
        booking = self._calendar(interview_id).cancel(interview_id)
        moved_from = list(rescheduled_from or [])
        # A repeated job finds the booking cancelled already, at the same time.
        if booking is not None and booking.slot.as_variable() not in moved_from:
            moved_from.append(booking.slot.as_variable())
        record_details(self.services.db, "interview", interview_id, "requested", rescheduled_from=moved_from)
        return {"rescheduled_from": moved_from}

    def record_outcome(
        self,
        job: Job,
        interview_id: BusinessId,
        feedback: list | None = None,
        follow_up_decision: str | None = None,
        follow_up_note: str | None = None,
    ) -> dict:
        """Record done, not-scheduled or cancelled, as the task's header says, with what people
        decided on the way: the panel's feedback (the interview's result) and the recruiter's
        last follow-up of a candidate who did not choose a slot. Kept beyond the instance."""
        status = outcome_header(job)
        details: dict = {}
        if feedback:
            details["feedback"] = feedback
        follow_up = a_persons_decision(follow_up_decision, follow_up_note)
        if follow_up:
            details["follow_up"] = follow_up
        record_status(self.services.db, "interview", interview_id, status, details)
        return {"interview_status": status}


def build_router(services: Services) -> TaskRouter:
    """The interview-scheduling router, its tasks bound to ``services``."""
    tasks = InterviewSchedulingTasks(services)
    router = TaskRouter()
    router.task(JobType.FIND_INTERVIEW_SLOTS, timeout_ms=CALENDAR_TIMEOUT_MS)(tasks.find_slots)
    router.task(JobType.EMAIL_SLOT_LINKS, timeout_ms=SEND_TIMEOUT_MS)(tasks.email_slot_links)
    router.task(JobType.BOOK_INTERVIEW_SLOT, timeout_ms=CALENDAR_TIMEOUT_MS)(tasks.book_slot)
    router.task(JobType.SEND_INTERVIEW_INVITATION, timeout_ms=SEND_TIMEOUT_MS)(tasks.send_invitation)
    router.task(JobType.CANCEL_INTERVIEW_BOOKING, timeout_ms=CALENDAR_TIMEOUT_MS)(tasks.cancel_booking)
    router.task(JobType.RELEASE_FOR_RESCHEDULE, timeout_ms=CALENDAR_TIMEOUT_MS)(tasks.release_for_reschedule)
    router.task(JobType.RECORD_INTERVIEW_OUTCOME, timeout_ms=STORE_TIMEOUT_MS)(tasks.record_outcome)
    return router
