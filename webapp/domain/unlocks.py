"""Resume unlocking: an employer pays to see a candidate's contact details (``resume-unlock``),
with the card and payment steps that reach the process from outside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from hireflow.adapters.payments import PaymentDeclined, PaymentGatewayUnavailable, PaymentRequestRejected
from hireflow.constants import Message, ProcessId, Var
from hireflow.credits import CreditsLedger
from hireflow.store import (
    BusinessRecord,
    Candidate,
    ContactAccess,
    Employer,
    JobPosting,
    locked_record,
    payment_customer_of,
    utcnow,
)
from webapp.domain.items import Items, filled_from_file, must_give, read_signed_link
from webapp.domain.records import FINAL_STATUSES, Accepted, derived_id, one_page
from webapp.engine import EngineRejected, EngineUnavailable, KeyReused, RequestInProgress
from webapp.problems import Problem, invalid_field
from webapp.schemas import CardUpdate, PageAfter, UnlockRequest

log = logging.getLogger(__name__)

# The contact details one page of an employer's unlocked contacts lists.
CONTACTS_PAGE = 50


# Where an unlock waits for the employer's new card (payment-method-updated).
AWAIT_NEW_CARD = "AwaitNewCard"


@dataclass(frozen=True)
class SavedCard:
    """What saving a card for an unlock came to."""

    card: str  # the provider's id of the card saved (it may give a test card a new one)
    on_file: bool  # the employer's card on file now, for their next unlocks
    also_for: list[str] = field(default_factory=list)  # their other unlocks that waited for a card


@dataclass(frozen=True)
class UnlockOffer:
    """What an employer's unlock link offers: whom, seen in which posting, and their unlock of them now."""

    application_id: str
    withdrawn: bool  # the candidate withdrew the application: the link unlocks nothing more
    candidate_id: str
    candidate_name: str | None
    posting_title: str | None
    employer_id: str
    credits: int  # the employer's balance now
    unlock_id: str  # the unlock under way, or the one asking would start
    unlock: dict[str, Any] | None  # its status once asked for; None before


def new_card_message_id(unlock_id: str, payment_method_ref: str, after_charge: str | None) -> str:
    """The id of ``payment-method-updated`` for one card saved after one declined charge:
    saved again for it, the card is published no more."""
    return derived_id("card", unlock_id, after_charge or "", payment_method_ref)


