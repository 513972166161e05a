"""resume-unlock on a real Zeebe engine with the product's worker (issue 4, process 3).

Credits or card; an asynchronous payment confirmed by message, failed (a new card is
asked for) or cancelled by its timer; a payment the bank asks the employer to approve,
reminded before its day is over (unless the reminder falls due as it ends); a declined
card replaced by message; and compensation that refunds exactly what was paid when
access cannot be granted.
"""

from __future__ import annotations

import pytest
import requests

from hireflow.constants import Message, ProcessId
from hireflow.credits import CreditsLedger
from hireflow.store import BusinessRecord, ContactAccess
from job_workers.records import record_details
from tests.engine_helpers import (
    describe_instance,
    set_instance_variables,
    unique_key,
    wait_for,
    wait_for_incident,
    wait_until_completed,
    wait_until_element,
)

# Every test here runs the product's worker against the engine.
pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

ONE_HOUR_MS = 60 * 60 * 1000
ONE_DAY_MS = 24 * ONE_HOUR_MS
STANDARD_PRICE = {"credits": 2, "amount_cents": 2000}  # unlock-pricing: standard plan, junior


def start_unlock(
    process_engine,
    local_world,
    *,
    candidate_id: str,
    payment_method_ref: str = "pm_card_visa",
    credits=0,
    employer_id: str | None = None,
    unlock_id: str | None = None,
):
    employer_id = employer_id or unique_key("emp")
    if credits:
        CreditsLedger(local_world.services.db).top_up(employer_id, credits, f"seed-{employer_id}")
    variables = {
        "unlock_id": unlock_id or unique_key("unlock"),
        "employer_id": employer_id,
        "employer_email": f"{employer_id}@example.com",
        "candidate_id": candidate_id,
        "employer_plan": "standard",
        "years_of_experience": 3,
        "payment_method_ref": payment_method_ref,
    }
    created = process_engine.client.create_process_instance(ProcessId.RESUME_UNLOCK, variables)
    return created["processInstanceKey"], variables


def payment_intents(local_world, unlock_id: str) -> list[dict]:
    intents = local_world.payment_ledger()["payment_intents"]
    return [p for p in intents if p.get("metadata", {}).get("unlock_id") == unlock_id]


def refunds_of(local_world, payment_intent_id: str) -> list[dict]:
    return [r for r in local_world.payment_ledger()["refunds"] if r["payment_intent"] == payment_intent_id]


def unlock_details(local_world, unlock_id: str) -> dict:
    """What the unlock's record in the store says beyond its status."""
    with local_world.services.db.sessions() as session:
        return session.get(BusinessRecord, ("unlock", unlock_id)).details


def has_access(local_world, employer_id: str, candidate_id: str) -> bool:
    with local_world.services.db.sessions() as session:
        return session.get(ContactAccess, (employer_id, candidate_id)) is not None


def test_enough_credits_pay_for_the_unlock(process_engine, local_world):
    candidate = local_world.add_candidate()
    instance, v = start_unlock(process_engine, local_world, candidate_id=candidate, credits=5)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    assert CreditsLedger(local_world.services.db).balance(v["employer_id"]) == 5 - STANDARD_PRICE["credits"]
    assert has_access(local_world, v["employer_id"], candidate)
    assert payment_intents(local_world, v["unlock_id"]) == []
    [receipt] = local_world.mails_to(v["employer_email"])
    left = 5 - STANDARD_PRICE["credits"]
    assert f"Paid with {STANDARD_PRICE['credits']} credits; you have {left} credit" in receipt["text"]
    # It links to the contact details it paid for, signed for this unlock.
    [link] = [word for word in receipt["text"].split() if "/unlocks/contact/" in word]
    assert local_world.services.contact_links.read(link.rsplit("/", 1)[1]) == v["unlock_id"]
    paid = unlock_details(local_world, v["unlock_id"])["paid"]
    assert paid == {"with": "credits", "credits": STANDARD_PRICE["credits"]}


