"""Unlock and payment workers against the payment sandbox over real HTTP: money moves once."""

import pytest
import requests

from hireflow.adapters.payments import PaymentDeclined, PaymentOfAnotherUnlock, StripeStylePaymentGateway
from hireflow.constants import JobType
from hireflow.credits import CreditsLedger, InsufficientCredits
from hireflow.errors import PermanentFailure
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.store import BusinessRecord, Candidate, ContactAccess, Database, Employer, utcnow
from job_workers.incidents import BAD_DATA, cause_of
from job_workers.records import record_details
from job_workers.services import Services
from job_workers.unlock import AccessNotGrantable, ResumeUnlockTasks
from tests.concurrency import errors_all_at_once
from tests.jobs import make_job

API_KEY = "sk_test_unit"
PRICE = {"credits": 2, "amount_cents": 2000, "currency": "eur"}


@pytest.fixture
def sandbox(tmp_path, serve):
    return serve(create_payment_sandbox(tmp_path / "payments.sqlite3", API_KEY, seed=3))


@pytest.fixture
def tasks(store_url, sandbox) -> ResumeUnlockTasks:
    db = Database(store_url)
    db.create_schema()
    return ResumeUnlockTasks(
        Services(files=None, db=db, payments=StripeStylePaymentGateway(sandbox.url, API_KEY))
    )


def payments(sandbox) -> list[dict]:
    return requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["payment_intents"]


def test_credits_pay_once_and_refund_once(tasks):
    ledger = CreditsLedger(tasks.services.db)
    ledger.top_up("emp-1", 5, "seed")
    paid = {"paid_with": "credits", "credits_spent": 2, "credit_balance": 3}  # the receipt says what is left
    assert tasks.spend_credits("u-1", "emp-1", PRICE) == paid
    assert tasks.spend_credits("u-1", "emp-1", PRICE) == paid  # redelivered job: spends nothing more
    assert ledger.balance("emp-1") == 3
    assert tasks.refund_credits("u-1") == {"credits_refunded": 2}
    tasks.refund_credits("u-1")
    assert ledger.balance("emp-1") == 5


def test_too_few_credits_is_the_insufficient_credits_bpmn_error(tasks):
    with pytest.raises(InsufficientCredits) as raised:
        tasks.spend_credits("u-2", "emp-poor", PRICE)
    assert raised.value.error_code == "INSUFFICIENT_CREDITS"


def test_a_bad_price_from_the_decision_ends_retries_with_a_message(tasks):
    with pytest.raises(PermanentFailure, match="unlock-pricing"):
        tasks.spend_credits("u-3", "emp-1", {"amount_cents": 100})


def test_a_charge_is_made_once_per_count_however_often_and_by_whom_it_is_asked(tasks, sandbox):
    job = make_job(JobType.CHARGE_PAYMENT, element_instance_key=900)
    first = tasks.charge_card(job, "u-4", "emp-1", PRICE, "pm_card_visa", charge_attempts=0)
    again = tasks.charge_card(job, "u-4", "emp-1", PRICE, "pm_card_visa", charge_attempts=0)
    assert first == again and first["payment_status"] == "succeeded" and first["charge_attempts"] == 1
    # A second instance for the same unlock (a start whose answer was lost, processed after
    # its retry), or the step entered again by an operator: another element, the same charge.
    other = make_job(JobType.CHARGE_PAYMENT, element_instance_key=905)
    assert tasks.charge_card(other, "u-4", "emp-1", PRICE, "pm_card_visa", charge_attempts=0) == first
    assert len(payments(sandbox)) == 1
    # The charge after a decline counts on: a new one.
    later = make_job(JobType.CHARGE_PAYMENT, element_instance_key=950)
    assert (
        tasks.charge_card(later, "u-4", "emp-1", PRICE, "pm_card_visa", charge_attempts=1)["charge_attempts"]
        == 2
    )
    assert len(payments(sandbox)) == 2


