"""Interview scheduling: ``interview-scheduling`` started, a slot link followed, an interview cancelled."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from hireflow.adapters.calendar import Slot
from hireflow.adapters.email import readable_time
from hireflow.constants import Message, ProcessId, Var
from hireflow.signed_links import RescheduleRequest
from hireflow.store import CalendarBooking, Interviewer, JobPosting, locked_record, utcnow
from job_workers.records import (
    OFFERED_SLOTS,
    OFFERS_DECLINED_COUNT,
    OTHER_TIMES_ASKED,
    SLOT_CHOSEN,
    SLOT_LOST,
    record_details,
)
from webapp.domain.items import Items, filled_from_file, must_give, read_signed_link
from webapp.domain.records import FINAL_STATUSES, Accepted
from webapp.engine import EngineRejected, EngineUnavailable
from webapp.problems import Problem, invalid_field
from webapp.schemas import InterviewRequest, PanelMember, WorkingWeek

# The model's sub-process that a request for a new time interrupts: from the booking until
# the interview is over. An instance of an older model has none, and is never moved.
BOOKED_SCOPE = "InterviewBooked"
# The model's wait for the candidate's choice, which a request for other times interrupts.
CHOICE_WAIT = "AwaitSlotChoice"
# The interview's requests to move it, oldest first: each {time, asked_by, asked_at,
# asker[, panelist]}, ``time`` the booked start given up and ``asker`` one of candidate,
# panelist, recruiter or api. The console and the reschedule page say who asked.
MOVE_REQUESTS = "move_requests"
# Who asked, as a request's ``asked_by`` says it (a panelist's: "panelist <username>").
ASKERS_IN_WORDS = {"candidate": "the candidate", "recruiter": "a recruiter, in the console", "api": "the API"}


def move_request_for(details: dict, start: str) -> dict:
    """The latest request, in an interview's record ``details``, to move it from the booked
    ``start`` (as ``Slot.as_variable`` writes it); empty when none is kept (one taken before
    requests were kept, or not yet written). A request kept before its ``asker`` was has it
    read from its words."""
    requests = details.get(MOVE_REQUESTS)
    for request in reversed(requests if isinstance(requests, list) else []):
        if isinstance(request, dict) and request.get("time") == start:
            if "asker" in request:
                return request
            words = str(request.get("asked_by") or "")
            if words.startswith("panelist "):
                return {**request, "asker": "panelist", "panelist": words.removeprefix("panelist ")}
            asker = next((asker for asker, said in ASKERS_IN_WORDS.items() if said == words), None)
            return {**request, "asker": asker}
    return {}


@dataclass(frozen=True)
class MoveAsker:
    """Who asks to move an interview: the candidate, a panelist (by username), a recruiter
    in the console, or a client of the API. The request for a new time carries it to the
    process, whose notices of the move tell the candidate and the panel who asked, and the
    interview's record keeps it (``MOVE_REQUESTS``)."""

    asker: str  # candidate, panelist, recruiter or api
    panelist: str | None = None

    @classmethod
    def of_panelist(cls, username: str) -> MoveAsker:
        return cls("panelist", username)

    @property
    def words(self) -> str:
        """Who asked, as the console and the logs say it: "panelist ivy", "the candidate"."""
        if self.asker == "panelist":
            return f"panelist {self.panelist}"
        return ASKERS_IN_WORDS[self.asker]

    def as_detail(self) -> dict:
        """The fields a request keeps in the interview's ``move_requests``, beside its time."""
        kept = {"asked_by": self.words, "asker": self.asker}
        if self.panelist is not None:
            kept["panelist"] = self.panelist
        return kept


CANDIDATE_ASKS = MoveAsker("candidate")
RECRUITER_ASKS = MoveAsker("recruiter")
API_ASKS = MoveAsker("api")


def _another_time_chosen(chosen: dict, timezone: str | None) -> Problem:
    """The 409 for a link followed after another time of the same offer was chosen."""
    # The first choice is the one booked; another now would only wait in the engine's buffer,
    # while its page told the candidate it was being booked.
    return Problem(
        409,
        "Another time chosen",
        f"you chose {readable_time(chosen['start'], timezone)} already; we are "
        "booking it and will email you the invitation",
    )