def test_without_credits_the_card_is_charged_once(process_engine, local_world):
    candidate = local_world.add_candidate()
    instance, v = start_unlock(process_engine, local_world, candidate_id=candidate)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    intents = payment_intents(local_world, v["unlock_id"])
    assert [(p["amount"], p["status"]) for p in intents] == [(STANDARD_PRICE["amount_cents"], "succeeded")]
    assert has_access(local_world, v["employer_id"], candidate)
    paid = unlock_details(local_world, v["unlock_id"])["paid"]
    assert (paid["with"], paid["amount_cents"], paid["payment_id"]) == (
        "card",
        STANDARD_PRICE["amount_cents"],
        intents[0]["id"],
    )


def test_an_employer_changed_since_the_request_waits_in_an_incident_until_set_back(
    process_engine, local_world
):
    candidate = local_world.add_candidate()
    owner, unlock_id = unique_key("emp"), unique_key("unlock")
    # The webapp recorded the unlock for its owner; an admin start then named another employer.
    record_details(
        local_world.services.db, "unlock", unlock_id, "requested", employer_id=owner, candidate_id=candidate
    )
    instance, v = start_unlock(
        process_engine, local_world, candidate_id=candidate, credits=5, unlock_id=unlock_id
    )

    incident = wait_for_incident(process_engine.client, instance)
    assert incident["elementId"] == "SpendCredits"
    assert f"set employer_id back to '{owner}'" in incident["errorMessage"]
    set_instance_variables(process_engine.grpc_address, instance, {"employer_id": owner})
    process_engine.client.update_job_retries(incident["jobKey"], 1)
    process_engine.client.resolve_incident(incident["incidentKey"])

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    # The owner has no credits, so their card paid; the other employer paid nothing, saw nothing.
    assert CreditsLedger(local_world.services.db).balance(v["employer_id"]) == 5
    assert [p["status"] for p in payment_intents(local_world, unlock_id)] == ["succeeded"]
    assert has_access(local_world, owner, candidate)
    assert not has_access(local_world, v["employer_id"], candidate)


def test_two_instances_for_one_unlock_charge_its_card_once(process_engine, local_world):
    """A start whose answer was lost may be processed after its retry started another
    instance (the chaos run on PostgreSQL saw it): the charge is named by the unlock and
    its count, not by either instance, so the card pays once."""
    candidate = local_world.add_candidate()
    first, v = start_unlock(process_engine, local_world, candidate_id=candidate)
    second = process_engine.client.create_process_instance(ProcessId.RESUME_UNLOCK, v)["processInstanceKey"]

    for instance in (first, second):
        wait_until_completed(process_engine.client, instance)
        wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    [intent] = payment_intents(local_world, v["unlock_id"])
    assert intent["status"] == "succeeded"
    assert has_access(local_world, v["employer_id"], candidate)


def test_when_access_cannot_be_granted_compensation_refunds_the_credits(process_engine, local_world):
    instance, v = start_unlock(process_engine, local_world, candidate_id=unique_key("gone"), credits=5)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "UnlockRefunded", state="COMPLETED")
    wait_until_element(process_engine.client, instance, "RefundCredits", state="COMPLETED")
    assert CreditsLedger(local_world.services.db).balance(v["employer_id"]) == 5
    assert not process_engine.client.search_element_instances(
        processInstanceKey=instance, elementId="RefundPayment"
    )
    with local_world.services.db.sessions() as session:
        assert session.get(BusinessRecord, ("unlock", v["unlock_id"])).status == "refunded"
    [refunded] = local_world.mails_to(v["employer_email"])
    assert (
        f"has been refunded: {STANDARD_PRICE['credits']} credits are back in your balance."
        in refunded["text"]
    )


def test_when_access_cannot_be_granted_compensation_refunds_the_card(process_engine, local_world):
    instance, v = start_unlock(process_engine, local_world, candidate_id=unique_key("gone"))

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "RefundPayment", state="COMPLETED")
    [intent] = payment_intents(local_world, v["unlock_id"])
    assert [r["amount"] for r in refunds_of(local_world, intent["id"])] == [STANDARD_PRICE["amount_cents"]]
    assert (
        unlock_details(local_world, v["unlock_id"])["refunded"]["amount_cents"]
        == STANDARD_PRICE["amount_cents"]
    )
    [refund] = refunds_of(local_world, intent["id"])
    [refunded] = local_world.mails_to(v["employer_email"])
    amount = f"{STANDARD_PRICE['amount_cents'] / 100:.2f} EUR"
    assert f"has been refunded: {amount} to your card (refund {refund['id']})." in refunded["text"]


