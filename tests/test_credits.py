"""The credits ledger spends and refunds exactly once, on SQLite and PostgreSQL (issue 3)."""

from __future__ import annotations

import pytest

from hireflow.credits import CreditsLedger, InsufficientCredits
from hireflow.errors import PermanentFailure
from hireflow.store import Database
from tests.concurrency import race


@pytest.fixture
def ledger(store_url) -> CreditsLedger:
    db = Database(store_url)
    db.create_schema()
    ledger = CreditsLedger(db)
    ledger.top_up("e-1", 10, reference="purchase-1")
    return ledger


def test_a_spend_repeated_for_the_same_unlock_is_spent_once(ledger):
    first = ledger.spend("e-1", "u-1", 3)
    second = ledger.spend("e-1", "u-1", 3)
    assert (first.new, second.new) == (True, False)
    assert ledger.balance("e-1") == 7


def test_a_refund_gives_back_the_spend_once(ledger):
    ledger.spend("e-1", "u-1", 3)
    assert ledger.refund("u-1").new
    assert not ledger.refund("u-1").new
    assert ledger.balance("e-1") == 10


def test_a_refund_goes_to_the_employer_who_spent_the_credits(ledger):
    # Before, the caller named the employer: the worker, from the instance's employer_id,
    # which an operator may set by hand, so another employer could get what e-1 paid.
    ledger.top_up("e-2", 1, "seed-e-2")
    ledger.spend("e-1", "u-1", 3)
    ledger.refund("u-1")
    assert (ledger.balance("e-1"), ledger.balance("e-2")) == (10, 1)


def test_refunding_an_unlock_paid_by_card_changes_nothing(ledger):
    assert ledger.refund("u-card") is None
    assert ledger.balance("e-1") == 10


def test_too_few_credits_is_the_business_outcome_that_sends_the_process_to_the_card(ledger):
    with pytest.raises(InsufficientCredits) as raised:
        ledger.spend("e-1", "u-1", 11)
    assert raised.value.error_code == "INSUFFICIENT_CREDITS"
    assert raised.value.variables() == {"credit_balance": 10}
    assert ledger.balance("e-1") == 10


def test_an_employer_without_an_account_has_no_credits(ledger):
    with pytest.raises(InsufficientCredits):
        ledger.spend("e-new", "u-1", 1)
    assert ledger.balance("e-new") == 0


def test_a_top_up_is_counted_once_per_purchase(ledger):
    ledger.top_up("e-1", 5, reference="purchase-2")
    ledger.top_up("e-1", 5, reference="purchase-2")
    assert ledger.balance("e-1") == 15


@pytest.mark.parametrize("amount", [0, -3])
def test_non_positive_amounts_are_refused(ledger, amount):
    with pytest.raises(PermanentFailure):
        ledger.spend("e-1", "u-1", amount)


def test_concurrent_spends_for_different_unlocks_never_overdraw(ledger):
    def spend(unlock_id: str) -> str:
        try:
            ledger.spend("e-1", unlock_id, 3)
            return "spent"
        except InsufficientCredits:
            return "short"

    outcomes = race(spend, [f"u-{i}" for i in range(8)])
    assert outcomes.count("spent") == 3
    assert ledger.balance("e-1") == 1


def test_the_same_spend_delivered_to_many_workers_at_once_is_spent_once(ledger):
    # Zeebe delivers a job at least once: a job that timed out runs twice, maybe at once.
    def spend(_: str) -> str:
        return "new" if ledger.spend("e-1", "u-1", 3).new else "repeat"

    outcomes = race(spend, ["u-1"] * 8)
    assert sorted(outcomes) == ["new"] + ["repeat"] * 7
    assert ledger.balance("e-1") == 7
