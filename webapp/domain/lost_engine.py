"""Closing the items of an engine that is gone: a fresh embedded engine starts without the
instances of the one before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from hireflow.adapters.calendar import InterviewCalendar, StoreCalendar
from hireflow.adapters.payments import PaymentError, PaymentGateway
from hireflow.credits import CreditsLedger
from hireflow.store import ERASED, BusinessRecord, Database, locked_record, utcnow
from webapp.domain.records import FINAL_STATUSES, business_status

log = logging.getLogger(__name__)


ENGINE_LOST_REASON = "the engine that ran it has stopped, and its state is gone"
# The words for it before 2026-12-01, when the embedded engine kept its state in memory only.
EARLIER_ENGINE_LOST_REASON = "the engine that ran it kept its state in memory and has stopped"


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
            record = locked_record(session, kind, business_id)
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
        returned = ledger.refund(business_id)  # to the employer who spent them; None if none were
        if returned is not None:
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