def test_a_declined_card_waits_for_a_new_one_then_charges_it(process_engine, local_world):
    candidate = local_world.add_candidate()
    instance, v = start_unlock(
        process_engine,
        local_world,
        candidate_id=candidate,
        payment_method_ref="pm_card_chargeDeclinedInsufficientFunds",
    )
    wait_until_element(process_engine.client, instance, "AwaitNewCard")  # a receive task

    process_engine.client.publish_message(
        Message.PAYMENT_METHOD_UPDATED, v["unlock_id"], variables={"payment_method_ref": "pm_card_visa"}
    )

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    statuses = sorted(p["status"] for p in payment_intents(local_world, v["unlock_id"]))
    assert statuses == ["requires_payment_method", "succeeded"]
    update_card, _receipt = local_world.mails_to(v["employer_email"])
    # The decline code comes with the BPMN error, through the boundary event's output mapping.
    assert "Your card was declined (insufficient funds)" in update_card["text"]


def test_a_card_its_holder_removed_asks_for_a_new_one_not_an_incident(process_engine, local_world):
    # The employer saved a card, then removed it in the provider's billing portal. The
    # provider refuses it with a 400; only the employer can mend that, so it goes as a decline.
    candidate = local_world.add_candidate()
    employer_id = unique_key("emp")
    card = local_world.saved_card_removed_by_its_holder(customer=employer_id)
    instance, v = start_unlock(
        process_engine, local_world, candidate_id=candidate, payment_method_ref=card, employer_id=employer_id
    )
    wait_until_element(process_engine.client, instance, "AwaitNewCard")
    [update_card] = local_world.mails_to(v["employer_email"])
    assert "Your card was declined (card no longer usable)" in update_card["text"]
    assert describe_instance(process_engine.client, instance)["incidents"] == []

    process_engine.client.publish_message(
        Message.PAYMENT_METHOD_UPDATED, v["unlock_id"], variables={"payment_method_ref": "pm_card_visa"}
    )
    wait_until_completed(process_engine.client, instance)
    assert [p["status"] for p in payment_intents(local_world, v["unlock_id"])] == ["succeeded"]


def test_a_declined_card_not_replaced_is_reminded_at_5_days_and_abandoned_at_7(process_engine, local_world):
    candidate = local_world.add_candidate()
    instance, v = start_unlock(
        process_engine, local_world, candidate_id=candidate, payment_method_ref="pm_card_chargeDeclined"
    )
    wait_until_element(process_engine.client, instance, "AwaitNewCard")

    # Two days before the end, one reminder with a fresh link to save a card; the wait goes on.
    process_engine.client.advance_clock(5 * ONE_DAY_MS + 60_000)
    wait_until_element(process_engine.client, instance, "EmployerRemindedOfCard", state="COMPLETED")
    [reminder] = [m for m in local_world.mails_to(v["employer_email"]) if m["subject"].startswith("Reminder")]
    assert "Two days are left" in reminder["text"] and "/unlocks/card/" in reminder["text"]
    wait_until_element(process_engine.client, instance, "AwaitNewCard")

    process_engine.client.advance_clock(2 * ONE_DAY_MS)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "NoNewCard", state="COMPLETED")
    wait_until_element(process_engine.client, instance, "UnlockCancelled", state="COMPLETED")
    [intent] = payment_intents(local_world, v["unlock_id"])
    assert intent["status"] == "requires_payment_method"  # nothing was charged
    assert not has_access(local_world, v["employer_id"], candidate)
    # The employer is told, not left to wonder.
    assert "did not receive a new card within 7 days" in cancellation_email(local_world, v)


def cancellation_email(local_world, v: dict) -> str:
    """The text of the unlock-cancelled email to the unlock's employer (one only)."""
    [mail] = [m for m in local_world.mails_to(v["employer_email"]) if m["subject"].endswith("is cancelled")]
    return " ".join(mail["text"].split())


