"""The "record the outcome" steps: write a business status people can ask for.

One job type per process, the status chosen per task by the ``outcome`` header, so an
analyst adds a new outcome in the Modeler without code.
"""

from datetime import UTC, datetime
from typing import Any

from pyzeebe import Job
from sqlalchemy.exc import IntegrityError

from hireflow.constants import Header, Var
from hireflow.errors import PermanentFailure
from hireflow.store import ERASED, BusinessRecord, Database, locked_record, utcnow

# The interview's detail for the slot the candidate chose from the latest offer: the
# webapp refuses another time while it is being booked; a new offer forgets it.
SLOT_CHOSEN = "slot_chosen"
# An interview's times offered in the latest email: a link from an earlier one is refused.
OFFERED_SLOTS = "offered_slots"
# The time the candidate chose that was taken before it could be booked, while the offer made
# since is the latest: its link's page says so, not that it came from an earlier email.
SLOT_LOST = "slot_lost"
# The first time of the offer the candidate asked other times for: the webapp refuses a
# choice from it meanwhile (and a second ask); a new offer forgets it.
OTHER_TIMES_ASKED = "other_times_asked"
# How many offers the candidate turned down, as the latest offer's search counted them (the
# process variable offers_declined holds the offers themselves); the follow-up form's name.
OFFERS_DECLINED_COUNT = Var.OFFERS_TURNED_DOWN
# When the webapp took a resume's file (UTC, "...Z"): a resume indexed after a newer one
# of the same candidate leaves that one's profile alone.
UPLOADED_AT = "uploaded_at"


def upload_moment(details: dict) -> datetime | None:
    """When a resume was uploaded, as its record's details say (``UPLOADED_AT``), in naive
    UTC as the store keeps times; None when they say no moment, or nothing."""
    value = details.get(UPLOADED_AT)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None)


def recorded_details(db: Database, kind: str, business_id: str) -> dict:
    """The details of a business object's record; empty if there is none, or it was erased."""
    with db.sessions() as session:
        row = session.get(BusinessRecord, (kind, business_id))
        return dict(row.details or {}) if row is not None and row.status != ERASED else {}


def outcome_header(job: Job) -> str:
    """The status the task records; a task without it is a modelling error an operator must fix."""
    outcome = (job.custom_headers or {}).get(Header.OUTCOME)
    if not outcome:
        raise PermanentFailure(
            f"Task '{job.element_id}' lacks the '{Header.OUTCOME}' header; set it in the Modeler"
        )
    return outcome


def a_persons_decision(decision: str | None, note: str | None) -> dict | None:
    """What a user task decided, with the note given for it (trimmed; left out when empty).

    None when the task did not run (no decision): the record then says nothing of it.
    """
    if not decision:
        return None
    decided = {"decision": decision}
    if note and note.strip():
        decided["note"] = note.strip()
    return decided


def check_as_recorded(db: Database, kind: str, business_id: str, **named: str | None) -> None:
    """Refuse a step whose instance names other parties than its business object's record.

    The webapp records who asked (``employer_id``, ``candidate_id``...) when it starts the
    instance, and the business id derives from them. A variable set since to another value
    (by hand in Operate, or by an admin start) would move money or grant access for a
    request nobody made: a permanent failure that says which value the record holds. A
    record that does not name a party (not written yet, or from an admin start), or a
    variable left out, is not checked.
    """
    recorded = recorded_details(db, kind, business_id)
    for variable, value in named.items():
        expected = recorded.get(variable)
        if value is not None and expected and value != expected:
            raise PermanentFailure(
                f"{kind.capitalize()} {business_id} was asked for with {variable} '{expected}', "
                f"but the instance names '{value}'; set {variable} back to '{expected}', then retry"
            )


def record_status(
    db: Database, kind: str, business_id: str, status: str, details: dict | None = None
) -> None:
    """Upsert the status of one business object (safe to repeat)."""
    _upsert(db, kind, business_id, details or {}, status=status)


def record_details(
    db: Database,
    kind: str,
    business_id: str,
    first_status: str,
    forget: tuple[str, ...] = (),
    **details: Any,
) -> None:
    """Add ``details`` to a business object's record, and drop those named in ``forget``
    that no longer hold (safe to repeat).

    The webapp writes the record when it accepts the request; a worker can get there
    first, so the record is created with ``first_status`` if it is missing.
    """
    _upsert(db, kind, business_id, details, first_status=first_status, forget=forget)


def _upsert(
    db: Database,
    kind: str,
    business_id: str,
    details: dict,
    *,
    status: str | None = None,
    first_status: str = "",
    forget: tuple[str, ...] = (),
) -> None:
    """Merge ``details`` into the record, without those named in ``forget``, and set
    ``status`` if given.

    A missing record, or one whose candidate was erased (a new request for the same id
    after the erasure), starts clean with ``status`` or else ``first_status``.
    """
    for attempt in (1, 2):
        try:
            with db.sessions.begin() as session:
                row = locked_record(session, kind, business_id)
                if row is None or row.status == ERASED:
                    row = row or BusinessRecord(kind=kind, business_id=business_id)
                    row.status, row.details, row.updated_at = first_status, {}, utcnow()
                if status is not None:
                    row.status, row.updated_at = status, utcnow()
                kept = {name: value for name, value in (row.details or {}).items() if name not in forget}
                row.details = {**kept, **details}
                session.add(row)
            return
        except IntegrityError:
            # The webapp accepting the request (or this job, delivered twice) inserted the
            # record between our read and our insert: merge into that one instead of
            # failing the job and waiting out a retry backoff for nothing.
            if attempt == 2:
                raise
