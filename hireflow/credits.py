"""The credits ledger: employers' prepaid credits, spent and refunded exactly once per unlock.

A spend is one conditional UPDATE (``balance >= amount``) plus an entry that is unique
per unlock and kind, in one transaction. A repeated spend or refund finds its entry and
changes nothing, and two concurrent ones cannot both pass. This holds on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hireflow.constants import ErrorCode
from hireflow.errors import BusinessOutcome, PermanentFailure
from hireflow.store import CreditAccount, CreditEntry, Database, utcnow


class InsufficientCredits(BusinessOutcome):
    """The employer has fewer credits than the unlock costs; the process charges the card instead."""

    error_code = ErrorCode.INSUFFICIENT_CREDITS

    def __init__(self, employer_id: str, balance: int, amount: int):
        super().__init__(f"Employer {employer_id} has {balance} credits; the unlock costs {amount}")
        self.balance = balance
        self.amount = amount

    def variables(self) -> dict[str, int]:
        return {"credit_balance": self.balance}


@dataclass(frozen=True)
class CreditMovement:
    """A spend, refund or top-up as recorded, and whether this call recorded it."""

    reference: str
    kind: str
    amount: int
    new: bool


class CreditsLedger:
    """Spend, refund and top up credits in the domain store."""

    def __init__(self, db: Database):
        self.db = db

    def balance(self, employer_id: str) -> int:
        with self.db.sessions() as session:
            account = session.get(CreditAccount, employer_id)
            return account.balance if account else 0

    def _existing(self, session, reference: str, kind: str) -> CreditEntry | None:
        return session.scalars(
            select(CreditEntry).where(CreditEntry.reference == reference, CreditEntry.kind == kind)
        ).first()

    def _move(self, employer_id: str, reference: str, kind: str, delta: int) -> CreditMovement:
        """Apply ``delta`` to the balance and record the entry, once per (reference, kind)."""
        try:
            with self.db.sessions.begin() as session:
                existing = self._existing(session, reference, kind)
                if existing is not None:
                    return CreditMovement(reference, kind, existing.amount, new=False)
                if session.get(CreditAccount, employer_id) is None:
                    session.add(CreditAccount(employer_id=employer_id, balance=0))
                    session.flush()
                changed = session.execute(
                    update(CreditAccount)
                    .where(CreditAccount.employer_id == employer_id, CreditAccount.balance + delta >= 0)
                    .values(balance=CreditAccount.balance + delta)
                ).rowcount
                if not changed:
                    balance = session.get(CreditAccount, employer_id).balance
                    raise InsufficientCredits(employer_id, balance, -delta)
                session.add(
                    CreditEntry(
                        employer_id=employer_id,
                        reference=reference,
                        kind=kind,
                        amount=abs(delta),
                        created_at=utcnow(),
                    )
                )
            return CreditMovement(reference, kind, abs(delta), new=True)
        except IntegrityError:
            # A concurrent call recorded the same movement first; report theirs.
            with self.db.sessions() as session:
                existing = self._existing(session, reference, kind)
            if existing is None:
                raise
            return CreditMovement(reference, kind, existing.amount, new=False)

    def top_up(self, employer_id: str, amount: int, reference: str) -> CreditMovement:
        """Add purchased credits once per purchase reference."""
        if amount <= 0:
            raise PermanentFailure(f"A top-up must be positive, not {amount}")
        return self._move(employer_id, reference, "top_up", amount)

    def movements(self, employer_id: str, limit: int = 50) -> list[CreditEntry]:
        """The employer's latest credit movements, newest first."""
        with self.db.sessions() as session:
            return list(
                session.scalars(
                    select(CreditEntry)
                    .where(CreditEntry.employer_id == employer_id)
                    .order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc())
                    .limit(limit)
                )
            )

    def spend(self, employer_id: str, unlock_id: str, amount: int) -> CreditMovement:
        """Spend ``amount`` for the unlock once; raises InsufficientCredits if the balance is short."""
        if amount <= 0:
            raise PermanentFailure(f"An unlock must cost a positive number of credits, not {amount}")
        return self._move(employer_id, unlock_id, "spend", -amount)

    def refund(self, unlock_id: str) -> CreditMovement | None:
        """Give back what the unlock spent, once, to the employer who spent it. None if it
        spent nothing (a card paid).

        The spend says whose credits they were: an employer named otherwise (an instance's
        employer_id set by hand) would get credits another employer paid.
        """
        with self.db.sessions() as session:
            spent = self._existing(session, unlock_id, "spend")
        if spent is None:
            return None
        return self._move(spent.employer_id, unlock_id, "refund", spent.amount)


def purchase_reference(employer_id: str, purchase: str) -> str:
    """The ledger reference of an employer's purchase of credits.

    Purchase references (order or invoice ids) are unique per employer, but the ledger's
    references are unique across employers: two employers' "order-1" must be two top-ups.
    Ids hold no ':', so the pair cannot be read two ways.
    """
    return f"{employer_id}:{purchase}"


def purchase_of(employer_id: str, reference: str) -> str:
    """The purchase a top-up's ledger reference stands for (``purchase_reference`` turned back)."""
    prefix = f"{employer_id}:"
    return reference[len(prefix) :] if reference.startswith(prefix) else reference