def test_an_instance_of_a_diagram_without_the_count_names_its_charges_by_element(tasks, sandbox):
    job = make_job(JobType.CHARGE_PAYMENT, element_instance_key=960)
    first = tasks.charge_card(job, "u-old", "emp-1", PRICE, "pm_card_visa")
    assert tasks.charge_card(job, "u-old", "emp-1", PRICE, "pm_card_visa") == first
    assert "charge_attempts" not in first
    [intent] = payments(sandbox)
    assert intent["metadata"]["charge_attempt"] == "960"  # as before the count: one charge per element


def test_a_declined_card_is_the_payment_declined_bpmn_error_and_a_new_card_then_pays(tasks):
    with pytest.raises(PaymentDeclined) as raised:
        tasks.charge_card(
            make_job(JobType.CHARGE_PAYMENT, element_instance_key=10),
            "u-5",
            "emp-1",
            PRICE,
            "pm_card_chargeDeclined",
            charge_attempts=0,
        )
    assert raised.value.error_code == "PAYMENT_DECLINED"
    # The decline counts: the new card's charge is charge 2, not charge 1 replayed.
    assert raised.value.variables() == {"decline_code": "generic_decline", "charge_attempts": 1}
    # Why the unlock waits for a new card is on file, for whoever is asked, with the charge
    # refused: a card saved after it is another try, even the same card.
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "u-5")).details
    assert details["card_declined"] == {
        "card": "pm_card_chargeDeclined",
        "decline_code": "generic_decline",
        "charge": "1",
    }
    paid = tasks.charge_card(
        make_job(JobType.CHARGE_PAYMENT, element_instance_key=20),
        "u-5",
        "emp-1",
        PRICE,
        "pm_card_visa",
        charge_attempts=1,
    )
    assert paid["payment_status"] == "succeeded" and paid["charge_attempts"] == 2
    # The charge is on file too: a sweep after a lost engine finds it without the provider's search.
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "u-5")).details
    assert details["card_charged"] == {
        "payment_id": paid["payment_id"],
        "amount_cents": 2000,
        "currency": "eur",
    }


def test_a_charge_the_bank_asks_to_approve_waits_for_the_employer_once(tasks, sandbox):
    job = make_job(JobType.CHARGE_PAYMENT, element_instance_key=40)
    waiting = tasks.charge_card(job, "u-3ds", "emp-1", PRICE, "pm_card_authenticationRequired")
    assert waiting["payment_status"] == "requires_authentication"
    # A redelivered job finds the same payment waiting: one payment, the same answer.
    assert tasks.charge_card(job, "u-3ds", "emp-1", PRICE, "pm_card_authenticationRequired") == waiting
    assert [p["id"] for p in payments(sandbox)] == [waiting["payment_id"]]
    # The payment page finds it on file; nothing is recorded as charged, since nothing is yet.
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "u-3ds")).details
    assert details == {
        "card_needs_authentication": {
            "payment_id": waiting["payment_id"],
            "amount_cents": 2000,
            "currency": "eur",
        }
    }
    # The next attempt (with another card, after the bank refused) ends that wait on file.
    paid = tasks.charge_card(
        make_job(JobType.CHARGE_PAYMENT, element_instance_key=41), "u-3ds", "emp-1", PRICE, "pm_card_visa"
    )
    with tasks.services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "u-3ds")).details
    assert set(details) == {"card_charged"} and details["card_charged"]["payment_id"] == paid["payment_id"]


def test_a_card_saved_with_the_provider_is_charged_with_the_employers_customer(tasks, sandbox):
    gateway = tasks.services.payments
    gateway.save_card(unlock_id="u-8", customer="cus_Emp8", payment_method="pm_1Emp8Visa")
    job = make_job(JobType.CHARGE_PAYMENT, element_instance_key=30)
    # The webapp puts the customer in the process ...
    paid = tasks.charge_card(job, "u-8", "emp-8", PRICE, "pm_1Emp8Visa", payment_customer_ref="cus_Emp8")
    assert paid["payment_status"] == "succeeded"
    # ... and an instance started before it did finds the customer on file.
    with tasks.services.db.sessions.begin() as session:
        session.add(
            Employer(
                employer_id="emp-8",
                name="Emp 8",
                email="hr@emp8.example",
                payment_method_ref="pm_1Emp8Visa",
                payment_customer_ref="cus_Emp8",
            )
        )
    again = tasks.charge_card(
        make_job(JobType.CHARGE_PAYMENT, element_instance_key=31), "u-9", "emp-8", PRICE, "pm_1Emp8Visa"
    )
    assert again["payment_status"] == "succeeded"
    assert {p["customer"] for p in payments(sandbox)} == {"cus_Emp8"}


