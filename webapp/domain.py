"""What the webapp does for people, independent of HTTP: the API and the UI both call this.

Each operation checks what it can at the door (so a bad request is refused, not turned
into an incident), then starts its process or publishes its message once per business
key. Ids are derived from business keys, so a retried request finds the first one.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import io
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, String, case, cast, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hireflow.adapters.calendar import InterviewCalendar, Slot, StoreCalendar
from hireflow.adapters.email import readable_time
from hireflow.adapters.file_store import FileTooLarge
from hireflow.adapters.payments import (
    PaymentDeclined,
    PaymentError,
    PaymentGateway,
    PaymentGatewayUnavailable,
    PaymentRequestRejected,
)
from hireflow.constants import Message, ProcessId, Var
from hireflow.credits import CreditsLedger
from hireflow.matching import MatchResult, Requirements, asked_skills, score_match, weighted_score
from hireflow.model_checks import element_names
from hireflow.resume_intake import InvalidResume, detect_type
from hireflow.signed_links import SignedLinkExpired, SignedLinkInvalid, SignedLinks
from hireflow.store import (
    CANDIDATE_EXPERIENCE,
    ERASED,
    BusinessRecord,
    CalendarBooking,
    Candidate,
    CandidateSkill,
    ContactAccess,
    CreditAccount,
    CreditEntry,
    Database,
    EmailOutboxEntry,
    Employer,
    Interviewer,
    JobPosting,
    PostingSkill,
    RequestClaim,
    owner_in,
    payment_customer_of,
    start_claim_scope,
    utcnow,
)
from job_workers.records import SLOT_CHOSEN, record_details
from job_workers.services import Services
from webapp.engine import (
    WAITING_ELEMENT_TYPES,
    EngineRejected,
    EngineUnavailable,
    ProcessGateway,
    call_engine,
)
from webapp.incidents import retry_incident
from webapp.problems import Problem, engine_unavailable, invalid_field
from webapp.schemas import (
    ApplicationRequest,
    CandidateSearch,
    CardUpdate,
    EmployerPostingsQuery,
    InterviewRequest,
    ItemPaging,
    ItemQuery,
    PageAfter,
    PanelMember,
    PostingSearch,
    ResumeFields,
    UnlockRequest,
    WorkingWeek,
)

log = logging.getLogger(__name__)


@functools.cache
def bundled_element_names() -> dict[tuple[str, str], str]:
    """The names of the elements in ``bpmn/``, read once."""
    return element_names()


# A request body the domain completes from what is on file.
Request = TypeVar("Request", bound=BaseModel)
Row = TypeVar("Row")

# The resume types the upload process reads, by extension; the content must agree.
RESUME_EXTENSIONS = {".pdf": "pdf", ".docx": "docx"}
MAX_FILENAME_LENGTH = 200
# The kinds of business item people ask about, with the process that handles each.
KINDS = {
    "resume": ProcessId.RESUME_UPLOAD,
    "application": ProcessId.RESUME_SUBMISSION,
    "unlock": ProcessId.RESUME_UNLOCK,
    "interview": ProcessId.INTERVIEW_SCHEDULING,
}
# Statuses after which an item's process has ended: with its outcome, or without it
# ("ended": an operator cancelled the instance, or the engine that ran it was lost).
FINAL_STATUSES = {
    "resume": {"processed", "rejected", ERASED, "ended"},
    "application": {"shortlisted", "declined", "withdrawn", ERASED, "ended"},
    "unlock": {"unlocked", "cancelled", "refunded", "ended"},
    "interview": {"done", "cancelled", "not-scheduled", ERASED, "ended"},
}
# Items in these statuses ended without their purpose; asking again starts another attempt.
OVER_FOR_GOOD = {
    "resume": {"ended"},
    "unlock": {"cancelled", "refunded", "ended"},
    "application": {"withdrawn", "ended"},
    "interview": {"cancelled", "not-scheduled", "ended"},
}
ID_PREFIXES = {"resume": "res", "application": "app", "unlock": "unl", "interview": "int"}
# The items that name a candidate directly; interviews name the candidate's application.
CANDIDATE_KINDS = ("resume", "application", "unlock")
# Kept with an item for hireflow's own use (the engine link, an erasure's file list), not shown.
INTERNAL_DETAILS = {"process_instance_key", "file_ref", "text_ref"}
# Instance states after which an item's status can no longer change.
ENDED_STATES = {"COMPLETED", "TERMINATED", "CANCELED"}
FIRST_STATUS = {
    "resume": "received",
    "application": "submitted",
    "unlock": "requested",
    "interview": "requested",
}


ENGINE_LOST_REASON = "the engine that ran it has stopped, and its state is gone"
# The words for it before 2026-12-01, when the embedded engine kept its state in memory only.
EARLIER_ENGINE_LOST_REASON = "the engine that ran it kept its state in memory and has stopped"


def business_status(session: Session, kind: str, business_id: str, recorded: str) -> str:
    """The recorded status, refined by facts the processes keep outside ``business_records``.

    An unlock whose access was granted is unlocked (before 2026-12-01 the grant recorded no
    status), and an interview with a booked slot is scheduled.
    """
    if recorded not in FIRST_STATUS.values():
        return recorded
    if kind == "unlock":
        granted = session.scalar(select(ContactAccess).where(ContactAccess.unlock_id == business_id))
        return "unlocked" if granted else recorded
    if kind == "interview":
        booking = session.get(CalendarBooking, business_id)
        return "scheduled" if booking is not None and booking.status == "booked" else recorded
    return recorded


@dataclass(frozen=True)
class EndedItem:
    """An item of a lost engine: ended by this sweep or an earlier one, and what it gave back."""

    kind: str
    business_id: str
    given_back: dict[str, Any]
    newly_ended: bool = True


def close_items_of_a_lost_engine(
    db: Database, calendar: InterviewCalendar | None = None, payments: PaymentGateway | None = None
) -> list[EndedItem]:
    """Mark every item still running as ``ended``; returns the items it visited.

    For a fresh embedded engine only: the one before it held every running instance in
    memory, so those items can never move on. Left open, they would wait for good, and a
    new request for the same thing would find the dead item instead of starting again.

    What such an item held is given back first, as its process would have done on a
    cancellation: an interview's booking frees the panel's time in ``calendar`` (the
    domain store's calendar by default), credits an unlock spent return to the employer,
    and, given the ``payments`` gateway, the unlock's card charges (found by the provider's
    search, and the one the worker recorded) are refunded (a pending one cancelled). All
    are once-only, so a sweep that fails half-way is simply run again at the next start.
    A card charge the gateway cannot give back (unreachable, no search) is named in
    ``given_back`` for the operator. Items a sweep ended before 2026-12-01, when it gave
    nothing back, are visited once more for this (``newly_ended`` False).

    ``make run`` sweeps only when its embedded engine starts on a new log: it keeps its log
    in a file since 2026-12-01, and instances on a kept log run on.
    """
    calendar = calendar or StoreCalendar(db)
    ledger = CreditsLedger(db)
    with db.sessions() as session:
        to_visit = []
        for record in session.scalars(select(BusinessRecord)):
            status = business_status(session, record.kind, record.business_id, record.status)
            details = record.details or {}
            if status not in FINAL_STATUSES.get(record.kind, ()) | {ERASED}:
                to_visit.append((record.kind, record.business_id, True))
            elif details.get("ended_because") == EARLIER_ENGINE_LOST_REASON and "given_back" not in details:
                to_visit.append((record.kind, record.business_id, False))
    visited = []
    for kind, business_id, newly_ended in to_visit:
        given_back = _give_back_what_it_held(db, calendar, ledger, payments, kind, business_id)
        with db.sessions.begin() as session:
            record = session.get(BusinessRecord, (kind, business_id))
            details = {**(record.details or {}), "given_back": given_back}
            if newly_ended:
                details["ended_because"] = ENGINE_LOST_REASON
                record.status, record.updated_at = "ended", utcnow()
            record.details = details
        visited.append(EndedItem(kind, business_id, given_back, newly_ended))
    return visited


def _give_back_what_it_held(
    db: Database,
    calendar: InterviewCalendar,
    ledger: CreditsLedger,
    payments: PaymentGateway | None,
    kind: str,
    business_id: str,
) -> dict[str, Any]:
    """Free the booking, or return the credits and card charges, of an item that cannot run; once-only."""
    if kind == "interview":
        booking = calendar.booking(business_id)
        if booking is not None and booking.status == "booked":
            calendar.cancel(business_id)
            return {"booking_released": True}
    given_back: dict[str, Any] = {}
    if kind == "unlock":
        with db.sessions() as session:
            spent = session.scalar(
                select(CreditEntry).where(CreditEntry.reference == business_id, CreditEntry.kind == "spend")
            )
        if spent is not None:
            returned = ledger.refund(spent.employer_id, business_id)
            given_back["credits_returned"] = returned.amount
        if payments is not None:
            given_back.update(_give_back_card_charges(db, payments, business_id))
    return given_back


def _give_back_card_charges(db: Database, payments: PaymentGateway, unlock_id: str) -> dict[str, Any]:
    """Refund the unlock's card charges, cancel a pending one; what was done, or why not.

    The provider's search finds every charge made a minute ago or more; the charge the
    worker recorded is also looked up by its id, however new.
    """
    with db.sessions() as session:
        record = session.get(BusinessRecord, ("unlock", unlock_id))
        details = (record.details or {}) if record else {}
    # The charge made, and the one waiting for the employer to approve it: both known by id.
    recorded = [
        (details.get(name) or {}).get("payment_id") for name in ("card_charged", "card_needs_authentication")
    ]
    try:
        charges = payments.charges_of(unlock_id, [payment_id for payment_id in recorded if payment_id])
        refunded = [
            payments.refund(unlock_id=unlock_id, payment_id=c.id) for c in charges if c.status == "succeeded"
        ]
        cancelled = []
        # A payment still to settle, or to approve: cancelled, so it can never take the money
        # later; one that succeeded meanwhile is refunded.
        for charge in charges:
            if charge.needs_confirmation or charge.needs_cardholder:
                outcome = payments.cancel(unlock_id=unlock_id, payment_id=charge.id)
                if outcome.status == "succeeded":
                    refunded.append(payments.refund(unlock_id=unlock_id, payment_id=charge.id))
                else:
                    cancelled.append(outcome)
    except PaymentError as exc:
        log.warning("unlock %s: card charges not given back: %s", unlock_id, exc)
        return {"card_charges": f"not given back ({exc}); look the unlock up with the payment provider"}
    given_back: dict[str, Any] = {}
    if refunded:
        given_back["card_refunded_cents"] = sum(refund.amount for refund in refunded)
    if cancelled:
        given_back["card_payments_cancelled"] = len(cancelled)
    return given_back


def _filled_from_file(request: Request, on_file: dict[str, Any], needed: dict[str, str]) -> Request:
    """``request`` with what it leaves out taken from ``on_file``.

    ``needed`` names the fields that must end up with a value, each with the reason to give
    in the 400 when neither the request nor the file has one.
    """
    # An empty value on file stands in for nothing, as if it were not there.
    left_out = {name: value for name, value in on_file.items() if value and getattr(request, name) is None}
    completed = request.model_copy(update=left_out)
    for name, reason in needed.items():
        if getattr(completed, name) is None:
            raise invalid_field(name, reason)
    return completed


def _must_give(why: str) -> str:
    """The reason a 400 gives for a field that nothing on file can stand in for."""
    return f"{why}, so the request must give this"


def derived_id(prefix: str, *parts: str) -> str:
    """A stable id for a business key: the same request always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{prefix}_{digest}"