@dataclass(frozen=True)
class SlotOffer:
    """What a slot link offers, for the confirmation page."""

    interview_id: str
    slot: dict
    status: str | None
    booked: dict | None = None  # the slot booked for the interview, once one is
    timezone: str | None = None  # the candidate's, when the request gave it: times are shown there
    chosen: dict | None = None  # the slot chosen from the latest offer, while it is being booked
    posting_title: str | None = None  # the job the interview is for, when the request named it
    offered: list | None = None  # the times of the latest offer (None: recorded by an older worker)
    other_times_asked: bool = False  # the candidate asked for other times than these; new ones are coming
    lost: dict | None = None  # the time chosen that was taken before it could be booked

    @property
    def taken_meanwhile(self) -> bool:
        """The link's time was chosen, and taken before it could be booked: new times were sent."""
        return self.lost is not None and self.lost.get("start") == self.slot["start"]

    @property
    def from_an_earlier_offer(self) -> bool:
        """The link's time is not among those offered last: a time of an email before."""
        return self.offered is not None and self.slot not in self.offered

    @property
    def another_time_chosen(self) -> bool:
        """Another time of the offer than this link's was chosen, and is being booked."""
        return self.chosen is not None and self.chosen["start"] != self.slot["start"]


def other_times_message_id(interview_id: str, offer_start: str) -> str:
    """The message id of a request for other times than an offer's: one per offer."""
    return f"other-times-{interview_id}-{offer_start}"


def _other_times_asked() -> Problem:
    return Problem(
        409,
        "Other times asked for",
        "you asked for other times than these; we are emailing you new ones",
    )


@dataclass(frozen=True)
class OtherTimesOffer:
    """What a link to ask for other times finds, for its page."""

    interview_id: str
    offer_start: str  # the first time of the offer the link turns down
    status: str | None
    offered: list | None  # the times of the latest offer
    booked: dict | None  # the slot booked, once one is
    asked: bool  # other times were asked for this offer already
    declined: int  # the offers turned down before the latest
    timezone: str | None = None
    posting_title: str | None = None
    instance_key: str | None = None  # the interview's process instance, as its start recorded it

    @property
    def current(self) -> bool:
        """The link's offer is the latest one."""
        return bool(self.offered) and self.offered[0].get("start") == self.offer_start

    @property
    def closed(self) -> bool:
        """The interview is over (one of its FINAL_STATUSES)."""
        return self.status in FINAL_STATUSES["interview"]


@dataclass(frozen=True)
class RescheduleOffer:
    """What a reschedule link finds, for its page: the candidate's, or a panelist's."""

    interview_id: str
    link_start: str  # the booked start the link was made for
    status: str | None
    booked: dict | None  # the slot booked now, if one is
    rescheduled_from: list  # the times given up so far
    max_moves: int  # how often an interview may be moved (HIREFLOW_MAX_RESCHEDULES)
    timezone: str | None = None  # the zone of whom the link was sent to: times are shown there
    posting_title: str | None = None
    begun: bool = False  # the booked time has come: too late to move it
    panelist: str | None = None  # the panelist's username the link was sent to; None: the candidate
    # Who asked to give the link's time up, once someone did and the record keeps it (an
    # ``asker`` of MOVE_REQUESTS), and a panelist's username.
    moved_by: str | None = None
    moved_by_panelist: str | None = None

    @property
    def moved_at_my_request(self) -> bool:
        """Whoever the link was sent to asked to move the link's time themselves."""
        if self.panelist is None:
            return self.moved_by == "candidate"
        return self.moved_by == "panelist" and self.moved_by_panelist == self.panelist

    @property
    def over(self) -> bool:
        """The interview ended one way or another: there is no time to move."""
        return self.status in FINAL_STATUSES["interview"]

    @property
    def current(self) -> bool:
        """The link's time is the one booked now: asking moves it."""
        return self.booked is not None and self.booked["start"] == self.link_start

    @property
    def moved_too_often(self) -> bool:
        """The interview was moved as often as it may be: the recruiter decides now."""
        return len(self.rescheduled_from) >= self.max_moves

    @property
    def asked(self) -> bool:
        """The link's time was given up: new times are offered, or were."""
        return any(slot.get("start") == self.link_start for slot in self.rescheduled_from)


