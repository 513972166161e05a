"""The business items hireflow keeps (one per process instance it started): their kinds,
statuses and ids, and the store queries that find them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from hireflow.constants import ProcessId
from hireflow.store import ERASED, BusinessRecord, CalendarBooking, ContactAccess, instance_in, owner_in

Row = TypeVar("Row")


# The kinds of business item people ask about, with the process that handles each.
KINDS = {
    "resume": ProcessId.RESUME_UPLOAD,
    "application": ProcessId.RESUME_SUBMISSION,
    "unlock": ProcessId.RESUME_UNLOCK,
    "interview": ProcessId.INTERVIEW_SCHEDULING,
}
KIND_OF_PROCESS = {process_id: kind for kind, process_id in KINDS.items()}
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
# Kept with an item for hireflow's own use (the engine link, an erasure's file list, where a
# panelist's reschedule page gives times), not shown.
INTERNAL_DETAILS = {"process_instance_key", "file_ref", "text_ref", "panel_timezones"}
# Instance states after which an item's status can no longer change.
ENDED_STATES = {"COMPLETED", "TERMINATED", "CANCELED"}
FIRST_STATUS = {
    "resume": "received",
    "application": "submitted",
    "unlock": "requested",
    "interview": "requested",
}


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


def derived_id(prefix: str, *parts: str) -> str:
    """A stable id for a business key: the same request always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{prefix}_{digest}"


@dataclass(frozen=True)
class Accepted:
    """A request the engine took: the item's id, its instance, and whether it is new."""

    kind: str
    business_id: str
    process_instance_key: str
    created: bool


def literal_like(value: str) -> str:
    """``value`` for a LIKE pattern, its wildcards taken literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def one_page(rows: list[Row], size: int) -> tuple[list[Row], Row | None]:
    """The first ``size`` of ``rows`` (read with a limit of ``size + 1``), and the last of them
    when more follow: what the next page's cursor is made of."""
    page = rows[:size]
    return page, (page[-1] if len(rows) > size else None)


def records_belonging_to(session, kinds: tuple[str, ...], owner: str) -> list[BusinessRecord]:
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
            cast(BusinessRecord.details, String).like(f"%{literal_like(owner)}%", escape="\\"),
        )
    )
    return [*owned, *(r for r in unowned if r.kind in kinds and owner_in(r.kind, r.details) == owner)]


def record_of_instance(session, kinds: tuple[str, ...], instance_key: str) -> BusinessRecord | None:
    """The record of ``kinds`` whose item the process instance ``instance_key`` runs, if any.

    By the indexed ``process_instance_key`` column, which the store keeps from the details
    on every write. A release before it (migration 0018) still running during a rolling
    update writes records without it; those few are read by their details.
    """
    found = session.scalars(
        select(BusinessRecord)
        .where(BusinessRecord.process_instance_key == instance_key, BusinessRecord.kind.in_(kinds))
        .limit(1)
    ).first()
    if found is not None:
        return found
    unkeyed = session.scalars(
        select(BusinessRecord).where(
            BusinessRecord.process_instance_key.is_(None),
            cast(BusinessRecord.details, String).like(f"%{literal_like(instance_key)}%", escape="\\"),
        )
    )
    return next((r for r in unkeyed if r.kind in kinds and instance_in(r.details) == instance_key), None)


def records_mentioning(session, kinds: tuple[str, ...], field: str, value: str) -> list[BusinessRecord]:
    """Records of ``kinds`` whose details say ``field: value``.

    The JSON text is searched first, so the database narrows it down; the details decide.
    """
    rows = session.scalars(
        select(BusinessRecord).where(
            BusinessRecord.kind.in_(kinds),
            cast(BusinessRecord.details, String).like(f"%{literal_like(value)}%", escape="\\"),
        )
    )
    return [r for r in rows if (r.details or {}).get(field) == value]