def test_a_payment_that_succeeded_before_its_cancellation_is_refunded_once(tasks, sandbox):
    pending = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-late", "emp-1", PRICE, "pm_card_async")
    settled = requests.post(
        f"{sandbox.url}/_sandbox/payment_intents/{pending['payment_id']}/succeed", timeout=5
    )
    assert settled.status_code == 200
    first = tasks.cancel_payment("u-late", pending["payment_id"])
    assert first == tasks.cancel_payment("u-late", pending["payment_id"])  # a redelivered job
    assert first["payment_status"] == "refunded"
    [refund] = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["refunds"]
    assert (refund["id"], refund["amount"]) == (first["refund_id"], PRICE["amount_cents"])


def test_refund_and_cancel_happen_once(tasks, sandbox):
    paid = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-6", "emp-1", PRICE, "pm_card_visa")
    tasks.refund_payment("u-6", paid["payment_id"])
    tasks.refund_payment("u-6", paid["payment_id"])
    assert len(requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["refunds"]) == 1
    pending = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-7", "emp-1", PRICE, "pm_sepa_debit")
    assert pending["payment_status"] == "processing"
    assert tasks.cancel_payment("u-7", pending["payment_id"]) == {"payment_status": "canceled"}
    assert tasks.cancel_payment("u-7", pending["payment_id"]) == {"payment_status": "canceled"}


def test_compensation_never_refunds_another_unlocks_payment(tasks, sandbox):
    paid = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-10", "emp-1", PRICE, "pm_card_visa")
    for undo in (tasks.refund_payment, tasks.cancel_payment):
        with pytest.raises(PaymentOfAnotherUnlock) as refused:
            undo("u-11", paid["payment_id"])  # u-11's payment_id set by hand to u-10's payment
        # An incident for an operator to mend the variable, not the gateway's refusal.
        assert cause_of(refused.value) is BAD_DATA
    assert requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["refunds"] == []


def test_an_unlock_records_how_it_was_paid_and_what_a_refund_gave_back(tasks, sandbox):
    # Its page said "unlocked" and nothing of the money: that was only in the receipt email.
    with tasks.services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="c-1", resume_id="r-1", skills=[], indexed_at=utcnow()))
    tasks.ledger.top_up("emp-1", 10, "purchase-1")
    by_credits = tasks.spend_credits("u-10", "emp-1", PRICE)
    paid = {name: by_credits[name] for name in ("paid_with", "credits_spent")}
    tasks.grant_access("u-10", "emp-1", "c-1", unlock_price=PRICE, **paid)
    by_card = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-11", "emp-2", PRICE, "pm_card_visa")
    tasks.grant_access(
        "u-11", "emp-2", "c-1", paid_with="card", payment_id=by_card["payment_id"], unlock_price=PRICE
    )
    tasks.grant_access("u-12", "emp-3", "c-1")  # an instance of an older model says nothing
    refused = tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-13", "emp-4", PRICE, "pm_card_visa")
    tasks.refund_payment("u-13", refused["payment_id"])
    tasks.spend_credits("u-14", "emp-1", PRICE)
    tasks.refund_credits("u-14")

    with tasks.services.db.sessions() as session:
        details = {
            u: session.get(BusinessRecord, ("unlock", u)).details
            for u in ("u-10", "u-11", "u-12", "u-13", "u-14")
        }
    assert details["u-10"] == {"paid": {"with": "credits", "credits": PRICE["credits"]}}
    charge = {"amount_cents": PRICE["amount_cents"], "currency": PRICE.get("currency", "eur")}
    assert details["u-11"] == {
        "card_charged": {**charge, "payment_id": by_card["payment_id"]},  # by the charge step
        "paid": {"with": "card", **charge, "payment_id": by_card["payment_id"]},  # by the grant
    }
    assert details["u-12"] == {}
    assert details["u-13"]["refunded"]["amount_cents"] == PRICE["amount_cents"]
    assert details["u-13"]["refunded"]["refund_id"].startswith("re_")
    assert details["u-14"] == {"refunded": {"credits": PRICE["credits"]}}