def start_unlock_awaiting_confirmation(process_engine, local_world, payment_method_ref: str):
    """An unlock paid by a method that settles later, waiting for the provider's word."""
    candidate = local_world.add_candidate()
    instance, v = start_unlock(
        process_engine, local_world, candidate_id=candidate, payment_method_ref=payment_method_ref
    )
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")
    [intent] = payment_intents(local_world, v["unlock_id"])
    assert intent["status"] == "processing"
    return instance, v, candidate, intent


def test_an_asynchronous_payment_completes_when_its_confirmation_arrives(process_engine, local_world):
    instance, _, _, intent = start_unlock_awaiting_confirmation(process_engine, local_world, "pm_card_async")

    # What the payment webhook does when the gateway reports the payment settled.
    process_engine.client.publish_message(Message.PAYMENT_CONFIRMED, intent["id"])

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")


def test_a_bank_debit_still_processing_after_20_hours_reminds_nobody(process_engine, local_world):
    instance, v, _, intent = start_unlock_awaiting_confirmation(process_engine, local_world, "pm_card_async")

    process_engine.client.advance_clock(20 * ONE_HOUR_MS + 60_000)

    # The reminder timer fires, but a debit being processed needs nothing from the employer.
    wait_until_element(process_engine.client, instance, "NothingToRemind", state="COMPLETED")
    assert local_world.mails_to(v["employer_email"]) == []
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")  # still waiting
    process_engine.client.publish_message(Message.PAYMENT_CONFIRMED, intent["id"])
    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")


def test_an_asynchronous_payment_that_fails_asks_for_a_new_card_and_charges_it(process_engine, local_world):
    instance, v, candidate, intent = start_unlock_awaiting_confirmation(
        process_engine, local_world, "pm_sepa_debit"
    )

    # What the payment webhook does when the provider reports the debit bounced.
    local_world.payment_records.settle(intent["id"], succeeded=False)
    process_engine.client.publish_message(
        Message.PAYMENT_FAILED, intent["id"], variables={"decline_code": "insufficient_funds"}
    )
    wait_until_element(process_engine.client, instance, "AwaitNewCard")
    [mail] = local_world.mails_to(v["employer_email"])
    assert "declined (insufficient funds)" in mail["text"]

    process_engine.client.publish_message(
        Message.PAYMENT_METHOD_UPDATED, v["unlock_id"], variables={"payment_method_ref": "pm_card_visa"}
    )
    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "ContactDetailsUnlocked", state="COMPLETED")
    statuses = sorted(p["status"] for p in payment_intents(local_world, v["unlock_id"]))
    assert statuses == ["requires_payment_method", "succeeded"]  # the bounced debit, the new card
    assert has_access(local_world, v["employer_id"], candidate)


def test_an_unconfirmed_payment_is_cancelled_after_a_day(process_engine, local_world):
    instance, v, candidate, _ = start_unlock_awaiting_confirmation(
        process_engine, local_world, "pm_card_async"
    )

    process_engine.client.advance_clock(ONE_DAY_MS + 60_000)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "UnlockCancelled", state="COMPLETED")
    [intent] = payment_intents(local_world, v["unlock_id"])  # read again: now cancelled
    assert intent["status"] == "canceled"
    assert not has_access(local_world, v["employer_id"], candidate)
    assert "was not confirmed within a day" in cancellation_email(local_world, v)


def test_a_payment_that_succeeds_as_its_wait_ends_is_refunded_with_the_cancelled_unlock(
    process_engine, local_world
):
    instance, v, candidate, intent = start_unlock_awaiting_confirmation(
        process_engine, local_world, "pm_card_async"
    )
    # The debit settles at the provider, but its webhook is not in before the day is over.
    local_world.payment_records.settle(intent["id"], succeeded=True)

    process_engine.client.advance_clock(ONE_DAY_MS + 60_000)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "UnlockCancelled", state="COMPLETED")
    # Not an incident: a payment that can no longer be cancelled is given back, once.
    [refund] = refunds_of(local_world, intent["id"])
    assert refund["amount"] == intent["amount"]
    assert unlock_details(local_world, v["unlock_id"])["refunded"]["refund_id"] == refund["id"]
    assert not has_access(local_world, v["employer_id"], candidate)
    assert f"refunded in full (refund {refund['id']})" in cancellation_email(local_world, v)