class Unlocks(Items):
    """Unlocking a candidate's contact details, and the payment events of an unlock."""

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
        asked = request.model_dump()
        not_on_file = must_give(f"employer {request.employer_id} is not on file")
        on_file = {"employer_plan": "standard"}
        if employer is not None:
            on_file = {
                "employer_email": employer.email,
                "employer_plan": employer.plan or "standard",
                "payment_method_ref": employer.payment_method_ref,
            }
        request = filled_from_file(
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
        started = self.gateway.start_item(ProcessId.RESUME_UNLOCK, variables, asked=asked)
        details = {
            "employer_id": request.employer_id,
            "candidate_id": request.candidate_id,
            "payment_customer_ref": customer,
            "attempt": attempt,
        }
        return self._accepted("unlock", unlock_id, started, details)

    def card_link_unlock(self, token: str) -> str:
        """The unlock a card link (from the payment-declined email) is for; 410 expired, 404 not ours."""
        return read_signed_link(self.services.card_links, token)

    def save_card(self, unlock_id: str, update: CardUpdate) -> SavedCard:
        """Save the employer's new card with the payment provider, for an unlock still open,
        and publish ``payment-method-updated`` with it once the provider took it.

        A card the provider refused never reaches the process. The message's id is made of
        the unlock, the card and the declined charge the card answers (the record keeps
        it): a repeat of one save publishes nothing more, while the same card saved again
        after a later decline is another try. A save whose publishing failed (503) is
        finished by the employer's retry, or the reminder's link; the provider's
        ``payment_method.attached`` event is not waited for (see ``webhooks``).

        The card becomes the employer's card on file as well, so that their next unlock is
        not charged to the card that was declined (see ``_keep_on_file``), and the card of
        the employer's other unlocks that wait for one (``_give_to_the_others_waiting``):
        the employer updates their card once, not once per declined unlock.
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
        on_file = self._keep_on_file(employer_id, customer, saved)
        self.gateway.publish_once(
            Message.PAYMENT_METHOD_UPDATED,
            unlock_id,
            new_card_message_id(unlock_id, saved, after_charge),
            {Var.PAYMENT_METHOD_REF: saved},
        )
        also_for = self._give_to_the_others_waiting(unlock_id, employer_id, customer, saved)
        return SavedCard(saved, on_file, also_for)

    def _give_to_the_others_waiting(
        self, unlock_id: str, employer_id: str, customer: str, card: str
    ) -> list[str]:
        """Publish ``card`` to the employer's other open unlocks that wait for a new card now
        (declined, at ``AWAIT_NEW_CARD``) and charge the same customer; returns their ids.

        The card is attached to that customer already, which is all a charge needs. Each is
        published once per card and decline, as its own link would; one the engine cannot be
        asked about now keeps waiting for its own link, and the save is not refused for it.
        """
        with self.services.db.sessions() as session:
            others = session.scalars(
                select(BusinessRecord)
                .where(
                    BusinessRecord.kind == "unlock",
                    BusinessRecord.employer_id == employer_id,
                    BusinessRecord.business_id != unlock_id,
                    BusinessRecord.status.not_in(FINAL_STATUSES["unlock"]),
                )
                .order_by(BusinessRecord.business_id)
            ).all()
        given = []
        for other in others:
            details = other.details or {}
            declined = details.get("card_declined")
            instance_key = details.get("process_instance_key")
            if not isinstance(declined, dict) or not instance_key:
                continue
            if (details.get("payment_customer_ref") or customer) != customer:
                continue
            try:
                if not self.gateway.waits_in(str(instance_key), AWAIT_NEW_CARD):
                    continue
                self.gateway.publish_once(
                    Message.PAYMENT_METHOD_UPDATED,
                    other.business_id,
                    new_card_message_id(other.business_id, card, declined.get("charge")),
                    {Var.PAYMENT_METHOD_REF: card},
                )
            except (EngineUnavailable, EngineRejected, KeyReused, RequestInProgress) as exc:
                # This save took effect: another unlock's trouble must not turn it into an error.
                log.warning("unlock %s keeps waiting for its own card link: %s", other.business_id, exc)
                continue
            log.info("unlock %s: charging card %s, saved for unlock %s", other.business_id, card, unlock_id)
            given.append(other.business_id)
        return given

    def _keep_on_file(self, employer_id: str, customer: str, card: str) -> bool:
        """Make ``card`` the employer's card on file, as "update your card" means to them.

        Only while the employer on file is still the provider's ``customer`` the card was
        attached to: a card of another customer would be refused at their next charge.
        An employer not on file (an unlock that named its card itself) has no card to keep.
        True when ``card`` is the card on file now.
        """
        with self.services.db.sessions.begin() as session:
            employer = session.get(Employer, employer_id, with_for_update=True)
            if employer is None or employer.payment_customer() != customer:
                return False
            if employer.payment_method_ref != card:
                log.info("employer %s: card %s, saved for an unlock, is now on file", employer_id, card)
                employer.payment_method_ref = card
            return True

    def payment_link_unlock(self, token: str) -> str:
        """The unlock a payment link (from the payment-approval email) is for; 410 expired, 404 not ours."""
        return read_signed_link(self.services.payment_links, token)

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
            record = locked_record(session, "unlock", unlock_id)
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

    def contact_link_unlock(self, token: str) -> str:
        """The unlock a contact link (from the receipt) is for; 410 expired, 404 not ours."""
        return read_signed_link(self.services.contact_links, token)

    def unlock_link_application(self, token: str) -> str:
        """The application an employer's unlock link (from the shortlisted email) names; 410 expired."""
        return read_signed_link(self.services.unlock_links, token)

    def unlock_offer(self, application_id: str) -> UnlockOffer:
        """What the unlock link of an application offers: its posting's employer may unlock its
        candidate, as ``POST /api/unlocks`` with the two ids would.

        410 once the candidate was erased (nothing is left to unlock); 409 for a posting whose
        employer is not on file, as nothing on file says who pays.
        """
        application = self._require("application", application_id)
        details = application.details or {}
        candidate_id, posting_id = details.get("candidate_id"), details.get("posting_id")
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id) if candidate_id else None
            posting = session.get(JobPosting, posting_id) if posting_id else None
            employer = session.get(Employer, posting.employer_id) if posting is not None else None
        if candidate is None:
            gone = "this candidate is no longer on hireflow: there is nothing to unlock"
            raise Problem(410, "Candidate gone", gone)
        if employer is None:
            raise Problem(
                409,
                "Employer not on file",
                "the posting's employer is not on file with hireflow, so nothing says who pays; "
                "unlock through the marketplace instead",
            )
        unlock_id, _ = self._current_attempt("unlock", employer.employer_id, candidate.candidate_id)
        unlock = self.status("unlock", unlock_id) if self._record("unlock", unlock_id) else None
        return UnlockOffer(
            application_id=application_id,
            withdrawn=application.status == "withdrawn",
            candidate_id=candidate.candidate_id,
            candidate_name=candidate.name,
            posting_title=details.get("posting_title") or (posting.title if posting else None),
            employer_id=employer.employer_id,
            credits=CreditsLedger(self.services.db).balance(employer.employer_id),
            unlock_id=unlock_id,
            unlock=unlock,
        )

    def unlock_by_link(self, application_id: str) -> UnlockOffer:
        """Unlock the application's candidate for its posting's employer, as the link offers.

        An unlock of the two under way (or done) is the one asked for: nothing starts twice,
        and a repeat of the start itself is one too (``unlock``). Once the candidate withdrew
        the application, its link starts none (409).
        """
        offer = self.unlock_offer(application_id)
        if offer.unlock is None and offer.withdrawn:
            raise Problem(
                409,
                "Application withdrawn",
                "the candidate withdrew this application; its link unlocks nothing",
            )
        if offer.unlock is None:
            asked = {"employer_id": offer.employer_id, "candidate_id": offer.candidate_id}
            self.unlock(UnlockRequest.model_validate(asked))
            offer = self.unlock_offer(application_id)
        return offer

    def contact_opened_by(self, unlock_id: str) -> dict[str, Any] | None:
        """The contact details an unlock opened, as ``contact_for`` gives them, read now.

        None while it opened none: not paid yet, over unpaid, or the candidate was erased
        since (their access goes with them; the unlock stays ``unlocked``).
        """
        record = self._require("unlock", unlock_id)
        details = record.details or {}
        employer_id, candidate_id = details.get("employer_id"), details.get("candidate_id")
        if record.status != "unlocked" or not employer_id or not candidate_id:
            return None
        try:
            return self.contact_for(candidate_id, employer_id)
        except Problem as problem:
            if problem.status != 404:
                raise
            return None

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
        page, last = one_page(rows, page_size)
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
