"""Workers of the resume-unlock process: pay by credits or card, grant access, refund.

Every step that moves money or grants access is idempotent: credits move once per unlock
(unique ledger entries), a charge is made once per attempt (the Idempotency-Key names the
unlock and the element instance), a refund once per payment, access once per employer and
candidate (primary key).

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

from pyzeebe import Job
from sqlalchemy.exc import IntegrityError

from hireflow.adapters.payments import REQUIRES_AUTHENTICATION, PaymentDeclined
from hireflow.constants import ErrorCode, JobType
from hireflow.credits import CreditsLedger
from hireflow.errors import BusinessOutcome, PermanentFailure
from hireflow.store import Candidate, ContactAccess, payment_customer_of, utcnow
from job_workers.records import check_as_recorded, outcome_header, record_details, record_status
from job_workers.services import Services
from job_workers.task_router import BusinessId, TaskRouter

STORE_TIMEOUT_MS = 30_000
# A charge makes two calls (a search for an earlier try, then the charge), each tried 4
# times with a 10 s timeout and short backoff: under 90 s in the worst case. 120 s keeps
# a second worker from taking the job while one still runs.
PAYMENT_TIMEOUT_MS = 120_000


class AccessNotGrantable(BusinessOutcome):
    """The candidate can no longer be unlocked (profile removed); the process refunds."""

    error_code = ErrorCode.ACCESS_NOT_GRANTABLE


def _price(unlock_id: str, unlock_price: dict, part: str) -> int:
    try:
        value = int(unlock_price[part])
    except (KeyError, TypeError, ValueError):
        raise PermanentFailure(
            f"Unlock {unlock_id}: the unlock-pricing decision gave no usable '{part}' ({unlock_price!r}); "
            "fix the decision table, then retry"
        ) from None
    if value <= 0:
        raise PermanentFailure(f"Unlock {unlock_id}: price '{part}' must be positive, not {value}")
    return value


def how_it_was_paid(
    paid_with: str | None, credits_spent: int | None, payment_id: str | None, unlock_price: dict
) -> dict | None:
    """What the unlock's record shows of its payment: the credits, or the card charge.

    None for an instance that does not say (started on an older model), rather than a guess.
    """
    if paid_with == "credits" and credits_spent is not None:
        return {"with": "credits", "credits": credits_spent}
    if paid_with == "card" and payment_id:
        return {
            "with": "card",
            "amount_cents": unlock_price.get("amount_cents"),
            "currency": str(unlock_price.get("currency") or "eur"),
            "payment_id": payment_id,
        }
    return None


class ResumeUnlockTasks:
    """Task functions for resume-unlock, with their adapters injected."""

    def __init__(self, services: Services):
        self.services = services
        self.ledger = CreditsLedger(services.db)

    def _gateway(self, unlock_id: str):
        if self.services.payments is None:
            raise PermanentFailure(f"Unlock {unlock_id}: no payment gateway is configured for this worker")
        return self.services.payments

    def spend_credits(self, unlock_id: BusinessId, employer_id: BusinessId, unlock_price: dict) -> dict:
        """Pay with prepaid credits; INSUFFICIENT_CREDITS sends the process to the card.

        The balance left is the receipt's: an employer who prepays wants to know when to buy
        more. A redelivered job spends nothing more and reads the balance as it is then.
        """
        credits = _price(unlock_id, unlock_price, "credits")
        check_as_recorded(self.services.db, "unlock", unlock_id, employer_id=employer_id)
        self.ledger.spend(employer_id, unlock_id, credits)
        return {
            "paid_with": "credits",
            "credits_spent": credits,
            "credit_balance": self.ledger.balance(employer_id),
        }

    def refund_credits(self, unlock_id: BusinessId) -> dict:
        """Compensation: give back the credits the unlock spent, once, to whoever spent them."""
        movement = self.ledger.refund(unlock_id)
        refunded = movement.amount if movement else 0
        record_details(self.services.db, "unlock", unlock_id, "requested", refunded={"credits": refunded})
        return {"credits_refunded": refunded}

    def charge_card(
        self,
        job: Job,
        unlock_id: BusinessId,
        employer_id: BusinessId,
        unlock_price: dict,
        payment_method_ref: str,
        payment_customer_ref: str | None = None,
        charge_attempts: int | None = None,
    ) -> dict:
        """Charge the employer's saved card; PAYMENT_DECLINED when the card is refused.

        The card is charged with the employer's customer at the provider, which the
        webapp put in the process; an instance started before it did so finds it on file.

        Charge number ``charge_attempts + 1`` of the unlock: its idempotency key is built
        from the unlock and that number, business facts, never from the engine's keys. So
        retries of the job, a second instance started for the same unlock (a start whose
        answer was lost, processed after its retry) and the step entered again by an
        operator all charge once; only a charge after a decline, with the count it
        returned, is a new one. An instance started on a diagram before the count existed
        keeps naming its charges by the task's element instance, as it did.
        """
        if charge_attempts is None:
            attempt, counted = str(job.element_instance_key), {}
        else:
            attempt, counted = str(charge_attempts + 1), {"charge_attempts": charge_attempts + 1}
        check_as_recorded(
            self.services.db,
            "unlock",
            unlock_id,
            employer_id=employer_id,
            payment_customer_ref=payment_customer_ref,
        )
        try:
            payment = self._gateway(unlock_id).charge(
                unlock_id=unlock_id,
                amount=_price(unlock_id, unlock_price, "amount_cents"),
                currency=str(unlock_price.get("currency") or "eur"),
                payment_method=payment_method_ref,
                customer=payment_customer_ref or payment_customer_of(self.services.db, employer_id),
                attempt=attempt,
            )
        except PaymentDeclined as declined:
            # Support is asked why an unlock waits: the card and the provider's reason. The
            # charge it refused tells one decline from the next: the card page saves one
            # card per decline (the same card again after a second decline is a new try).
            last_decline = {
                "card": payment_method_ref,
                "decline_code": declined.decline_code or "unknown",
                "charge": attempt,
            }
            self._record_charge(unlock_id, card_declined=last_decline)
            declined.process_variables.update(counted)  # the next card's charge is a new one
            raise
        charged = {"payment_id": payment.id, "amount_cents": payment.amount, "currency": payment.currency}
        if payment.needs_cardholder:
            # The bank asks the employer to approve the charge (3-D Secure): the payment
            # page finds it here, and the process emails them the link and waits.
            self._record_charge(unlock_id, card_needs_authentication=charged)
            return {
                "paid_with": "card",
                "payment_id": payment.id,
                "payment_status": REQUIRES_AUTHENTICATION,
                **counted,
            }
        # Kept beside the status, so the charge is known without the engine: a sweep after
        # the engine is lost refunds it even before the provider's search has caught up.
        self._record_charge(unlock_id, card_charged=charged)
        return {"paid_with": "card", "payment_id": payment.id, "payment_status": payment.status, **counted}

    def _record_charge(self, unlock_id: str, **outcome: dict) -> None:
        """Record what a charge attempt came to. A payment an earlier attempt left waiting
        for the employer's approval waits no more: only this attempt's can."""
        record_details(
            self.services.db,
            "unlock",
            unlock_id,
            "requested",
            forget=("card_needs_authentication",),
            **outcome,
        )

    def refund_payment(self, unlock_id: BusinessId, payment_id: str) -> dict:
        """Compensation: refund the card payment in full, once."""
        refund = self._gateway(unlock_id).refund(unlock_id=unlock_id, payment_id=payment_id)
        given_back = {"amount_cents": refund.amount, "refund_id": refund.id}
        record_details(self.services.db, "unlock", unlock_id, "requested", refunded=given_back)
        return {"refund_id": refund.id}

    def cancel_payment(self, unlock_id: BusinessId, payment_id: str) -> dict:
        """The confirmation never came: cancel the pending payment, once.

        A payment that succeeded just as the wait ended (a debit settling, an employer
        approving at their bank) can no longer be cancelled; the unlock is over all the
        same, so it is refunded, once.
        """
        gateway = self._gateway(unlock_id)
        payment = gateway.cancel(unlock_id=unlock_id, payment_id=payment_id)
        if payment.status != "succeeded":
            return {"payment_status": payment.status}
        refund = gateway.refund(unlock_id=unlock_id, payment_id=payment_id)
        given_back = {"amount_cents": refund.amount, "refund_id": refund.id}
        record_details(self.services.db, "unlock", unlock_id, "requested", refunded=given_back)
        return {"payment_status": "refunded", "refund_id": refund.id}

    def grant_access(
        self,
        unlock_id: BusinessId,
        employer_id: BusinessId,
        candidate_id: BusinessId,
        paid_with: str | None = None,
        credits_spent: int | None = None,
        payment_id: str | None = None,
        unlock_price: dict | None = None,
    ) -> dict:
        """Let the employer see the candidate's contact details (once per pair), and record
        the unlock as unlocked, with how it was paid: from here on it is a purchase that
        stands, whatever becomes of its instance."""
        check_as_recorded(
            self.services.db, "unlock", unlock_id, employer_id=employer_id, candidate_id=candidate_id
        )
        try:
            with self.services.db.sessions.begin() as session:
                if session.get(Candidate, candidate_id) is None:
                    raise AccessNotGrantable(
                        f"Unlock {unlock_id}: candidate {candidate_id} is no longer on hireflow"
                    )
                if session.get(ContactAccess, (employer_id, candidate_id)) is None:
                    session.add(
                        ContactAccess(
                            employer_id=employer_id,
                            candidate_id=candidate_id,
                            unlock_id=unlock_id,
                            granted_at=utcnow(),
                        )
                    )
        except IntegrityError:
            # A worker given the same job again granted it a moment before: that is this
            # grant done, not a fault to retry. Anything else is.
            with self.services.db.sessions() as session:
                if session.get(ContactAccess, (employer_id, candidate_id)) is None:
                    raise
        # A second transaction: a worker that dies between the two is redelivered the job,
        # finds the access granted, and records the status then.
        paid = how_it_was_paid(paid_with, credits_spent, payment_id, unlock_price or {})
        record_status(self.services.db, "unlock", unlock_id, "unlocked", {"paid": paid} if paid else None)
        return {"access_granted": True}

    def record_outcome(self, job: Job, unlock_id: BusinessId) -> dict:
        """Record the unlock's status, as the task's header says."""
        status = outcome_header(job)
        record_status(self.services.db, "unlock", unlock_id, status)
        return {"unlock_status": status}


def build_router(services: Services) -> TaskRouter:
    """The resume-unlock and payment router, its tasks bound to ``services``."""
    tasks = ResumeUnlockTasks(services)
    router = TaskRouter()
    router.task(JobType.SPEND_CREDITS, timeout_ms=STORE_TIMEOUT_MS)(tasks.spend_credits)
    router.task(JobType.REFUND_CREDITS, timeout_ms=STORE_TIMEOUT_MS)(tasks.refund_credits)
    router.task(JobType.GRANT_ACCESS, timeout_ms=STORE_TIMEOUT_MS)(tasks.grant_access)
    router.task(JobType.RECORD_UNLOCK_OUTCOME, timeout_ms=STORE_TIMEOUT_MS)(tasks.record_outcome)
    router.task(JobType.CHARGE_PAYMENT, timeout_ms=PAYMENT_TIMEOUT_MS)(tasks.charge_card)
    router.task(JobType.REFUND_PAYMENT, timeout_ms=PAYMENT_TIMEOUT_MS)(tasks.refund_payment)
    router.task(JobType.CANCEL_PAYMENT, timeout_ms=PAYMENT_TIMEOUT_MS)(tasks.cancel_payment)
    return router