def start_unlock_awaiting_approval(process_engine, local_world):
    """An unlock whose charge the employer's bank asks them to approve (3-D Secure): not a
    decline; the employer is emailed the link to approve it, and the unlock waits."""
    candidate = local_world.add_candidate()
    instance, v = start_unlock(
        process_engine,
        local_world,
        candidate_id=candidate,
        payment_method_ref="pm_card_authenticationRequired",
    )
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")
    wait_until_element(process_engine.client, instance, "EmailApprovePayment", state="COMPLETED")
    return instance, v, candidate


def test_a_payment_the_bank_asks_to_approve_is_reminded_then_cancelled_if_not_approved_in_a_day(
    process_engine, local_world
):
    instance, v, candidate = start_unlock_awaiting_approval(process_engine, local_world)
    [mail] = wait_for(
        lambda: local_world.mails_to(v["employer_email"]),
        what="the approve-the-payment email",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert "/unlocks/payment/" in mail["text"] and "20.00 EUR" in mail["text"]

    # Four hours before the day ends, one reminder with a fresh link; the wait goes on.
    process_engine.client.advance_clock(20 * ONE_HOUR_MS + 60_000)
    wait_until_element(process_engine.client, instance, "EmployerReminded", state="COMPLETED")
    [reminder] = [m for m in local_world.mails_to(v["employer_email"]) if m["subject"].startswith("Reminder")]
    assert "About four hours are left" in reminder["text"] and "/unlocks/payment/" in reminder["text"]
    wait_until_element(process_engine.client, instance, "AwaitConfirmation")

    process_engine.client.advance_clock(4 * ONE_HOUR_MS)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "UnlockCancelled", state="COMPLETED")
    # Cancelled at the provider, so a late approval can never take the money.
    [intent] = payment_intents(local_world, v["unlock_id"])
    assert intent["status"] == "canceled"
    assert not has_access(local_world, v["employer_id"], candidate)
    assert "was not confirmed within a day" in cancellation_email(local_world, v)


def test_a_reminder_due_as_the_approval_day_ends_is_not_sent_before_the_cancellation(
    process_engine, local_world
):
    instance, v, _ = start_unlock_awaiting_approval(process_engine, local_world)

    # An engine back after the day's end (down for its last hours) finds both timers due at
    # once: the reminder's first, and the unlock cancelled a moment later.
    process_engine.client.advance_clock(ONE_DAY_MS + 60_000)

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "NothingToRemind", state="COMPLETED")
    wait_until_element(process_engine.client, instance, "UnlockCancelled", state="COMPLETED")
    subjects = [m["subject"] for m in local_world.mails_to(v["employer_email"])]
    assert not [s for s in subjects if s.startswith("Reminder")], subjects
    assert "was not confirmed within a day" in cancellation_email(local_world, v)


def test_a_gateway_outage_is_retried_with_backoff_and_charges_once(process_engine, local_world):
    # Five 500s outlast the adapter's four quick tries, so the job itself fails once.
    requests.post(
        f"{local_world.payments_url}/_sandbox/faults", json={"next_count": {"server_error": 5}}, timeout=5
    ).raise_for_status()
    candidate = local_world.add_candidate()
    instance, v = start_unlock(process_engine, local_world, candidate_id=candidate)

    [failed] = wait_for(
        lambda: process_engine.client.search_jobs(
            processInstanceKey=instance, elementId="ChargeCard", state="FAILED"
        ),
        what="the charge job to fail and wait out its backoff",
        seen=lambda: describe_instance(process_engine.client, instance),
    )
    assert failed["retries"] == 4
    assert "4 retries left" in failed["errorMessage"]
    assert not process_engine.client.search_incidents(processInstanceKey=instance)

    # ChargeCard's headers set a 10 s backoff base: the retry waits for the engine's clock.
    process_engine.client.advance_clock(11_000)

    wait_until_completed(process_engine.client, instance)
    intents = payment_intents(local_world, v["unlock_id"])
    assert [p["status"] for p in intents] == ["succeeded"]
