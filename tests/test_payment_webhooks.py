"""The payment sandbox's webhooks: settled payments and saved cards reach the merchant, signed, once or more.

A local receiver stands in for the webapp, so each test can see every delivery and
answer it as it likes (a 503 makes the sandbox try again).
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

import pytest
import requests
from flask import Flask, request

from hireflow.adapters.payments import PaymentRequestRejected, StripeStylePaymentGateway
from hireflow.backoff import Backoff
from hireflow.sandboxes.payment_webhooks import WebhookSettings
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.serving import serve_in_thread
from hireflow.webhook_signing import SIGNATURE_HEADER, verify
from tests.engine_helpers import unique_key, wait_for

API_KEY = "sk_test_webhooks"
SECRET = "whsec_webhook_tests"


class Receiver:
    """A merchant endpoint that records each delivery and answers with the next planned status."""

    def __init__(self):
        self.deliveries: list[dict] = []
        self.planned_statuses: list[int] = []
        self._lock = threading.Lock()
        self.app = Flask("receiver")
        self.app.post("/webhooks/payments")(self._receive)

    def _receive(self):
        payload = request.get_data()
        with self._lock:
            self.deliveries.append({"payload": payload, "signature": request.headers.get(SIGNATURE_HEADER)})
            status = self.planned_statuses.pop(0) if self.planned_statuses else 200
        return {"received": True}, status

    def events(self) -> list[dict]:
        with self._lock:
            return [json.loads(d["payload"]) for d in self.deliveries]


@pytest.fixture
def receiver(serve):
    receiver = Receiver()
    receiver.url = serve(receiver.app).url + "/webhooks/payments"
    return receiver


@contextmanager
def sandbox_delivering_to(receiver, serve, folder, retry_backoff: Backoff):
    """The sandbox delivering to ``receiver``, settling quickly, retrying with ``retry_backoff``."""
    settings = WebhookSettings(
        url=receiver.url,
        secret=SECRET,
        settle_after_seconds=0.3,
        retry_backoff=retry_backoff,
        poll_seconds=0.05,
    )
    app = create_payment_sandbox(folder / "payments.sqlite3", API_KEY, webhooks=settings)
    try:
        yield serve(app)
    finally:
        app.extensions["payment_webhooks"].stop()


@pytest.fixture
def sandbox_with_webhooks(tmp_path, serve, receiver):
    """The sandbox delivering to ``receiver``: quick settlement and quick retries for tests."""
    with sandbox_delivering_to(
        receiver, serve, tmp_path, Backoff(base_seconds=0.05, cap_seconds=0.2)
    ) as sandbox:
        yield sandbox


def gateway(sandbox) -> StripeStylePaymentGateway:
    return StripeStylePaymentGateway(sandbox.url, API_KEY)


def sandbox_events(sandbox) -> list[dict]:
    return requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()


def wait_for_deliveries(receiver, count: int) -> list[dict]:
    return wait_for(
        lambda: receiver.events() if len(receiver.events()) >= count else None,
        what=f"{count} webhook deliveries",
        seen=receiver.events,
        timeout=15,
        interval=0.05,
    )


def test_an_asynchronous_payment_settles_and_its_event_arrives_signed(sandbox_with_webhooks, receiver):
    payment = gateway(sandbox_with_webhooks).charge(
        unlock_id=unique_key("unl"), amount=4900, currency="eur", payment_method="pm_card_async"
    )
    assert payment.status == "processing"

    [event] = wait_for_deliveries(receiver, 1)
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == payment.id
    assert event["data"]["object"]["status"] == "succeeded"
    delivery = receiver.deliveries[0]
    verify(delivery["payload"], delivery["signature"], SECRET)  # raises if the signature is wrong
    intent = requests.get(
        f"{sandbox_with_webhooks.url}/v1/payment_intents/{payment.id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    ).json()
    assert intent["status"] == "succeeded"


def test_a_payment_that_succeeds_at_once_raises_no_event(sandbox_with_webhooks, receiver):
    gateway(sandbox_with_webhooks).charge(
        unlock_id=unique_key("unl"), amount=4900, currency="eur", payment_method="pm_card_visa"
    )
    assert sandbox_events(sandbox_with_webhooks) == []


def test_a_delivery_the_merchant_refuses_is_tried_again_until_it_is_taken(sandbox_with_webhooks, receiver):
    receiver.planned_statuses = [503, 500, 503]
    payment = gateway(sandbox_with_webhooks).charge(
        unlock_id=unique_key("unl"), amount=4900, currency="eur", payment_method="pm_card_async"
    )
    wait_for(
        lambda: [e for e in sandbox_events(sandbox_with_webhooks) if e["delivered_at"]],
        what="the event delivered",
        seen=lambda: sandbox_events(sandbox_with_webhooks),
        timeout=15,
        interval=0.05,
    )
    [event] = sandbox_events(sandbox_with_webhooks)
    assert event["attempts"] == 4
    health = requests.get(f"{sandbox_with_webhooks.url}/healthz", timeout=5).json()
    assert health["webhooks"] == {
        "url": receiver.url,
        "undelivered": 0,
        "oldest_undelivered_seconds": None,
        "last_retry_in_seconds": None,
        "given_up": 0,
    }
    assert len(receiver.deliveries) == 4
    # Every attempt carries the same event, so the merchant's dedupe by event id holds.
    assert {e["id"] for e in receiver.events()} == {event["id"]}
    assert receiver.events()[0]["data"]["object"]["id"] == payment.id


def test_the_duplicate_webhook_fault_delivers_an_event_twice(sandbox_with_webhooks, receiver):
    requests.post(
        f"{sandbox_with_webhooks.url}/_sandbox/faults",
        json={"next_count": {"duplicate_webhook": 1}},
        timeout=5,
    ).raise_for_status()
    gateway(sandbox_with_webhooks).charge(
        unlock_id=unique_key("unl"), amount=4900, currency="eur", payment_method="pm_card_async"
    )
    first, second = wait_for_deliveries(receiver, 2)
    assert first == second


def saved_card(sandbox, card_id: str) -> dict:
    methods = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["payment_methods"]
    return next(m for m in methods if m["id"] == card_id)


def test_a_saved_card_is_attached_once_then_labelled_with_the_unlock(sandbox_with_webhooks, receiver):
    unlock_id = unique_key("unl")
    gw = gateway(sandbox_with_webhooks)
    gw.save_card(unlock_id=unlock_id, customer="emp-1", payment_method="pm_1Emp1Master")
    gw.save_card(unlock_id=unlock_id, customer="emp-1", payment_method="pm_1Emp1Master")  # a retry

    [event] = wait_for_deliveries(receiver, 1)
    assert event["type"] == "payment_method.attached"
    # Announced as attached, before the label: Stripe updates a card only once a customer
    # saved it, and the event shows the card as it was then.
    assert event["data"]["object"] == {
        "id": "pm_1Emp1Master",
        "object": "payment_method",
        "customer": "emp-1",
        "metadata": {},
    }
    assert saved_card(sandbox_with_webhooks, "pm_1Emp1Master")["metadata"] == {"unlock_id": unlock_id}
    assert len(sandbox_events(sandbox_with_webhooks)) == 1


def test_the_same_card_saved_after_another_declined_charge_is_attached_again(sandbox_with_webhooks, receiver):
    unlock_id = unique_key("unl")
    gw = gateway(sandbox_with_webhooks)
    for after_charge in ("1", "1", "2"):  # the second is a retry
        saved = gw.save_card(
            unlock_id=unlock_id,
            customer="emp-1",
            payment_method="pm_1Emp1Visa",
            after_charge=after_charge,
        )
        assert saved == "pm_1Emp1Visa"

    assert [e["type"] for e in wait_for_deliveries(receiver, 2)] == ["payment_method.attached"] * 2
    assert len(sandbox_events(sandbox_with_webhooks)) == 2
    card = saved_card(sandbox_with_webhooks, "pm_1Emp1Visa")
    assert card["metadata"] == {"unlock_id": unlock_id, "after_charge": "2"}


def test_a_card_of_another_customer_is_refused(sandbox_with_webhooks):
    gw = gateway(sandbox_with_webhooks)
    gw.save_card(unlock_id=unique_key("unl"), customer="emp-1", payment_method="pm_1Amex")
    with pytest.raises(PaymentRequestRejected, match="another customer"):
        gw.save_card(unlock_id=unique_key("unl"), customer="emp-2", payment_method="pm_1Amex")
    # Test cards are everybody's, as with Stripe.
    gw.save_card(unlock_id=unique_key("unl"), customer="emp-1", payment_method="pm_card_amex")
    gw.save_card(unlock_id=unique_key("unl"), customer="emp-2", payment_method="pm_card_amex")


def test_the_controls_settle_a_payment_now_and_refuse_one_that_is_not_processing(tmp_path, serve):
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", API_KEY))  # no webhooks
    gw = gateway(sandbox)
    pending = gw.charge(
        unlock_id=unique_key("unl"), amount=100, currency="eur", payment_method="pm_sepa_debit"
    )
    done = gw.charge(unlock_id=unique_key("unl"), amount=100, currency="eur", payment_method="pm_card_visa")

    failed = requests.post(f"{sandbox.url}/_sandbox/payment_intents/{pending.id}/fail", timeout=5)
    assert failed.status_code == 200 and failed.json()["status"] == "requires_payment_method"
    again = requests.post(f"{sandbox.url}/_sandbox/payment_intents/{pending.id}/succeed", timeout=5)
    assert again.status_code == 409
    assert (
        requests.post(f"{sandbox.url}/_sandbox/payment_intents/{done.id}/succeed", timeout=5).status_code
        == 409
    )
    assert (
        requests.post(f"{sandbox.url}/_sandbox/payment_intents/pi_nope/succeed", timeout=5).status_code == 404
    )
    # Without a webhook endpoint the event is still recorded, as a provider's event log keeps it.
    [event] = sandbox_events(sandbox)
    assert (event["type"], event["delivered_at"]) == ("payment_intent.payment_failed", None)
    backlog = requests.get(f"{sandbox.url}/healthz", timeout=5).json()["webhooks"]
    assert (backlog["url"], backlog["undelivered"]) == (None, 1)
    assert backlog["oldest_undelivered_seconds"] >= 0


def test_the_backlog_says_when_a_refused_delivery_is_tried_again(tmp_path, serve, receiver):
    # Backoff long enough to be seen: a refused delivery is late, not lost, while a retry is due.
    with sandbox_delivering_to(
        receiver, serve, tmp_path, Backoff(base_seconds=30.0, cap_seconds=30.0)
    ) as sandbox:
        receiver.planned_statuses = [503] * 20  # refused however soon the jittered retry comes
        gateway(sandbox).charge(
            unlock_id=unique_key("unl"), amount=4900, currency="eur", payment_method="pm_card_async"
        )

        def backlog_with_a_retry_due():
            backlog = requests.get(f"{sandbox.url}/healthz", timeout=5).json()["webhooks"]
            return backlog if backlog["last_retry_in_seconds"] else None

        backlog = wait_for(
            backlog_with_a_retry_due,
            what="the refused delivery's retry in the backlog",
            seen=lambda: sandbox_events(sandbox),
            timeout=15,
            interval=0.05,
        )
    assert backlog["undelivered"] == 1 and backlog["given_up"] == 0
    assert 0 < backlog["last_retry_in_seconds"] <= 30


def test_without_webhooks_an_asynchronous_payment_stays_processing(tmp_path, serve):
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", API_KEY))
    payment = gateway(sandbox).charge(
        unlock_id=unique_key("unl"), amount=100, currency="eur", payment_method="pm_card_async"
    )
    assert payment.status == "processing"
    assert sandbox_events(sandbox) == []


def test_undelivered_events_survive_a_restart_of_the_sandbox(tmp_path, receiver):
    db = tmp_path / "payments.sqlite3"
    first = serve_in_thread(create_payment_sandbox(db, API_KEY))  # delivering nowhere yet
    gateway(first).save_card(unlock_id=unique_key("unl"), customer="emp-9", payment_method="pm_card_visa")
    first.shutdown()

    settings = WebhookSettings(url=receiver.url, secret=SECRET, poll_seconds=0.05)
    app = create_payment_sandbox(db, API_KEY, webhooks=settings)
    try:
        [event] = wait_for_deliveries(receiver, 1)
        assert event["type"] == "payment_method.attached"
    finally:
        app.extensions["payment_webhooks"].stop()


def test_webhook_settings_come_from_the_environment():
    assert WebhookSettings.from_environment({}) is None
    assert WebhookSettings.from_environment({"PAYMENT_WEBHOOK_URL": " "}) is None
    settings = WebhookSettings.from_environment(
        {
            "PAYMENT_WEBHOOK_URL": "http://web/webhooks/payments",
            "PAYMENT_WEBHOOK_SECRET": "whsec_x",
            "PAYMENT_SETTLE_AFTER_SECONDS": "2.5",
        }
    )
    assert (settings.url, settings.secret, settings.settle_after_seconds) == (
        "http://web/webhooks/payments",
        "whsec_x",
        2.5,
    )