class Interviews(Items):
    """Scheduling an application's interview, and the candidate's choice of a slot."""

    def schedule_interview(self, request: InterviewRequest) -> Accepted:
        """Start ``interview-scheduling`` for an application we know that is still open.

        What the request leaves out comes from the file: the candidate's name and email (as
        their latest resume gave them), the lead recruiter (the recruiters of the
        application's posting) and each panelist's details (the interviewer on file). The
        posting's title goes with them, for the interview's emails and calendar event.
        """
        application = self._require("application", request.application_id, field="application_id", status=422)
        # Shortlisted is where interviews begin; the other ends (declined, withdrawn) close it.
        if application.status in FINAL_STATUSES["application"] - {"shortlisted"}:
            raise Problem(
                409,
                "Application closed",
                f"application {request.application_id} is {application.status}; interviews are for open ones",
            )
        candidate_id = (application.details or {}).get("candidate_id")
        posting_id = (application.details or {}).get("posting_id")
        with self.services.db.sessions() as session:
            posting = session.get(JobPosting, posting_id) if posting_id else None
        asked = request.model_dump()
        no_contact = must_give(f"the candidate of application {request.application_id} has none on file")
        request = filled_from_file(
            request,
            {
                **self._contact_on_file(candidate_id),
                "lead_recruiter_email": posting.recruiter_team_email if posting else None,
            },
            {
                "candidate_name": no_contact,
                "candidate_email": no_contact,
                "lead_recruiter_email": must_give(
                    f"the posting of application {request.application_id} names no recruiters"
                ),
            },
        )
        request = request.model_copy(update={"panel": self._panel_filled_from_file(request.panel)})
        interview_id, attempt = self._current_attempt("interview", request.application_id, str(request.round))
        variables = {Var.INTERVIEW_ID: interview_id, **request.model_dump(exclude={"round"})}
        if posting is not None:
            # Its emails and calendar event say which job it is for: a candidate may have several.
            variables[Var.POSTING_TITLE] = posting.title
        started = self.gateway.start_item(ProcessId.INTERVIEW_SCHEDULING, variables, asked=asked)
        details = {"application_id": request.application_id, "round": request.round, "attempt": attempt}
        if request.candidate_timezone:
            details["candidate_timezone"] = request.candidate_timezone  # the slot page's times
        if panel_timezones := {m.username: m.timezone for m in request.panel if m.timezone}:
            # A panelist's reschedule page gives times where they are, as their emails do.
            details["panel_timezones"] = panel_timezones
        if posting is not None:
            details["posting_title"] = posting.title  # the slot page's and the item page's job
        return self._accepted("interview", interview_id, started, details)

    def _panel_filled_from_file(self, panel: list[PanelMember]) -> list[PanelMember]:
        """The panel, what a member's request leaves out taken from the interviewer on file
        by that username: their name and email, and the time zone and working hours where
        their slots fall and their interview emails give times.

        A name or email that neither the request nor the file gives is refused (400,
        ``panel.<n>.<field>``); a time zone or working hours missing from both are left to
        the defaults (UTC, weekdays 09:00 to 17:00).
        """
        unfilled = [m.username for m in panel if None in (m.email, m.name, m.timezone, m.working_hours)]
        if not unfilled:
            return panel
        with self.services.db.sessions() as session:
            on_file = {
                interviewer.username: interviewer
                for interviewer in session.scalars(
                    select(Interviewer).where(Interviewer.username.in_(unfilled))
                )
            }
        filled = []
        for place, member in enumerate(panel):
            interviewer = on_file.get(member.username)
            if interviewer is not None:
                hours = interviewer.working_hours
                member = member.model_copy(
                    update={
                        "email": member.email or interviewer.email,
                        "name": member.name or interviewer.name,
                        "timezone": member.timezone or interviewer.timezone,
                        "working_hours": member.working_hours
                        or (WorkingWeek.model_validate(hours) if hours else None),
                    }
                )
            for field in ("email", "name"):
                if getattr(member, field) is None:
                    raise invalid_field(
                        f"panel.{place}.{field}",
                        must_give(f"no interviewer {member.username!r} is on file"),
                    )
            filled.append(member)
        return filled

    def cancel_interview(self, interview_id: str) -> bool:
        """Publish ``interview-cancelled`` once; False when it was published or recorded before.

        An interview that is over (done, never scheduled, ended) is refused with 409.
        """
        status = self.status("interview", interview_id)["status"]
        if status == "cancelled":
            return False
        if status in FINAL_STATUSES["interview"]:
            raise Problem(409, "Interview over", f"this interview is {status}; it cannot be cancelled")
        published = self.gateway.publish_once(
            Message.INTERVIEW_CANCELLED, interview_id, f"cancelled-{interview_id}"
        )
        return published.published

    def reschedule_interview(
        self, interview_id: str, *, asked_by: MoveAsker, booked_start: str | None = None
    ) -> bool:
        """Publish ``interview-reschedule-requested`` once per booking: the booked time is
        given up and new times are offered. False when it was asked for this booking before
        (a retry, also once the time is given up and until another is booked).

        ``asked_by`` says who asked: the message carries it to the notices of the move, and
        each move is kept in the interview's ``move_requests``, for the recruiter who asks
        why it moved and for the reschedule links' pages.

        ``booked_start``: the start the asker saw (a candidate's or panelist's link, the console's page and
        a careful API client send it); once the interview is at another time, that request is
        refused with 409, as is one for an interview that is not booked (its times are still
        offered), has begun, is over, was moved ``max_reschedules`` times already, or whose
        instance does not wait in the model's booked part (``BOOKED_SCOPE``: an instance of
        an older model has none).
        """
        record = self._require("interview", interview_id)
        if record.status in FINAL_STATUSES["interview"]:
            raise Problem(409, "Interview over", f"this interview is {record.status}; it cannot be moved")
        details = record.details or {}
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, interview_id)
        if booking is None or booking.status != "booked":
            given_up = details.get(Var.RESCHEDULED_FROM) or [{}]
            if (
                booking is not None
                and given_up[-1].get("start") == Slot(booking.start, booking.end).as_variable()["start"]
            ):
                # The latest time was given up for another, and the new ones are on their way:
                # this is a repeat of that request (its answer lost), not a new one.
                return False
            raise Problem(
                409,
                "Interview not booked",
                "no time is booked for this interview yet; choose one of the times offered instead",
            )
        booked = Slot(booking.start, booking.end).as_variable()
        timezone = details.get("candidate_timezone")
        if booked_start is not None and booked_start != booked["start"]:
            raise Problem(
                409,
                "Interview moved",
                f"this asks to move the interview from {readable_time(booked_start, timezone)}, a time "
                f"it is no longer booked at; it is now on {readable_time(booked['start'], timezone)}",
            )
        # One request per booking: a repeat, or a second click, moves it once. A repeat is
        # answered as publish_once answers it, whatever the instance does by now.
        message_id = f"reschedule-{interview_id}-{booking.sequence}"
        if not self.gateway.published_before(Message.INTERVIEW_RESCHEDULE_REQUESTED, message_id):
            self._check_movable(record, booking)
        # The message says who asked, for the notices of the move; whoever asks first for a
        # booking is the one it names.
        move = {"time": booked["start"], **asked_by.as_detail()}
        published = self.gateway.publish_once(
            Message.INTERVIEW_RESCHEDULE_REQUESTED,
            interview_id,
            message_id,
            {Var.MOVE_REQUEST: move},
            same_whoever_asks=True,
        )
        if published.published:
            asked = {**move, "asked_at": utcnow().isoformat() + "Z"}
            # Only the first request for a booking gets here: no other writer of the list.
            moves = [*(details.get(MOVE_REQUESTS) or []), asked]
            record_details(
                self.services.db, "interview", interview_id, record.status, **{MOVE_REQUESTS: moves}
            )
        return published.published

    def _check_movable(self, record, booking: CalendarBooking) -> None:
        """Refuse (409) to move a booking that has begun, was moved as often as it may be, or
        whose instance does not wait where a new time is heard."""
        if booking.start <= utcnow():
            raise Problem(409, "Interview begun", "this interview has begun; it can no longer be moved")
        moves = len((record.details or {}).get(Var.RESCHEDULED_FROM) or [])
        if moves >= self.max_reschedules:
            how_often = "once" if moves == 1 else f"{moves} times"
            said = f"was moved {how_often} already" if moves else "cannot be moved here"
            raise Problem(
                409,
                "Moved too often",
                f"this interview {said}; please ask the recruiter for another time",
            )
        # The request must meet a model that waits for it: a message to an instance of an
        # older model (or one a moment before it enters the booked part) would be dropped.
        instance_key = (record.details or {}).get("process_instance_key")
        if not instance_key or not self.gateway.waits_in(str(instance_key), BOOKED_SCOPE):
            raise Problem(
                409,
                "Interview cannot be moved now",
                "its process does not wait for a new time at the moment (the booking is being made, "
                "or it started on an older model that cannot move a booking); try again in a minute, "
                "or ask the recruiter to cancel it and schedule a new one",
            )

    def reschedule_link_request(self, token: str) -> RescheduleRequest:
        """The interview and booked start a candidate's signed reschedule link names (404 or
        410 for a bad or old link)."""
        return read_signed_link(self.services.reschedule_links, token)

    def reschedule_offer(self, token: str) -> RescheduleOffer:
        """What a reschedule link's page shows: the interview as booked now, and whether the
        link's time is that one, or was given up already."""
        asked = self.reschedule_link_request(token)
        record = self._require("interview", asked.interview_id)
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, asked.interview_id)
        booked, begun = None, False
        if booking is not None and booking.status == "booked":
            booked, begun = Slot(booking.start, booking.end).as_variable(), booking.start <= utcnow()
        details = record.details or {}
        if asked.panelist is None:
            timezone = details.get("candidate_timezone")
        else:
            timezone = self._panelist_zone(asked.panelist, details.get("panel_timezones"))
        move = move_request_for(details, asked.start)
        return RescheduleOffer(
            asked.interview_id,
            asked.start,
            record.status,
            booked,
            list(details.get(Var.RESCHEDULED_FROM) or []),
            self.max_reschedules,
            timezone,
            details.get("posting_title"),
            begun,
            asked.panelist,
            move.get("asker"),
            move.get("panelist"),
        )

    def _panelist_zone(self, username: str, panel_timezones: dict | None) -> str | None:
        """Where a panelist reads times: as the interview's request gave it, else as the
        interviewer on file (an interview scheduled before requests' zones were kept); None: UTC."""
        if isinstance(panel_timezones, dict) and username in panel_timezones:
            return panel_timezones[username]
        with self.services.db.sessions() as session:
            interviewer = session.get(Interviewer, username)
        return interviewer.timezone if interviewer is not None else None

    def _booked_slot(self, interview_id: str) -> dict | None:
        """The slot booked for the interview now, as slot variables and links write it (so it
        compares equal to a link's), or None."""
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, interview_id)
        if booking is None or booking.status != "booked":
            return None
        return Slot(booking.start, booking.end).as_variable()

    def slot_offer(self, token: str) -> SlotOffer:
        """Read a slot link; 410 when it expired, 404 when it is not one of ours."""
        choice = read_signed_link(self.services.slot_links, token)
        record = self._record("interview", choice.interview_id)
        booked = self._booked_slot(choice.interview_id)
        details = (record.details or {}) if record else {}
        return SlotOffer(
            choice.interview_id,
            choice.slot,
            record.status if record else None,
            booked,
            details.get("candidate_timezone"),
            details.get(SLOT_CHOSEN) if booked is None else None,
            details.get("posting_title"),
            details.get(OFFERED_SLOTS),
            booked is None and bool(details.get(OTHER_TIMES_ASKED)),
            details.get(SLOT_LOST) if booked is None else None,
        )

    def select_slot(self, token: str) -> tuple[SlotOffer, bool]:
        """Publish the candidate's choice once per link: the offer, and False if used before."""
        offer = self.slot_offer(token)
        if offer.status in FINAL_STATUSES["interview"]:
            raise Problem(409, "Interview closed", f"this interview is {offer.status}; no slot can be chosen")
        if offer.booked is not None:
            # The process no longer waits for a choice: a message now would wait for nothing.
            if offer.booked["start"] == offer.slot["start"]:
                return offer, False  # this very slot is booked: nothing left to do
            raise Problem(
                409,
                "Interview already booked",
                f"the interview is booked for {readable_time(offer.booked['start'], offer.timezone)}; "
                "this time is no longer offered",
            )
        if offer.taken_meanwhile:
            raise Problem(
                409,
                "Time taken",
                "this time was taken just before we could book it for you; please choose one of "
                "the new times we emailed you",
            )
        if offer.from_an_earlier_offer:
            # Booking it would fail (it is no longer offered) and only send yet more times.
            raise Problem(
                409,
                "Time no longer offered",
                "this time is from an earlier email; please choose one of the times in the latest "
                "email we sent you",
            )
        if offer.another_time_chosen:
            raise _another_time_chosen(offer.chosen, offer.timezone)
        # Until the booking, or a new offer (the worker that finds its slots forgets it).
        held = self._hold_choice(offer)
        message_id = "slot-" + hashlib.sha256(token.encode()).hexdigest()[:32]
        try:
            published = self.gateway.publish_once(
                Message.INTERVIEW_SLOT_SELECTED,
                offer.interview_id,
                message_id,
                {Var.SELECTED_SLOT: offer.slot},
            )
        except (EngineUnavailable, EngineRejected) as exc:
            # The engine certainly has no message: nothing was chosen, and another link may be
            # followed instead. One it may have taken stays chosen; its link, followed again,
            # publishes it once.
            certainly_not = isinstance(exc, EngineRejected) or exc.certainly_not_applied
            if held and certainly_not:
                self._release_choice(offer)
            raise
        if held and not published.published:
            # A repeat holds nothing: a link of an offer whose slot was taken, followed again
            # after the new offer, must not hold up the choice from the new one.
            self._release_choice(offer)
        return offer, published.published

    def _hold_choice(self, offer: SlotOffer) -> bool:
        """Record the link's time as the one chosen from the offer, unless another is (409).

        Read and written under the record's lock: of links followed at the same moment, one
        is chosen, and only its message reaches the engine; each other would wait in the
        engine's buffer, and the next offer (the interview moved) would book it unasked.
        True when recorded now, False when it was already (or there is no record).
        """
        with self.services.db.sessions.begin() as session:
            record = locked_record(session, "interview", offer.interview_id)
            if record is None:
                return False
            chosen = (record.details or {}).get(SLOT_CHOSEN)
            if chosen is not None and chosen.get("start") != offer.slot["start"]:
                raise _another_time_chosen(chosen, offer.timezone)
            if chosen is not None:
                return False
            if (record.details or {}).get(OTHER_TIMES_ASKED):
                raise _other_times_asked()
            record.details = {**(record.details or {}), SLOT_CHOSEN: offer.slot}
            return True

    def other_times_offer(self, token: str) -> OtherTimesOffer:
        """Read a link to ask for other times; 410 when it expired, 404 when it is not ours."""
        request = read_signed_link(self.services.other_times_links, token)
        return self._other_times_offer(request.interview_id, request.offer_start)

    def _other_times_offer(self, interview_id: str, offer_start: str) -> OtherTimesOffer:
        """The offer that begins at ``offer_start``, as the interview's record and booking have it."""
        record = self._record("interview", interview_id)
        booked = self._booked_slot(interview_id)
        details = (record.details or {}) if record else {}
        message_id = other_times_message_id(interview_id, offer_start)
        return OtherTimesOffer(
            interview_id,
            offer_start,
            record.status if record else None,
            details.get(OFFERED_SLOTS),
            booked,
            self.gateway.published_before(Message.INTERVIEW_OTHER_TIMES_REQUESTED, message_id),
            int(details.get(OFFERS_DECLINED_COUNT) or 0),
            details.get("candidate_timezone"),
            details.get("posting_title"),
            details.get("process_instance_key"),
        )

    def ask_for_other_times(self, token: str) -> tuple[OtherTimesOffer, bool]:
        """Publish ``interview-other-times-requested`` once per offer: none of its times suits
        the candidate, and the model offers new ones, none of these. The offer, and False
        when it was asked for before (a second click, also after the new times are out).

        409 for an interview over, booked, whose time is being booked, with a newer offer,
        whose candidate turned down as many offers as they may, or whose instance does not
        wait for the choice (the new offer is being made).
        """
        return self._ask_for_other_times(self.other_times_offer(token))

    def ask_for_other_times_by_api(self, interview_id: str, offer_start: str | None = None) -> bool:
        """The candidate's request for other times, sent by the marketplace's own frontend:
        as ``ask_for_other_times``, for the offer that begins at ``offer_start`` (the one
        offered now when not given). False for a repeat. 404 for an interview not on file.
        """
        record = self._require("interview", interview_id)
        offered = (record.details or {}).get(OFFERED_SLOTS) or []
        if offer_start is None and offered:
            offer_start = offered[0].get("start")
        if offer_start is None:
            if record.status in FINAL_STATUSES["interview"] or self._booked_slot(interview_id):
                offer_start = ""  # refused below as over or booked, as a link would be
            else:
                raise Problem(
                    409, "No times offered", "the interview offers no times yet; try again in a minute"
                )
        _, published = self._ask_for_other_times(self._other_times_offer(interview_id, offer_start))
        return published

    def _ask_for_other_times(self, offer: OtherTimesOffer) -> tuple[OtherTimesOffer, bool]:
        if offer.asked:
            return offer, False
        if offer.closed:
            raise Problem(409, "Interview closed", f"this interview is {offer.status}; no times are offered")
        if offer.booked is not None:
            raise Problem(
                409,
                "Interview already booked",
                f"the interview is booked for {readable_time(offer.booked['start'], offer.timezone)}",
            )
        if not offer.current:
            raise Problem(
                409,
                "Times no longer offered",
                "these times are from an earlier email; please see the latest email we sent you",
            )
        if self.max_offers_declined == 0:
            raise Problem(
                409,
                "Other times not offered",
                "other times are not offered on request here; a recruiter will contact you to find a time",
            )
        if offer.declined >= self.max_offers_declined:
            raise Problem(
                409,
                "Other times asked for often",
                "you asked for other times before; a recruiter will contact you to find a time",
            )
        if not offer.instance_key or not self.gateway.waits_in(str(offer.instance_key), CHOICE_WAIT):
            raise Problem(
                409,
                "Times not offered now",
                "the interview does not wait for your choice at the moment; try again in a minute",
            )
        self._hold_other_times(offer)
        try:
            published = self.gateway.publish_once(
                Message.INTERVIEW_OTHER_TIMES_REQUESTED,
                offer.interview_id,
                other_times_message_id(offer.interview_id, offer.offer_start),
            )
        except (EngineUnavailable, EngineRejected) as exc:
            # Certainly not taken: a time of this offer may be chosen after all.
            if isinstance(exc, EngineRejected) or exc.certainly_not_applied:
                self._release_other_times(offer)
            raise
        return offer, published.published

    def _hold_other_times(self, offer: OtherTimesOffer) -> None:
        """Record that other times are asked for the offer, unless one of its times is being
        booked (409); a slot link of the offer is refused meanwhile."""
        with self.services.db.sessions.begin() as session:
            record = locked_record(session, "interview", offer.interview_id)
            if record is None:
                return
            chosen = (record.details or {}).get(SLOT_CHOSEN)
            if chosen is not None:
                raise _another_time_chosen(chosen, offer.timezone)
            record.details = {**(record.details or {}), OTHER_TIMES_ASKED: offer.offer_start}

    def _release_other_times(self, offer: OtherTimesOffer) -> None:
        """Forget the request this one recorded, if it still is the one recorded."""
        self._forget_if_still(offer.interview_id, OTHER_TIMES_ASKED, offer.offer_start)

    def _release_choice(self, offer: SlotOffer) -> None:
        """Forget the time this request held, if it still is the one chosen."""
        self._forget_if_still(offer.interview_id, SLOT_CHOSEN, offer.slot)

    def _forget_if_still(self, interview_id: str, detail: str, held: object) -> None:
        """Drop the interview's ``detail`` under the record's lock, if it still holds what this
        request recorded: another request may have held it since, and keeps it."""
        with self.services.db.sessions.begin() as session:
            record = locked_record(session, "interview", interview_id)
            details = (record.details or {}) if record is not None else {}
            if details.get(detail) == held:
                record.details = {name: value for name, value in details.items() if name != detail}