def new_card_message_id(unlock_id: str, payment_method_ref: str, after_charge: str | None) -> str:
    """The id of ``payment-method-updated`` for one card saved after one declined charge:
    saved again for it, the card is published no more."""
    return derived_id("card", unlock_id, after_charge or "", payment_method_ref)


@dataclass(frozen=True)
class Accepted:
    """A request the engine took: the item's id, its instance, and whether it is new."""

    kind: str
    business_id: str
    process_instance_key: str
    created: bool


@dataclass(frozen=True)
class ItemSummary:
    """One line of a list of items (the dashboard, the Items page, ``GET /api/items``).

    Its status is the one the item's own page gives.
    """

    kind: str
    business_id: str
    status: str
    updated_at: datetime
    # The candidate (of a resume, application or unlock) or application (of an interview).
    belongs_to: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """As ``GET /api/items`` lists it (``updatedAt`` as the item's status gives it)."""
        return {
            "kind": self.kind,
            "id": self.business_id,
            "status": self.status,
            "updatedAt": self.updated_at.isoformat() + "Z",
            "belongsTo": self.belongs_to,
        }


ITEMS_PER_PAGE = 50
CANDIDATES_PAGE = 50
CONTACTS_PAGE = 50
POSTINGS_PAGE = 50
# Postings, employers and interviewers a console form's list offers: the rest are found on
# the Postings and Candidates pages, whose links fill the form in.
CHOICES_SHOWN = 100


@dataclass(frozen=True)
class ItemCursor:
    """Where a page of items ends: its last line's change time, kind and id.

    In a URL as ``2026-12-02T05:12:39.123456~unlock~unl_1`` (ids never hold ``~``).
    """

    updated_at: datetime
    kind: str
    business_id: str

    def __str__(self) -> str:
        return f"{self.updated_at.isoformat()}~{self.kind}~{self.business_id}"

    @classmethod
    def parse(cls, text: str) -> ItemCursor:
        """The cursor a page link carries; ValueError for anything else."""
        when, kind, business_id = text.split("~")
        updated_at = datetime.fromisoformat(when)
        if kind not in KINDS or not business_id or updated_at.tzinfo is not None:
            raise ValueError("not a cursor of the items list")
        return cls(updated_at, kind, business_id)


@dataclass(frozen=True)
class CandidateCursor:
    """Where a page of found candidates ends: its last candidate's years of experience and id.

    In a URL as ``7.cand_42`` (years first: ids may hold dots, years never do).
    """

    years: int
    candidate_id: str

    def __str__(self) -> str:
        return f"{self.years}.{self.candidate_id}"

    @classmethod
    def parse(cls, text: str) -> CandidateCursor:
        """The cursor a page of candidates gave; ValueError for anything else."""
        years, candidate_id = text.split(".", 1)
        # A few digits: a database's integer cannot hold any number of them.
        if not (years.isdigit() and len(years) <= 4) or not candidate_id:
            raise ValueError("not a cursor of the candidates' search")
        return cls(int(years), candidate_id)


@dataclass(frozen=True)
class ApplicationSummary:
    """An application the UI offers when scheduling an interview."""

    id: str
    candidate_id: str
    status: str


@dataclass(frozen=True)
class SlotOffer:
    """What a slot link offers, for the confirmation page."""

    interview_id: str
    slot: dict
    status: str | None
    booked: dict | None = None  # the slot booked for the interview, once one is
    timezone: str | None = None  # the candidate's, when the request gave it: times are shown there
    chosen: dict | None = None  # the slot chosen from the latest offer, while it is being booked

    @property
    def another_time_chosen(self) -> bool:
        """Another time of the offer than this link's was chosen, and is being booked."""
        return self.chosen is not None and self.chosen["start"] != self.slot["start"]


def _read_signed_link(links: SignedLinks | None, token: str):
    """What a signed link carries, or the problem a person following it should see."""
    if links is None:
        raise Problem(404, "Link not valid", "this deployment makes no such links")
    try:
        return links.read(token)
    except SignedLinkExpired as exc:
        raise Problem(410, f"{links.kind.capitalize()} expired", str(exc)) from exc
    except SignedLinkInvalid as exc:
        raise Problem(404, f"{links.kind.capitalize()} not valid", str(exc)) from exc