def test_access_is_granted_once_or_refused_as_a_bpmn_error(tasks):
    with tasks.services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="c-1", resume_id="r-1", skills=[], indexed_at=utcnow()))
    tasks.grant_access("u-8", "emp-1", "c-1")
    tasks.grant_access("u-8", "emp-1", "c-1")
    with tasks.services.db.sessions() as session:
        assert session.query(ContactAccess).count() == 1
        # The unlock is recorded as unlocked with the grant: a purchase that stands.
        assert session.get(BusinessRecord, ("unlock", "u-8")).status == "unlocked"
    with pytest.raises(AccessNotGrantable) as raised:
        tasks.grant_access("u-9", "emp-1", "c-gone")
    assert raised.value.error_code == "ACCESS_NOT_GRANTABLE"
    with tasks.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("unlock", "u-9")) is None


def test_access_granted_by_many_workers_at_once_is_one_grant_and_no_failure(tasks):
    # The job delivered again while its first delivery runs: the second insert meets the
    # first in the primary key, which is the grant done, not a fault to retry.
    with tasks.services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="c-1", resume_id="r-1", skills=[], indexed_at=utcnow()))
    answers: list[dict] = []
    errors = errors_all_at_once(
        6, lambda: tasks, lambda same: answers.append(same.grant_access("u-8", "emp-1", "c-1"))
    )

    assert errors == []
    assert answers == [{"access_granted": True}] * 6
    with tasks.services.db.sessions() as session:
        assert session.query(ContactAccess).count() == 1
        assert session.get(BusinessRecord, ("unlock", "u-8")).status == "unlocked"


def test_money_and_access_move_only_for_the_parties_the_unlock_was_asked_for_with(tasks, sandbox):
    # The webapp recorded who asked; the instance's variables were then set by hand to others.
    with tasks.services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="c-1", resume_id="r-1", skills=[], indexed_at=utcnow()))
        session.add(Candidate(candidate_id="c-2", resume_id="r-2", skills=[], indexed_at=utcnow()))
    record_details(
        tasks.services.db,
        "unlock",
        "u-20",
        "requested",
        employer_id="emp-1",
        candidate_id="c-1",
        payment_customer_ref="cus_Emp1",
    )
    tasks.ledger.top_up("emp-2", 10, "purchase-2")
    refusals = [
        lambda: tasks.spend_credits("u-20", "emp-2", PRICE),
        lambda: tasks.charge_card(make_job(JobType.CHARGE_PAYMENT), "u-20", "emp-2", PRICE, "pm_card_visa"),
        lambda: tasks.charge_card(
            make_job(JobType.CHARGE_PAYMENT), "u-20", "emp-1", PRICE, "pm_card_visa", "cus_Emp2"
        ),
        lambda: tasks.grant_access("u-20", "emp-2", "c-1"),
        lambda: tasks.grant_access("u-20", "emp-1", "c-2"),
    ]
    for refusal in refusals:
        with pytest.raises(PermanentFailure, match="was asked for with") as refused:
            refusal()
        assert cause_of(refused.value) is BAD_DATA  # an incident saying which value to set back
    assert tasks.ledger.balance("emp-2") == 10 and payments(sandbox) == []
    with tasks.services.db.sessions() as session:
        assert session.query(ContactAccess).count() == 0
    # The parties it was asked for with go on as ever.
    tasks.grant_access("u-20", "emp-1", "c-1")
    with tasks.services.db.sessions() as session:
        assert session.get(ContactAccess, ("emp-1", "c-1")).unlock_id == "u-20"