class Hireflow:
    """The webapp's operations, with the engine gateway and the adapters injected."""

    def __init__(self, gateway: ProcessGateway, services: Services, *, max_upload_bytes: int):
        self.gateway = gateway
        self.services = services
        self.max_upload_bytes = max_upload_bytes

    # -- resumes --

    def upload_resume(self, fields: ResumeFields, filename: str | None, stream: BinaryIO) -> Accepted:
        """Check the file at the door, store it by content, and start ``resume-upload``."""
        kind = self._check_filename(filename)
        data = stream.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise invalid_field("file", f"the file is larger than {self.max_upload_bytes} bytes", status=413)
        if not data:
            raise invalid_field("file", "the file is empty")
        try:
            detected = detect_type(data)
        except InvalidResume as exc:
            raise invalid_field("file", str(exc), status=415) from exc  # what the re-upload email says
        if detected != kind:
            raise invalid_field("file", f"the name says .{kind} but the content is {detected}", status=415)
        try:
            file_ref = self.services.files.put(io.BytesIO(data), max_bytes=self.max_upload_bytes)
        except FileTooLarge as exc:  # cannot happen after the check above; kept as a guard
            raise invalid_field("file", str(exc), status=413) from exc
        resume_id, attempt = self._current_attempt("resume", fields.candidate_id, file_ref)
        variables = {
            Var.RESUME_ID: resume_id,
            Var.CANDIDATE_ID: fields.candidate_id,
            Var.CANDIDATE_NAME: fields.candidate_name,
            Var.CANDIDATE_EMAIL: fields.candidate_email,
            Var.FILE_REF: file_ref,
        }
        started = self.gateway.start_item(ProcessId.RESUME_UPLOAD, variables)
        # The file's reference stays in the store, so the candidate's erasure can find it.
        details = {
            "candidate_id": fields.candidate_id,
            "file_type": kind,
            "filename": filename,
            "file_ref": file_ref,
            "attempt": attempt,
        }
        return self._accepted("resume", resume_id, started, details)

    @staticmethod
    def _check_filename(filename: str | None) -> str:
        """The resume type the filename claims; refuses names that try to be paths or hide.

        The name is never used to store the file (files are kept by content hash), but it
        is shown to people and logged, so it must be a plain, printable name.
        """
        if not filename:
            raise invalid_field("file", "send the resume as a file part named 'file', with a filename")
        if (
            len(filename) > MAX_FILENAME_LENGTH
            or not filename.isprintable()
            or any(sep in filename for sep in ("/", "\\", ":"))
            or filename.startswith(".")
            or ".." in filename
        ):
            raise invalid_field(
                "file",
                f"the filename must be a plain name of at most {MAX_FILENAME_LENGTH} printable characters, "
                "without folders, ':' or a leading '.'",
            )
        extension = os.path.splitext(filename)[1].lower()
        if extension not in RESUME_EXTENSIONS:
            raise invalid_field("file", "only .pdf and .docx resumes are accepted", status=415)
        return RESUME_EXTENSIONS[extension]

    # -- applications --

    def apply(self, request: ApplicationRequest) -> Accepted:
        """Start ``resume-submission`` for a candidate with a processed resume and a real posting.

        The candidate's name and email, when left out, are those their latest resume gave,
        the employer's email that of the posting's employer on file, and the recruiters'
        email the posting's.
        """
        with self.services.db.sessions() as session:
            posting = session.get(JobPosting, request.posting_id)
            if posting is None:
                raise invalid_field("posting_id", f"no job posting {request.posting_id}", status=422)
            employer = session.get(Employer, posting.employer_id)
        self._require_candidate(request.candidate_id)
        no_contact = _must_give(f"candidate {request.candidate_id} gave none with their resume")
        employer_email = employer.email if employer is not None else None
        request = _filled_from_file(
            request,
            {
                **self._contact_on_file(request.candidate_id),
                "employer_email": employer_email,
                "recruiter_team_email": posting.recruiter_team_email,
            },
            {
                "candidate_name": no_contact,
                "candidate_email": no_contact,
                "employer_email": _must_give(f"employer {posting.employer_id} of the posting is not on file"),
                "recruiter_team_email": _must_give(f"posting {posting.posting_id} names no recruiters"),
            },
        )
        application_id, attempt = self._current_attempt(
            "application", request.candidate_id, request.posting_id
        )
        if not posting.open and self._record("application", application_id) is None:
            # Only a new application is refused: a repeated request still finds its own.
            closed = f"job posting {posting.posting_id} is closed and takes no applications"
            raise invalid_field("posting_id", closed, status=409, title="Posting closed")
        variables = {
            Var.APPLICATION_ID: application_id,
            **request.model_dump(),
            # The screening forms link to the application's page, from Tasklist on another host.
            Var.APPLICATION_URL: f"{self.services.public_url}/items/application/{application_id}",
        }
        started = self.gateway.start_item(ProcessId.RESUME_SUBMISSION, variables)
        details = {
            "candidate_id": request.candidate_id,
            "posting_id": request.posting_id,
            # As it read when the candidate applied: an id alone says little on the page.
            "posting_title": posting.title,
            "attempt": attempt,
        }
        return self._accepted("application", application_id, started, details)

    def _require_candidate(self, candidate_id: str) -> None:
        """Refuse (422) a candidate without a processed resume: there is nothing to apply with."""
        with self.services.db.sessions() as session:
            if session.get(Candidate, candidate_id) is None:
                raise invalid_field(
                    "candidate_id", "this candidate has no processed resume yet; upload one first", status=422
                )

    def withdraw(self, application_id: str) -> bool:
        """Withdraw an application, once; False when it was withdrawn before.

        Its interviews still open are cancelled first (``interview-cancelled``, once each:
        the booking is released and the panel told). While resume-submission runs,
        ``application-withdrawn`` then ends it, and the model records the withdrawal. Once
        the candidate is shortlisted that process has ended, so the withdrawal is recorded
        here. A declined or ended application is refused with 409: a message would wait
        for a process that no longer listens.
        """
        status = self.status("application", application_id)["status"]
        if status == "withdrawn":
            return False
        if status not in (FIRST_STATUS["application"], "shortlisted"):
            raise Problem(409, "Application closed", f"this application is {status}; it cannot be withdrawn")
        # Safe to repeat after a failure half-way: each cancellation is published once.
        for interview_id in self._open_interviews(application_id):
            self.cancel_interview(interview_id)
        if status == "shortlisted":
            # Only one of two withdrawals at once records it: the other is told it came second.
            return self._change_status("application", application_id, "shortlisted", "withdrawn")
        published = self.gateway.publish_once(
            Message.APPLICATION_WITHDRAWN, application_id, f"withdrawn-{application_id}"
        )
        return published.published

    def _open_interviews(self, application_id: str) -> list[str]:
        """The application's interviews that have not ended."""
        with self.services.db.sessions() as session:
            interviews = _records_belonging_to(session, ("interview",), application_id)
        return [r.business_id for r in interviews if not self.status("interview", r.business_id)["final"]]

    # -- unlocks --

    def unlock(self, request: UnlockRequest) -> Accepted:
        """Start ``resume-unlock`` for an indexed candidate.

        What the request leaves out comes from the employer on file: email, plan, card and
        the payment provider's customer. An employer not on file must give its email and
        card; hireflow never picks a card for anybody.
        """
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, request.candidate_id)
            employer = session.get(Employer, request.employer_id)
        if candidate is None:
            raise invalid_field("candidate_id", f"no candidate {request.candidate_id}", status=422)
        not_on_file = _must_give(f"employer {request.employer_id} is not on file")
        on_file = {"employer_plan": "standard"}
        if employer is not None:
            on_file = {
                "employer_email": employer.email,
                "employer_plan": employer.plan or "standard",
                "payment_method_ref": employer.payment_method_ref,
            }
        request = _filled_from_file(
            request, on_file, {"employer_email": not_on_file, "payment_method_ref": not_on_file}
        )
        unlock_id, attempt = self._current_attempt("unlock", request.employer_id, request.candidate_id)
        customer = request.payment_customer_ref or payment_customer_of(self.services.db, request.employer_id)
        variables = {
            Var.UNLOCK_ID: unlock_id,
            **request.model_dump(),
            Var.PAYMENT_CUSTOMER_REF: customer,
            Var.YEARS_OF_EXPERIENCE: candidate.years_of_experience or 0,
        }
        started = self.gateway.start_item(ProcessId.RESUME_UNLOCK, variables)
        details = {
            "employer_id": request.employer_id,
            "candidate_id": request.candidate_id,
            "payment_customer_ref": customer,
            "attempt": attempt,
        }
        return self._accepted("unlock", unlock_id, started, details)

    def _current_attempt(self, kind: str, *key: str) -> tuple[str, int]:
        """The item a request for the business ``key`` belongs to, and which attempt it is.

        The id derives from the key, so a repeated request finds the item it started and
        nothing happens twice. An item that ended for good without its purpose is over:
        an unlock cancelled or refunded, an application withdrawn, an interview cancelled
        or never scheduled, or one whose instance ended with no outcome (an operator
        cancelled it in Operate). Asking again
        then starts the next attempt, whose id adds the attempt number.
        """
        attempt = 1
        while True:
            # The first attempt's id is the key's alone, as it was before attempts existed.
            parts = key if attempt == 1 else (*key, str(attempt))
            business_id = derived_id(ID_PREFIXES[kind], *parts)
            record = self._record(kind, business_id)
            if record is None or not self._over_for_good(kind, business_id, record):
                return business_id, attempt
            attempt += 1

    def _over_for_good(self, kind: str, business_id: str, record: BusinessRecord) -> bool:
        """Whether an item ended without its purpose, so a new request is a new attempt."""
        status = self._business_status(kind, business_id, record.status)
        if status == FIRST_STATUS[kind]:
            # No outcome recorded: only the engine can say whether the instance still runs.
            status = self.status(kind, business_id)["status"]
        return status in OVER_FOR_GOOD[kind]

    def withdrawal_link_application(self, token: str) -> str:
        """The application a candidate's signed withdrawal link names (404 or 410 for a bad or old link)."""
        return _read_signed_link(self.services.withdrawal_links, token)

    def card_link_unlock(self, token: str) -> str:
        """The unlock a card link (from the payment-declined email) is for; 410 expired, 404 not ours."""
        return _read_signed_link(self.services.card_links, token)

    def save_card(self, unlock_id: str, update: CardUpdate) -> None:
        """Save the employer's new card with the payment provider, for an unlock still open,
        and publish ``payment-method-updated`` with it once the provider took it.

        A card the provider refused never reaches the process. The message's id is made of
        the unlock, the card and the declined charge the card answers (the record keeps
        it): a repeat of one save publishes nothing more, while the same card saved again
        after a later decline is another try. A save whose publishing failed (503) is
        finished by the employer's retry, or the reminder's link; the provider's
        ``payment_method.attached`` event is not waited for (see ``webhooks``).
        """
        record = self._require("unlock", unlock_id)
        if record.status in FINAL_STATUSES["unlock"]:
            raise Problem(409, "Unlock closed", f"this unlock is {record.status}; it needs no card")
        if self.services.payments is None:
            raise Problem(503, "No payment provider", "this deployment has no payment provider configured")
        details = record.details or {}
        employer_id = details.get("employer_id")
        if not employer_id:
            # The provider ties a card to one customer, the employer; never guess another.
            raise Problem(409, "Unlock incomplete", "this unlock has no employer on record; start it again")
        # The customer the charge will name; unlocks recorded before it was kept find it on file.
        customer = details.get("payment_customer_ref") or payment_customer_of(self.services.db, employer_id)
        after_charge = (details.get("card_declined") or {}).get("charge")
        try:
            saved = self.services.payments.save_card(
                unlock_id=unlock_id,
                customer=customer,
                payment_method=update.payment_method_ref,
                after_charge=after_charge,
            )
        except PaymentRequestRejected as exc:
            # The employer reads this on the card page: the provider's words, not our request.
            log.info("unlock %s: the payment provider refused the card: %s", unlock_id, exc)
            raise invalid_field(
                "payment_method_ref", f"the payment provider refused it: {exc.reason}", status=422
            ) from exc
        except PaymentGatewayUnavailable as exc:
            raise Problem(
                503, "Payment provider unavailable", str(exc), headers={"Retry-After": "30"}
            ) from exc
        self.gateway.publish_once(
            Message.PAYMENT_METHOD_UPDATED,
            unlock_id,
            new_card_message_id(unlock_id, saved, after_charge),
            {Var.PAYMENT_METHOD_REF: saved},
        )

    def payment_link_unlock(self, token: str) -> str:
        """The unlock a payment link (from the payment-approval email) is for; 410 expired, 404 not ours."""
        return _read_signed_link(self.services.payment_links, token)

    def payment_to_approve(self, unlock_id: str) -> dict | None:
        """The card payment of an open unlock that waits for the employer's approval, as
        the charge recorded it (payment_id, amount_cents, currency); None if there is none."""
        record = self._require("unlock", unlock_id)
        if record.status in FINAL_STATUSES["unlock"]:
            return None
        return (record.details or {}).get("card_needs_authentication") or None

    def approve_payment(self, unlock_id: str, return_url: str) -> str | None:
        """Where the employer approves the unlock's card payment with their bank (3-D
        Secure), or None when the payment needs nothing more from them.

        The provider sends them back to ``return_url`` and tells hireflow the outcome by
        its signed webhook, which publishes ``payment-confirmed`` or ``payment-failed``:
        nothing is published here, so a page the employer leaves half-way changes nothing.
        """
        record = self._require("unlock", unlock_id)
        if record.status in FINAL_STATUSES["unlock"]:
            raise Problem(
                409, "Unlock closed", f"this unlock is {record.status}; there is nothing to approve"
            )
        waiting = (record.details or {}).get("card_needs_authentication") or {}
        if not waiting.get("payment_id"):
            raise Problem(409, "Nothing to approve", "no payment of this unlock waits for your approval")
        if self.services.payments is None:
            raise Problem(503, "No payment provider", "this deployment has no payment provider configured")
        try:
            return self.services.payments.authenticate(
                unlock_id=unlock_id, payment_id=waiting["payment_id"], return_url=return_url
            )
        except PaymentDeclined as exc:
            # The provider's webhook fails the payment; the process asks for another card.
            raise Problem(
                402, "Card declined", "your card was declined; we will email you a link to save another card"
            ) from exc
        except PaymentRequestRejected as exc:
            log.info("unlock %s: the payment cannot be approved: %s", unlock_id, exc)
            raise Problem(409, "Payment not approvable", exc.reason) from exc
        except PaymentGatewayUnavailable as exc:
            raise Problem(
                503, "Payment provider unavailable", str(exc), headers={"Retry-After": "30"}
            ) from exc

    # -- interviews --

    def schedule_interview(self, request: InterviewRequest) -> Accepted:
        """Start ``interview-scheduling`` for an application we know that is still open.

        What the request leaves out comes from the file: the candidate's name and email (as
        their latest resume gave them), the lead recruiter (the recruiters of the
        application's posting) and each panelist's details (the interviewer on file).
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
        no_contact = _must_give(f"the candidate of application {request.application_id} has none on file")
        request = _filled_from_file(
            request,
            {
                **self._contact_on_file(candidate_id),
                "lead_recruiter_email": posting.recruiter_team_email if posting else None,
            },
            {
                "candidate_name": no_contact,
                "candidate_email": no_contact,
                "lead_recruiter_email": _must_give(
                    f"the posting of application {request.application_id} names no recruiters"
                ),
            },
        )
        request = request.model_copy(update={"panel": self._panel_filled_from_file(request.panel)})
        interview_id, attempt = self._current_attempt("interview", request.application_id, str(request.round))
        variables = {Var.INTERVIEW_ID: interview_id, **request.model_dump(exclude={"round"})}
        started = self.gateway.start_item(ProcessId.INTERVIEW_SCHEDULING, variables)
        details = {"application_id": request.application_id, "round": request.round, "attempt": attempt}
        if request.candidate_timezone:
            details["candidate_timezone"] = request.candidate_timezone  # the slot page's times
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
                        _must_give(f"no interviewer {member.username!r} is on file"),
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

    def slot_offer(self, token: str) -> SlotOffer:
        """Read a slot link; 410 when it expired, 404 when it is not one of ours."""
        choice = _read_signed_link(self.services.slot_links, token)
        record = self._record("interview", choice.interview_id)
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, choice.interview_id)
        booked = None
        if booking is not None and booking.status == "booked":
            # As the slot links carry times, so the booked slot compares equal to its link's.
            booked = Slot(booking.start, booking.end).as_variable()
        details = (record.details or {}) if record else {}
        return SlotOffer(
            choice.interview_id,
            choice.slot,
            record.status if record else None,
            booked,
            details.get("candidate_timezone"),
            details.get(SLOT_CHOSEN) if booked is None else None,
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
        if offer.another_time_chosen:
            # The first choice is the one booked; another now would only wait in the engine's
            # buffer, while this page told the candidate it was being booked.
            raise Problem(
                409,
                "Another time chosen",
                f"you chose {readable_time(offer.chosen['start'], offer.timezone)} already; we are "
                "booking it and will email you the invitation",
            )
        message_id = "slot-" + hashlib.sha256(token.encode()).hexdigest()[:32]
        published = self.gateway.publish_once(
            Message.INTERVIEW_SLOT_SELECTED,
            offer.interview_id,
            message_id,
            {Var.SELECTED_SLOT: offer.slot},
        )
        if published.published:
            # Until the booking, or a new offer (the worker that finds its slots forgets it).
            # Not on a repeat: a link of an offer whose slot was taken, followed again after
            # the new offer, must not hold up the choice from the new one.
            chosen = {SLOT_CHOSEN: offer.slot}
            record_details(self.services.db, "interview", offer.interview_id, "requested", **chosen)
        return offer, published.published

    # -- payments --

    def payment_confirmed(self, event_id: str, payment_id: str) -> bool:
        """The provider settled a payment: publish ``payment-confirmed`` once per event."""
        return self.gateway.publish_once(Message.PAYMENT_CONFIRMED, payment_id, event_id).published

    def payment_failed(
        self,
        event_id: str,
        payment_id: str,
        decline_code: str | None,
        unlock_id: str | None = None,
        card: str | None = None,
    ) -> bool:
        """A payment that was settling (a bank debit bounced) or waiting for the employer's
        approval (their bank refused it) failed: publish ``payment-failed`` once.

        The unlock's record then says the card was refused, as after a decline, and no
        longer that the payment waits for approval: the unlock waits for a new card.
        """
        variables = {Var.DECLINE_CODE: decline_code} if decline_code else None
        published = self.gateway.publish_once(Message.PAYMENT_FAILED, payment_id, event_id, variables)
        if unlock_id is not None:
            self._record_refused_payment(unlock_id, payment_id, decline_code, card)
        return published.published

    def _record_refused_payment(
        self, unlock_id: str, payment_id: str, decline_code: str | None, card: str | None
    ) -> None:
        """Record the refusal of the unlock's current payment; an event about an older one
        (delivered late, or twice) changes nothing."""
        with self.services.db.sessions.begin() as session:
            record = session.get(BusinessRecord, ("unlock", unlock_id), with_for_update=True)
            details = (record.details or {}) if record else {}
            current = {
                (details.get(name) or {}).get("payment_id")
                for name in ("card_needs_authentication", "card_charged")
            }
            if record is None or record.status in FINAL_STATUSES["unlock"] or payment_id not in current:
                return
            # The payment names the charge refused: a card saved after it is a new try.
            refused = {
                "card": card or "unknown",
                "decline_code": decline_code or "unknown",
                "charge": payment_id,
            }
            kept = {name: value for name, value in details.items() if name != "card_needs_authentication"}
            record.details = {**kept, "card_declined": refused}
            record.updated_at = utcnow()

    # -- erasure --

    def candidate_data(self, candidate_id: str) -> dict[str, Any]:
        """Everything hireflow keeps about one candidate, for their request to see it (GDPR art. 15).

        The search profile (with the contact details their latest resume gave), every item
        of theirs with its status and details (their interviews too), which employers may see
        their contact details, the stored files of their resumes, the emails sent to their
        address, and the engine's process instances that hold more (their variables, in
        Operate). What ``erase_candidate`` would remove is all here. Raises 404 for a
        candidate hireflow keeps nothing about.
        """
        items = self._candidate_items(candidate_id)
        with self.services.db.sessions() as session:
            profile = session.get(Candidate, candidate_id)
            access = session.scalars(
                select(ContactAccess)
                .where(ContactAccess.candidate_id == candidate_id)
                .order_by(ContactAccess.granted_at)
            ).all()
            emails = _outbox_entries(
                session, [r.business_id for r in items], profile.email if profile else None
            )
        if not items and profile is None:
            raise Problem(404, "No such candidate", f"hireflow keeps nothing about candidate {candidate_id}")
        return {
            "candidateId": candidate_id,
            "profile": None
            if profile is None
            else {
                "name": profile.name,
                "email": profile.email,
                "skills": list(profile.skills),
                "yearsOfExperience": profile.years_of_experience,
                "resumeId": profile.resume_id,
                "indexedAt": profile.indexed_at.isoformat() + "Z",
            },
            "items": [
                {
                    "kind": record.kind,
                    "id": record.business_id,
                    "status": self._business_status(record.kind, record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "details": record.details or {},
                }
                for record in sorted(items, key=lambda r: (r.updated_at, r.kind, r.business_id))
            ],
            "contactAccess": [
                {
                    "employerId": a.employer_id,
                    "unlockId": a.unlock_id,
                    "grantedAt": a.granted_at.isoformat() + "Z",
                }
                for a in access
            ],
            "files": sorted({ref for r in items if r.kind == "resume" for ref in _file_refs(r.details)}),
            "emails": [
                {
                    "template": entry.template,
                    "status": entry.status,
                    "sentAt": entry.sent_at.isoformat() + "Z" if entry.sent_at else None,
                }
                for entry in emails
            ],
            "engine": {
                "processInstanceKeys": sorted(
                    {str(key) for r in items if (key := (r.details or {}).get("process_instance_key"))}
                )
            },
        }

    def erase_candidate(self, candidate_id: str) -> dict[str, Any]:
        """Erase what hireflow keeps about one candidate, once all their items have ended.

        Removes the resume files and their extracted text, the search profile, employers'
        access to the contact details and the outbox entries of the candidate's emails (their
        address), and blanks the details of their resumes, applications and interviews.
        Unlocks stay: they are employers' purchases, and name the candidate by id only. The
        engine's history of the candidate's instances is listed for deletion there.

        Raises 404 for a candidate hireflow keeps nothing about (so also after a complete
        erasure), 409 while any of their items is in progress, and a store's failure before
        anything changed; a repeat then finishes the job.
        """
        items = self._candidate_items(candidate_id)
        with self.services.db.sessions() as session:
            profile = session.get(Candidate, candidate_id) is not None
        if not items and not profile:
            raise Problem(404, "No such candidate", f"hireflow keeps nothing about candidate {candidate_id}")
        running = []
        for record in items:
            status = self.status(record.kind, record.business_id)
            if status["final"]:
                continue
            if not status["engine"]["reachable"]:  # it may have ended: the engine must say
                raise engine_unavailable(f"reading the state of {record.kind} {record.business_id}")
            running.append(f"{record.kind} {record.business_id}")
        if running:
            raise Problem(
                409,
                "Candidate has items in progress",
                f"{', '.join(running)} still running; withdraw or cancel them, or wait until they end",
            )
        erasable = [r for r in items if r.kind != "unlock" and r.status != ERASED]
        erased_ids = {r.business_id for r in erasable}
        # Files first: if the store fails, nothing else has changed and a repeat finds the
        # same files again. A file another candidate's resume also holds (the same bytes) stays.
        removed_files = 0
        for ref in sorted({ref for r in erasable if r.kind == "resume" for ref in _file_refs(r.details)}):
            if not self._file_held_by_others(ref, erased_ids) and self.services.files.delete(ref):
                removed_files += 1
        with self.services.db.sessions.begin() as session:
            profile_rows = session.execute(delete(Candidate).where(Candidate.candidate_id == candidate_id))
            # An unlock granted by a release before the grant recorded its status reads as
            # unlocked from its access row, which goes with the candidate; the purchase
            # stands, so record the status it reads as before the row goes.
            for record in [r for r in items if r.kind == "unlock"]:
                row = session.get(BusinessRecord, ("unlock", record.business_id))
                status = business_status(session, "unlock", record.business_id, row.status)
                if status != row.status:
                    row.status, row.updated_at = status, utcnow()
            access = delete(ContactAccess).where(ContactAccess.candidate_id == candidate_id)
            access_rows = session.execute(access).rowcount
            email_rows = _delete_outbox_entries(session, sorted(erased_ids))
            # The start claims hold what was asked (the candidate's request): a new request
            # after the erasure is a new start.
            claims = delete(RequestClaim).where(
                RequestClaim.scope.like(start_claim_scope("%")), RequestClaim.key.in_(erased_ids)
            )
            session.execute(claims)
            for record in erasable:
                row = session.get(BusinessRecord, (record.kind, record.business_id))
                key = (row.details or {}).get("process_instance_key")
                row.status = ERASED
                row.details = {"erased_at": utcnow().isoformat() + "Z", "process_instance_key": key}
                row.updated_at = utcnow()
        instance_keys = sorted(
            {str(key) for r in items if (key := (r.details or {}).get("process_instance_key"))}
        )
        log.info("candidate %s erased: %d item(s), %d file(s)", candidate_id, len(erasable), removed_files)
        return {
            "candidateId": candidate_id,
            "erased": {
                "profile": profile_rows.rowcount > 0,
                "items": [f"{r.kind} {r.business_id}" for r in erasable],
                "files": removed_files,
                "emails": email_rows,
                "contactAccess": access_rows,
            },
            "kept": {"unlocks": [r.business_id for r in items if r.kind == "unlock"]},
            "engine": {
                "processInstanceKeys": instance_keys,
                "note": "the engine keeps these instances' variables (name, email) in its history: "
                "delete them in Operate, or with POST /v2/process-instances/{key}/deletion (Camunda 8.9+)",
            },
        }

    def _candidate_items(self, candidate_id: str) -> list[BusinessRecord]:
        """The candidate's resumes, applications and unlocks, and the interviews of those applications."""
        with self.services.db.sessions() as session:
            items = _records_belonging_to(session, CANDIDATE_KINDS, candidate_id)
            for application in [r for r in items if r.kind == "application"]:
                application_id = application.business_id
                items += _records_belonging_to(session, ("interview",), application_id)
        return items

    def _file_held_by_others(self, ref: str, erased_ids: set[str]) -> bool:
        """Whether a resume outside ``erased_ids`` holds the file ``ref``."""
        with self.services.db.sessions() as session:
            holders = _records_mentioning(session, ("resume",), "file_ref", ref)
            holders += _records_mentioning(session, ("resume",), "text_ref", ref)
        return any(r.business_id not in erased_ids for r in holders)

    # -- status --

    def status(self, kind: str, business_id: str) -> dict[str, Any]:
        """The item's business status from the store, with the engine's view of its instance."""
        record = self._require(kind, business_id)
        instance_key = (record.details or {}).get("process_instance_key")
        engine: dict[str, Any] = {"processInstanceKey": instance_key, "state": None, "reachable": True}
        if instance_key:
            try:
                instance = self.gateway.instance_state(instance_key)
            except (EngineUnavailable, EngineRejected) as exc:  # the store answers without the engine
                log.warning("engine state of %s %s unavailable: %s", kind, business_id, exc)
                engine["reachable"] = False
            else:
                if instance:
                    engine["state"] = instance.get("state")
                    engine["hasIncident"] = bool(instance.get("hasIncident", False))
                    if engine["state"] == "ACTIVE":
                        waiting_at = self._waiting_at(instance_key, instance.get("processDefinitionId"))
                        if waiting_at is not None:
                            engine["waitingAt"] = waiting_at
                            self._add_failures(instance_key, waiting_at)
                    if engine["hasIncident"]:
                        incidents = self._open_incidents(instance_key)
                        if incidents is not None:
                            engine["incidents"] = incidents
            # Read the record again, after the engine: a step records its outcome before the
            # instance ends, so an instance seen ended has every outcome in the store by now.
            # The first read may predate both, and would turn "processed" into "ended".
            record = self._require(kind, business_id)
        details = dict(record.details or {})
        status = self._business_status(kind, business_id, record.status)
        if status == FIRST_STATUS[kind] and engine["state"] in ENDED_STATES:
            # The instance ended on a path that records no outcome (e.g. an unlock refunded).
            status = "ended"
        answer = {
            "kind": kind,
            "id": business_id,
            "status": status,
            "final": status in FINAL_STATUSES[kind],
            "updatedAt": record.updated_at.isoformat() + "Z",
            "details": {k: v for k, v in details.items() if k not in INTERNAL_DETAILS},
            "engine": engine,
        }
        if kind == "resume":
            answer["profile"] = self._search_profile(details.get("candidate_id"), business_id)
        if kind == "unlock":
            answer["contact"] = self._unlocked_contact(details) if status == "unlocked" else None
        if kind == "interview":
            answer["booking"] = self._booking(business_id)
        if kind == "application":
            answer["interviews"] = self._interviews_of(business_id)
        return answer

    def _search_profile(self, candidate_id: str | None, resume_id: str) -> dict[str, Any] | None:
        """What search knows of the candidate from this resume, while it is their latest one.

        The skills and experience read from it: what applications are scored on. Contact
        details stay out: those are what an unlock pays for.
        """
        if not candidate_id:
            return None
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None or candidate.resume_id != resume_id:
                return None
            return {"skills": list(candidate.skills), "yearsOfExperience": candidate.years_of_experience}

    def _interviews_of(self, application_id: str) -> list[dict[str, str]]:
        """The application's interviews, oldest first, each with its status as the store says."""
        with self.services.db.sessions() as session:
            records = _records_belonging_to(session, ("interview",), application_id)
            found = [
                {
                    "id": r.business_id,
                    "status": business_status(session, "interview", r.business_id, r.status),
                }
                for r in sorted(records, key=lambda r: ((r.details or {}).get("round", 0), r.updated_at))
            ]
        return found

    def _booking(self, interview_id: str) -> dict[str, Any] | None:
        """When the interview is, and with whom: its booking, booked or cancelled; None before one."""
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, interview_id)
        if booking is None:
            return None
        return {
            **Slot(booking.start, booking.end).as_variable(),
            "interviewers": list(booking.interviewer_ids),
            "status": booking.status,
        }

    def contact_for(self, candidate_id: str, employer_id: str) -> dict[str, Any]:
        """The candidate's contact details as the employer sees them once an unlock granted access.

        A 404 when it has none: never unlocked, not paid yet, or the candidate was erased
        (their access goes with them). Name and email are None for a candidate indexed
        before hireflow kept them.
        """
        with self.services.db.sessions() as session:
            access = session.get(ContactAccess, (employer_id, candidate_id))
            candidate = session.get(Candidate, candidate_id) if access is not None else None
        if access is None:
            raise Problem(
                404,
                "Not found",
                f"employer {employer_id} has no access to candidate {candidate_id}'s contact details; "
                "an unlock (POST /api/unlocks) grants it once paid",
            )
        return {
            "candidateId": candidate_id,
            "employerId": employer_id,
            "unlockId": access.unlock_id,
            "grantedAt": access.granted_at.isoformat() + "Z",
            "name": candidate.name if candidate else None,
            "email": candidate.email if candidate else None,
        }

    def contacts_of(
        self, employer_id: str, query: PageAfter, page_size: int = CONTACTS_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The contact details the employer's paid unlocks opened, by candidate id, a page at a time.

        As ``contact_for`` gives each one; an erased candidate is gone from the list (their
        access goes with them). Also the page's last candidate id when more follow.
        """
        found = (
            select(ContactAccess, Candidate)
            .outerjoin(Candidate, Candidate.candidate_id == ContactAccess.candidate_id)
            .where(ContactAccess.employer_id == employer_id)
            .order_by(ContactAccess.candidate_id)
            .limit(page_size + 1)
        )
        if query.after:
            found = found.where(ContactAccess.candidate_id > query.after)
        with self.services.db.sessions() as session:
            rows = session.execute(found).all()
        page, last = _one_page(rows, page_size)
        contacts = [
            {
                "candidateId": access.candidate_id,
                "employerId": access.employer_id,
                "unlockId": access.unlock_id,
                "grantedAt": access.granted_at.isoformat() + "Z",
                "name": candidate.name if candidate else None,
                "email": candidate.email if candidate else None,
            }
            for access, candidate in page
        ]
        return contacts, last.ContactAccess.candidate_id if last else None

    def _unlocked_contact(self, details: dict[str, Any]) -> dict[str, str | None] | None:
        """What the unlock paid for: the candidate's name and email, while the employer has access.

        None once the candidate was erased (their access goes with them).
        """
        employer_id, candidate_id = details.get("employer_id"), details.get("candidate_id")
        if not employer_id or not candidate_id:  # recorded by a step before the webapp's request
            return None
        with self.services.db.sessions() as session:
            if session.get(ContactAccess, (employer_id, candidate_id)) is None:
                return None
            candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            return None
        return {"name": candidate.name, "email": candidate.email}

    def retry_incident(self, kind: str, business_id: str, incident_key: str) -> None:
        """Retry the step an incident stopped, as Operate's retry does: one more try, then resolve.

        The incident must be one of this item's instance; the failure policy's message in it
        says what to fix first.
        """
        record = self._require(kind, business_id)
        instance_key = (record.details or {}).get("process_instance_key")
        incidents = self._open_incidents(instance_key) if instance_key else []
        if incidents is None:
            raise engine_unavailable("reading the incidents failed")
        found = [i for i in incidents if i["incidentKey"] == incident_key]
        if not found:
            raise Problem(
                404, "No such incident", f"{kind} {business_id} has no open incident {incident_key}"
            )
        retry_incident(self.gateway.client, incident_key, found[0].get("jobKey"))
        log.info("incident %s of %s %s retried from the console", incident_key, kind, business_id)

    def _open_incidents(self, instance_key: str) -> list[dict[str, str]] | None:
        """The instance's unresolved incidents, as an operator reads them; None when the engine cannot say."""
        try:
            found = call_engine(
                "reading an instance's incidents",
                self.gateway.client.search_incidents,
                processInstanceKey=instance_key,
                state="ACTIVE",
            )
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("incidents of instance %s unavailable: %s", instance_key, exc)
            return None
        return [
            {
                "incidentKey": str(i["incidentKey"]),
                "elementId": i.get("elementId", ""),
                "errorType": i.get("errorType", ""),
                "errorMessage": i.get("errorMessage", ""),
                "jobKey": str(i["jobKey"]) if i.get("jobKey") is not None else "",
            }
            for i in found
        ]

    def item_of_instance(self, instance_key: str) -> tuple[str, str] | None:
        """``(kind, business id)`` of the item whose process instance this is, if hireflow started it."""
        with self.services.db.sessions() as session:
            found = _records_mentioning(session, tuple(KINDS), "process_instance_key", str(instance_key))
        return (found[0].kind, found[0].business_id) if found else None

    def _waiting_at(self, instance_key: str, process_id: str | None) -> list[dict[str, str]] | None:
        """Where the instance is now (a task, a wait for a message or a timer), by the model's names.

        None when the engine cannot say right now: the status answers without it.
        """
        try:
            elements = self.gateway.active_elements(instance_key)
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("active elements of instance %s unavailable: %s", instance_key, exc)
            return None
        names = bundled_element_names()
        waiting_at: dict[str, dict[str, str]] = {}
        for e in elements:  # a multi-instance task is active once per instance: named once
            waiting_at.setdefault(
                e["elementId"],
                {
                    "elementId": e["elementId"],
                    # The cluster names elements itself; the embedded engine's records do not.
                    "name": e.get("elementName")
                    or names.get((e.get("processDefinitionId") or process_id, e["elementId"]))
                    or e["elementId"],
                    "type": e.get("type", ""),
                },
            )
        return list(waiting_at.values())

    def _add_failures(self, instance_key: str, waiting_at: list[dict[str, Any]]) -> None:
        """Mark the steps whose job failed and waits out its backoff before the next try.

        Until its retries run out such a step is no incident, yet the item may sit there for
        minutes: ``failing`` says why (the failure policy's message) and how many tries are
        left. Left out when the engine cannot say: the status answers without it.
        """
        if all(element["type"] in WAITING_ELEMENT_TYPES for element in waiting_at):
            return  # no step runs a job: nothing can be failing
        try:
            failing = self.gateway.failing_jobs(instance_key)
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("failing jobs of instance %s unavailable: %s", instance_key, exc)
            return
        by_element = {job.get("elementId"): job for job in failing}
        for element in waiting_at:
            job = by_element.get(element["elementId"])
            if job is not None:
                element["failing"] = {
                    "retriesLeft": int(job.get("retries") or 0),
                    "errorMessage": job.get("errorMessage") or "",
                }

    def recent_items(self, limit: int = 30) -> list[ItemSummary]:
        """The most recently changed items, for the UI, with the status ``status()`` gives.

        Without the engine's view (one call per line would be too slow), so an item whose
        instance ended on a path that records no outcome shows its first status here.
        """
        return self.find_items(limit=limit)[0]

    def list_items(self, query: ItemQuery) -> tuple[list[ItemSummary], ItemCursor | None]:
        """``find_items`` for a checked query; a 400 for an ``after`` no page gave."""
        return self.find_items(
            kind=query.kind,
            state=query.state,
            query=query.q,
            oldest_first=query.order == "oldest",
            after=_items_cursor(query.after),
        )

    def find_items(
        self,
        *,
        kind: str | None = None,
        state: str = "any",
        query: str | None = None,
        oldest_first: bool = False,
        after: ItemCursor | None = None,
        limit: int = ITEMS_PER_PAGE,
    ) -> tuple[list[ItemSummary], ItemCursor | None]:
        """A page of items, newest change first, and the cursor of the next page (None: last page).

        ``kind`` keeps one kind; ``state`` keeps the ``open`` ones (their recorded status is
        not final) or the ``final`` ones; ``query`` keeps the item with that id and the
        items that belong to it (a candidate's resumes, applications and unlocks, an
        application's interviews, found through the indexed ``belongs_to``; a posting's
        applications, through ``posting_id``); ``oldest_first`` turns the order round.
        """
        statement = select(BusinessRecord)
        if query:
            # The kinds spelled out, so the id is looked up through the primary key (kind, id).
            by_id = BusinessRecord.kind.in_(sorted(KINDS)) & (BusinessRecord.business_id == query)
            statement = statement.where(
                or_(by_id, BusinessRecord.belongs_to == query, BusinessRecord.posting_id == query)
            )
        rows, next_page = self._record_page(statement, kind, state, oldest_first, after, limit)
        page = [
            ItemSummary(
                r.kind,
                r.business_id,
                self._business_status(r.kind, r.business_id, r.status),
                r.updated_at,
                r.belongs_to,
            )
            for r in rows
        ]
        return page, next_page

    def posting_applications(
        self, posting_id: str, paging: ItemPaging
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The applications to a posting, newest change first, a page at a time, for its employer.

        Each with its status, the score and skills its routing read (once scored), and whether
        the posting's employer may see the candidate's contact details (which an unlock pays
        for, and which are never given here). An erased candidate's applications are gone
        from the list. Also the next page's cursor; a 404 for a posting not on file.
        """
        with self.services.db.sessions() as session:
            employer_id = _posting_on_file(session, posting_id).employer_id
        statement = select(BusinessRecord).where(BusinessRecord.posting_id == posting_id)
        rows, next_page = self._record_page(
            statement, "application", paging.state, paging.order == "oldest", _items_cursor(paging.after)
        )
        candidates = {(r.details or {}).get("candidate_id") for r in rows}
        with self.services.db.sessions() as session:
            unlocked = set(
                session.scalars(
                    select(ContactAccess.candidate_id).where(
                        ContactAccess.employer_id == employer_id, ContactAccess.candidate_id.in_(candidates)
                    )
                )
            )
        applications = []
        for record in rows:
            details = record.details or {}
            applications.append(
                {
                    "applicationId": record.business_id,
                    "candidateId": details.get("candidate_id"),
                    "status": self._business_status("application", record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "matchScore": details.get("match_score"),
                    "matchedSkills": list(details.get("matched_skills") or []),
                    "contactUnlocked": details.get("candidate_id") in unlocked,
                }
            )
        return applications, str(next_page) if next_page else None

    def employer_unlocks(
        self, employer_id: str, paging: ItemPaging
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The employer's unlocks, newest change first, a page at a time, for its own pages.

        Each with its status and what an open one waits for from the employer: a payment
        to approve with their bank (``paymentToApprove``: see ``approve_payment``), or a
        new card after ``cardDeclined``; and how an unlocked one was paid, or what was
        refunded. Never the candidate's contact details (see ``contacts_of``). Also the
        next page's cursor; an employer with no unlocks has an empty list.
        """
        statement = select(BusinessRecord).where(BusinessRecord.employer_id == employer_id)
        rows, next_page = self._record_page(
            statement, "unlock", paging.state, paging.order == "oldest", _items_cursor(paging.after)
        )
        unlocks = []
        for record in rows:
            details = record.details or {}
            still_open = record.status not in FINAL_STATUSES["unlock"]
            unlocks.append(
                {
                    "unlockId": record.business_id,
                    "candidateId": details.get("candidate_id"),
                    "status": self._business_status("unlock", record.business_id, record.status),
                    "updatedAt": record.updated_at.isoformat() + "Z",
                    "paymentToApprove": details.get("card_needs_authentication") if still_open else None,
                    "cardDeclined": details.get("card_declined") if still_open else None,
                    "paid": details.get("paid"),
                    "refunded": details.get("refunded"),
                }
            )
        return unlocks, str(next_page) if next_page else None

    def _record_page(
        self,
        statement: Select,
        kind: str | None,
        state: str,
        oldest_first: bool,
        after: ItemCursor | None,
        limit: int = ITEMS_PER_PAGE,
    ) -> tuple[list[BusinessRecord], ItemCursor | None]:
        """A page of the records ``statement`` selects, with the filters and order of a list of items.

        ``kind`` keeps one kind; ``state`` keeps the ``open`` ones (their recorded status is
        not final) or the ``final`` ones. Pages are cut after the last line's (updated_at,
        kind, id), so a page stays right while items change.
        """
        if kind is not None:
            statement = statement.where(BusinessRecord.kind == kind)
        if state in ("open", "final"):
            final = or_(
                *(
                    (BusinessRecord.kind == each) & BusinessRecord.status.in_(sorted(FINAL_STATUSES[each]))
                    for each in ([kind] if kind else KINDS)
                )
            )
            statement = statement.where(final if state == "final" else ~final)
        line = (BusinessRecord.updated_at, BusinessRecord.kind, BusinessRecord.business_id)
        if after is not None:
            cut = tuple_(after.updated_at, after.kind, after.business_id)
            statement = statement.where(tuple_(*line) > cut if oldest_first else tuple_(*line) < cut)
        order = [column.asc() if oldest_first else column.desc() for column in line]
        with self.services.db.sessions() as session:
            rows = list(session.scalars(statement.order_by(*order).limit(limit + 1)))
        kept, last = _one_page(rows, limit)
        return kept, (ItemCursor(last.updated_at, last.kind, last.business_id) if last else None)

    def open_postings(
        self, limit: int = CHOICES_SHOWN, including: str | None = None
    ) -> tuple[list[JobPosting], bool]:
        """The first ``limit`` postings that take applications, by title, as a form's list
        offers them, and whether more were left out.

        ``including`` (the posting a link or a refused form names) is among them when it is
        open, wherever its title falls.
        """
        open_ones = select(JobPosting).where(JobPosting.open.is_(True))
        by_title = (JobPosting.title, JobPosting.posting_id)
        with self.services.db.sessions() as session:
            rows = list(session.scalars(open_ones.order_by(*by_title).limit(limit + 1)))
            wanted = None
            if including:
                wanted = session.scalars(open_ones.where(JobPosting.posting_id == including)).first()
        return _choices(rows, limit, wanted, key=lambda posting: (posting.title, posting.posting_id))

    def fitting_postings(self, candidate_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The open postings that fit the candidate best, with why: best score first.

        A posting fits when it requires a skill the candidate has, or requires none. Each is
        scored as resume-submission scores an application (``hireflow.matching``), on the
        skills and years read from the candidate's latest resume; ties by posting id. A 404
        for a candidate without a processed resume: there is nothing to score.
        """
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None:
                raise Problem(
                    404,
                    "Not found",
                    f"candidate {candidate_id} has no processed resume to match postings with",
                )
            skills, years = list(candidate.skills), candidate.years_of_experience
            # Requires a skill the candidate has, or requires none: any other is no fit,
            # whatever its score.
            required = PostingSkill.posting_id == JobPosting.posting_id, PostingSkill.required.is_(True)
            fits = or_(
                exists().where(*required, PostingSkill.skill.in_(skills)),
                ~exists().where(*required),
            )
            # Plain rows, not ORM objects: at 10,000 open postings that took 0.6 s, this 0.2 s.
            postings = session.execute(
                select(
                    JobPosting.posting_id,
                    JobPosting.title,
                    JobPosting.employer_id,
                    JobPosting.required_skills,
                    JobPosting.nice_to_have_skills,
                    JobPosting.min_years,
                ).where(JobPosting.open.is_(True), fits)
            ).all()
        scored = []
        for posting in postings:
            asks = Requirements(
                list(posting.required_skills or []),
                list(posting.nice_to_have_skills or []),
                posting.min_years,
            )
            scored.append((posting, score_match(skills, years, asks)))
        scored.sort(key=lambda pair: (-pair[1].score, pair[0].posting_id))
        return [
            {
                "postingId": posting.posting_id,
                "title": posting.title,
                "employerId": posting.employer_id,
                **_why_it_fits(result),
            }
            for posting, result in scored[:limit]
        ]

    def fitting_candidates(self, posting_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The candidates who fit a posting best, with why: best score first.

        A candidate fits when they have a skill the posting requires (any candidate, for a
        posting that requires none). Each is scored as an application of theirs to it would
        be (``hireflow.matching``), on the skills and years read from their latest resume;
        ties by candidate id. Never with contact details: those are what an unlock pays for.
        A 404 for a posting not on file.
        """
        with self.services.db.sessions() as session:
            posting = _posting_on_file(session, posting_id)
            asks = Requirements(
                list(posting.required_skills or []),
                list(posting.nice_to_have_skills or []),
                posting.min_years,
            )
            best = _best_scored_candidates(session, asks, limit)
            profiles = session.scalars(select(Candidate).where(Candidate.candidate_id.in_(best)))
            why = {
                candidate.candidate_id: {
                    "candidateId": candidate.candidate_id,
                    "yearsOfExperience": candidate.years_of_experience,
                    **_why_it_fits(score_match(list(candidate.skills), candidate.years_of_experience, asks)),
                }
                for candidate in profiles
            }
        return [why[candidate_id] for candidate_id in best]

    def standing_applications(self, candidate_id: str) -> dict[str, dict[str, str]]:
        """The candidate's applications not over for good, by posting id: each one's id and status.

        What a new application to the posting would answer with instead of starting one.
        """
        standing: dict[str, dict[str, str]] = {}
        with self.services.db.sessions() as session:
            records = _records_belonging_to(session, ("application",), candidate_id)
            for record in sorted(records, key=lambda r: r.updated_at):  # the latest attempt wins
                posting_id = (record.details or {}).get("posting_id")
                status = business_status(session, "application", record.business_id, record.status)
                if posting_id and status not in OVER_FOR_GOOD["application"]:
                    standing[posting_id] = {"id": record.business_id, "status": status}
                elif posting_id:
                    standing.pop(posting_id, None)
        return standing

    def open_postings_page(
        self, query: PostingSearch, page_size: int = POSTINGS_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The open postings by id, a page at a time, as a job board shows them (``_as_listed``).

        Also the id of the page's last posting when more follow: the next page's cursor.
        """
        found = select(JobPosting).where(JobPosting.open.is_(True)).order_by(JobPosting.posting_id)
        for skill in query.skill_names():
            of_posting = PostingSkill.posting_id == JobPosting.posting_id
            found = found.where(exists().where(of_posting, PostingSkill.skill == skill))
        if query.after:
            found = found.where(JobPosting.posting_id > query.after)
        with self.services.db.sessions() as session:
            rows = list(session.scalars(found.limit(page_size + 1)))
        page, last = _one_page(rows, page_size)
        return [_as_listed(posting) for posting in page], last.posting_id if last else None

    def postings_with_applications(
        self, query: EmployerPostingsQuery, employer_id: str | None = None, page_size: int = POSTINGS_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The postings by id (the employer's, if given), open or closed, a page at a time, each
        with its applications counted by status (as recorded; an erased candidate's are not
        counted).

        Also the id of the page's last posting when more follow: the next page's cursor.
        """
        found = select(JobPosting).order_by(JobPosting.posting_id)
        if employer_id is not None:
            found = found.where(JobPosting.employer_id == employer_id)
        if query.state != "any":
            found = found.where(JobPosting.open.is_(query.state == "open"))
        if query.after:
            found = found.where(JobPosting.posting_id > query.after)
        with self.services.db.sessions() as session:
            page, last = _one_page(list(session.scalars(found.limit(page_size + 1))), page_size)
            counted = session.execute(
                select(BusinessRecord.posting_id, BusinessRecord.status, func.count())
                .where(
                    BusinessRecord.posting_id.in_([posting.posting_id for posting in page]),
                    BusinessRecord.kind == "application",
                )
                .group_by(BusinessRecord.posting_id, BusinessRecord.status)
            ).all()
        by_status: dict[str, dict[str, int]] = {posting.posting_id: {} for posting in page}
        for posting_id, status, count in counted:
            by_status[posting_id][status] = count
        postings = [
            {
                **_as_listed(posting),
                "open": posting.open,
                "applications": {
                    "total": sum(by_status[posting.posting_id].values()),
                    "byStatus": dict(sorted(by_status[posting.posting_id].items())),
                },
            }
            for posting in page
        ]
        return postings, last.posting_id if last else None

    def posting(self, posting_id: str) -> dict[str, Any]:
        """One posting as a job board shows it, open or closed (``open`` says which); a 404 for
        one not on file."""
        with self.services.db.sessions() as session:
            posting = _posting_on_file(session, posting_id)
        return {**_as_listed(posting), "open": posting.open}

    def _contact_on_file(self, candidate_id: str | None) -> dict[str, str | None]:
        """A candidate's name and email as their latest resume gave them (None where it gave none)."""
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id) if candidate_id else None
        if candidate is None:
            return {}
        return {"candidate_name": candidate.name, "candidate_email": candidate.email}

    def employers(
        self, limit: int = CHOICES_SHOWN, including: str | None = None
    ) -> tuple[list[tuple[Employer, int]], bool]:
        """The first ``limit`` employers by id, each with their credit balance, as a form's
        list offers them, and whether more were left out; ``including`` (the employer a link
        or a refused form names) is among them when on file."""
        with_balance = select(Employer, CreditAccount.balance).outerjoin(
            CreditAccount, CreditAccount.employer_id == Employer.employer_id
        )
        with self.services.db.sessions() as session:
            rows = session.execute(with_balance.order_by(Employer.employer_id).limit(limit + 1))
            wanted = None
            if including:
                wanted = session.execute(with_balance.where(Employer.employer_id == including)).first()
            employers, more = _choices(
                [tuple(row) for row in rows],
                limit,
                tuple(wanted) if wanted else None,
                key=lambda row: row[0].employer_id,
            )
        return [(employer, balance or 0) for employer, balance in employers], more

    def interviewers(self, limit: int = CHOICES_SHOWN) -> tuple[list[Interviewer], bool]:
        """The first ``limit`` interviewers on file by username, and whether more were left out."""
        with self.services.db.sessions() as session:
            rows = list(session.scalars(select(Interviewer).order_by(Interviewer.username).limit(limit + 1)))
        return rows[:limit], len(rows) > limit

    def search_candidates(
        self, query: CandidateSearch, page_size: int = CANDIDATES_PAGE
    ) -> tuple[list[dict[str, Any]], CandidateCursor | None]:
        """Candidates with every skill asked for and the experience, most experienced first.

        Each as search knows them (skills, years of experience from their latest resume),
        never with contact details: those are what an unlock pays for. A page at a time,
        cut after the last candidate's (years, id): the next page's cursor when more follow.
        A resume that gave no years counts as none.
        """
        line = (CANDIDATE_EXPERIENCE, Candidate.candidate_id)  # ix_candidates_experience
        found = select(Candidate).order_by(*(column.desc() for column in line)).limit(page_size + 1)
        for skill in query.skill_names():
            of_candidate = CandidateSkill.candidate_id == Candidate.candidate_id
            found = found.where(exists().where(of_candidate, CandidateSkill.skill == skill))
        if query.min_years:
            found = found.where(Candidate.years_of_experience >= query.min_years)
        after = _candidates_cursor(query.after)
        if after is not None:
            found = found.where(tuple_(*line) < tuple_(after.years, after.candidate_id))
        with self.services.db.sessions() as session:
            rows = list(session.scalars(found))
        page, last = _one_page(rows, page_size)
        answers = [
            {
                "candidateId": candidate.candidate_id,
                "skills": list(candidate.skills),
                "yearsOfExperience": candidate.years_of_experience,
            }
            for candidate in page
        ]
        return answers, (CandidateCursor(last.years_of_experience or 0, last.candidate_id) if last else None)

    def recent_candidates(self, limit: int = 20) -> list[Candidate]:
        """The most recently indexed candidates: the ones an employer can unlock."""
        with self.services.db.sessions() as session:
            return list(session.scalars(select(Candidate).order_by(Candidate.indexed_at.desc()).limit(limit)))

    def open_applications(self, limit: int = 20) -> list[ApplicationSummary]:
        """The most recent applications an interview can be scheduled for (shortlisted or in screening)."""
        with self.services.db.sessions() as session:
            rows = session.scalars(
                select(BusinessRecord)
                .where(
                    BusinessRecord.kind == "application",
                    BusinessRecord.status.in_(("shortlisted", "submitted")),
                )
                .order_by(BusinessRecord.updated_at.desc())
                .limit(limit)
            )
            return [
                ApplicationSummary(r.business_id, (r.details or {}).get("candidate_id", ""), r.status)
                for r in rows
            ]

    # -- helpers --

    def _accepted(self, kind: str, business_id: str, started, details: dict) -> Accepted:
        """Record the item and its first status; a status a process step wrote already stays."""
        details = {**details, "process_instance_key": started.process_instance_key}
        for _ in range(2):  # a worker may insert the same row between our read and write
            try:
                with self.services.db.sessions.begin() as session:
                    record = session.get(BusinessRecord, (kind, business_id))
                    if record is None:
                        session.add(
                            BusinessRecord(
                                kind=kind,
                                business_id=business_id,
                                status=FIRST_STATUS[kind],
                                details=details,
                                updated_at=utcnow(),
                            )
                        )
                    elif record.status == ERASED:  # the candidate asked again after an erasure
                        record.status = FIRST_STATUS[kind]
                        record.details = details
                        record.updated_at = utcnow()
                    else:
                        record.details = {**details, **(record.details or {})}
                break
            except IntegrityError:
                continue
        return Accepted(kind, business_id, started.process_instance_key, started.created)

    def _business_status(self, kind: str, business_id: str, recorded: str) -> str:
        """The recorded status, refined by facts the processes keep outside ``business_records``."""
        with self.services.db.sessions() as session:
            return business_status(session, kind, business_id, recorded)

    def _change_status(self, kind: str, business_id: str, expected: str, status: str) -> bool:
        """Set an item's status, for an outcome no process records, if it is still ``expected``.

        One conditional update, so of two requests at once exactly one changes it (True).
        """
        with self.services.db.sessions.begin() as session:
            changed = session.execute(
                update(BusinessRecord)
                .where(
                    BusinessRecord.kind == kind,
                    BusinessRecord.business_id == business_id,
                    BusinessRecord.status == expected,
                )
                .values(status=status, updated_at=utcnow())
            )
            return changed.rowcount == 1

    def _record(self, kind: str, business_id: str) -> BusinessRecord | None:
        with self.services.db.sessions() as session:
            return session.get(BusinessRecord, (kind, business_id))

    def _require(self, kind: str, business_id: str, *, field: str | None = None, status: int = 404):
        record = self._record(kind, business_id)
        if record is None:
            if field:
                raise invalid_field(field, f"no {kind} {business_id}", status=status)
            raise Problem(404, f"No such {kind}", f"there is no {kind} {business_id}")
        return record


def _like(value: str) -> str:
    """``value`` for a LIKE pattern, its wildcards taken literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _best_scored_candidates(session: Session, asks: Requirements, limit: int) -> list[str]:
    """The ids of the ``limit`` candidates who score best against ``asks``, best first, ties by
    id; only candidates with a required skill (any, when none is required).

    Scored from counts of matching skill rows, as ``score_match`` would score them: reading
    every candidate's skills took 1.0 to 1.5 s at 50,000 candidates, this 0.15 to 0.25 s.
    """
    required, nice = asked_skills(asks)
    had = (
        select(
            CandidateSkill.candidate_id,
            func.sum(case((CandidateSkill.skill.in_(required), 1), else_=0)).label("required"),
            func.sum(case((CandidateSkill.skill.in_(nice), 1), else_=0)).label("nice"),
        )
        .where(CandidateSkill.skill.in_(required + nice))
        .group_by(CandidateSkill.candidate_id)
        .subquery()
    )
    counted = select(
        Candidate.candidate_id,
        Candidate.years_of_experience,
        func.coalesce(had.c.required, 0),
        func.coalesce(had.c.nice, 0),
    ).outerjoin(had, had.c.candidate_id == Candidate.candidate_id)
    if required:
        counted = counted.where(had.c.required > 0)

    def best_first(row) -> tuple[int, str]:
        candidate_id, years, required_had, nice_had = row
        meets = (years or 0) >= asks.min_years
        return -weighted_score(required_had, len(required), nice_had, len(nice), meets), candidate_id

    return [
        candidate_id for _, candidate_id in heapq.nsmallest(limit, map(best_first, session.execute(counted)))
    ]


def _posting_on_file(session: Session, posting_id: str) -> JobPosting:
    """The posting ``posting_id``, or a 404 naming it."""
    posting = session.get(JobPosting, posting_id)
    if posting is None:
        raise Problem(404, "Not found", f"no job posting {posting_id}")
    return posting


def _as_listed(posting: JobPosting) -> dict[str, Any]:
    """A posting as a job board shows it: what it asks for, not who screens it (the recruiters'
    email stays inside)."""
    return {
        "postingId": posting.posting_id,
        "employerId": posting.employer_id,
        "title": posting.title,
        "requiredSkills": list(posting.required_skills or []),
        "niceToHaveSkills": list(posting.nice_to_have_skills or []),
        "minYears": posting.min_years,
    }


def _why_it_fits(result: MatchResult) -> dict[str, Any]:
    """A match's score and the facts behind it, as the API gives them."""
    return {
        "score": result.score,
        "matchedSkills": result.matched_skills,
        "missingSkills": result.missing_skills,
        "matchedNiceToHave": result.matched_nice_to_have,
        "meetsExperience": result.meets_experience,
    }


def _items_cursor(after: str | None) -> ItemCursor | None:
    """The cursor a page of items gave as ``after``; a 400 for anything else."""
    try:
        return ItemCursor.parse(after) if after else None
    except ValueError as exc:
        raise invalid_field("after", "a next cursor as a page of items gave it") from exc


def _candidates_cursor(after: str | None) -> CandidateCursor | None:
    """The cursor a page of found candidates gave as ``after``; a 400 for anything else."""
    try:
        return CandidateCursor.parse(after) if after else None
    except ValueError as exc:
        raise invalid_field("after", "a next cursor as a page of candidates gave it") from exc


def _choices(rows: list[Row], limit: int, wanted: Row | None, key) -> tuple[list[Row], bool]:
    """The first ``limit`` of ``rows`` (read with a limit of ``limit + 1``), with ``wanted``
    added in its place by ``key`` when it is not among them, and whether rows were left out."""
    shown = rows[:limit]
    if wanted and all(key(row) != key(wanted) for row in shown):
        shown = sorted([*shown, wanted], key=key)
    return shown, len(rows) > limit


def _one_page(rows: list[Row], size: int) -> tuple[list[Row], Row | None]:
    """The first ``size`` of ``rows`` (read with a limit of ``size + 1``), and the last of them
    when more follow: what the next page's cursor is made of."""
    page = rows[:size]
    return page, (page[-1] if len(rows) > size else None)


def _records_belonging_to(session, kinds: tuple[str, ...], owner: str) -> list[BusinessRecord]:
    """Records of ``kinds`` that belong to ``owner``: a candidate's items, an application's interviews.

    By the indexed ``belongs_to`` column, which the store keeps from the details on every
    write. A release before it (migration 0005) still running during a rolling update
    inserts records without it; those few, with the erased ones, are read by their details.
    """
    # Two queries, not one with OR, and the second without the kind (which the planner
    # would prefer to scan by): each is then a lookup in the column's index.
    owned = session.scalars(
        select(BusinessRecord).where(BusinessRecord.kind.in_(kinds), BusinessRecord.belongs_to == owner)
    ).all()
    unowned = session.scalars(
        select(BusinessRecord).where(
            BusinessRecord.belongs_to.is_(None),
            cast(BusinessRecord.details, String).like(f"%{_like(owner)}%", escape="\\"),
        )
    )
    return [*owned, *(r for r in unowned if r.kind in kinds and owner_in(r.kind, r.details) == owner)]


def _records_mentioning(session, kinds: tuple[str, ...], field: str, value: str) -> list[BusinessRecord]:
    """Records of ``kinds`` whose details say ``field: value``.

    The JSON text is searched first, so the database narrows it down; the details decide.
    """
    rows = session.scalars(
        select(BusinessRecord).where(
            BusinessRecord.kind.in_(kinds),
            cast(BusinessRecord.details, String).like(f"%{_like(value)}%", escape="\\"),
        )
    )
    return [r for r in rows if (r.details or {}).get(field) == value]


def _emails_of(business_ids: list[str]):
    """The condition on outbox entries of these items' emails (a dedupe key reads template:
    business id:element instance)."""
    return or_(*(EmailOutboxEntry.dedupe_key.like(f"%:{_like(i)}:%", escape="\\") for i in business_ids))


def _delete_outbox_entries(session, business_ids: list[str]) -> int:
    """Remove the outbox entries (recipient addresses) of these items' emails; how many."""
    if not business_ids:
        return 0
    return session.execute(delete(EmailOutboxEntry).where(_emails_of(business_ids))).rowcount


def _outbox_entries(session, business_ids: list[str], recipient: str | None) -> list[EmailOutboxEntry]:
    """The outbox entries of these items' emails to ``recipient``, oldest first (none without one)."""
    if not business_ids or not recipient:
        return []
    found = select(EmailOutboxEntry).where(_emails_of(business_ids), EmailOutboxEntry.recipient == recipient)
    return list(session.scalars(found.order_by(EmailOutboxEntry.first_tried_at, EmailOutboxEntry.dedupe_key)))


def _file_refs(details: dict | None) -> list[str]:
    return [ref for ref in ((details or {}).get("file_ref"), (details or {}).get("text_ref")) if ref]
