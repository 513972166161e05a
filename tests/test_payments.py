"""The payment adapter against the payment sandbox, over real HTTP (issue 3, acceptance 2)."""

from __future__ import annotations

import pytest
import requests

from hireflow.adapters.payments import (
    PaymentDeclined,
    PaymentGatewayUnavailable,
    PaymentRequestRejected,
    StripeStylePaymentGateway,
    idempotency_key,
)
from hireflow.backoff import Backoff
from hireflow.sandboxes.payments import create_payment_sandbox
from tests.engine_helpers import unique_key

API_KEY = "sk_test_for_tests"


@pytest.fixture
def sandbox(tmp_path, serve):
    return serve(create_payment_sandbox(tmp_path / "payments.sqlite3", API_KEY, seed=7))


def set_faults(sandbox, **body) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=5).raise_for_status()


def ledger(sandbox) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()


def outcomes(sandbox) -> list[str]:
    return [r["outcome"] for r in requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()]


class RecordingSleep:
    """Stands in for time.sleep in the adapter: records the backoff delays it was asked for."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def gateway(sandbox, **kwargs) -> StripeStylePaymentGateway:
    return StripeStylePaymentGateway(sandbox.url, API_KEY, **kwargs)


def charge(gw, unlock_id, amount=4900, method="pm_card_visa"):
    return gw.charge(unlock_id=unlock_id, amount=amount, currency="eur", payment_method=method)


def test_the_same_charge_requested_twice_with_one_key_makes_one_payment(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    first, second = charge(gw, unlock), charge(gw, unlock)
    assert first == second
    assert first.status == "succeeded"
    assert len(ledger(sandbox)["payment_intents"]) == 1
    assert outcomes(sandbox) == ["committed_200", "replayed"]


def test_a_lost_response_followed_by_a_retry_makes_one_payment(sandbox):
    set_faults(sandbox, next_count={"lost_response": 1}, delay_seconds=1.0)
    sleeps = RecordingSleep()
    payment = charge(gateway(sandbox, timeout_seconds=0.3, sleep=sleeps), unique_key("unlock"))
    assert payment.status == "succeeded"
    assert [p["id"] for p in ledger(sandbox)["payment_intents"]] == [payment.id]
    assert outcomes(sandbox) == ["committed_response_lost", "replayed"]
    assert len(sleeps.delays) == 1


def test_injected_server_errors_are_retried_with_growing_backoff(sandbox):
    set_faults(sandbox, next_count={"server_error": 3})
    sleeps = RecordingSleep()
    backoff = Backoff(base_seconds=0.5, cap_seconds=30)
    payment = charge(gateway(sandbox, attempts=4, backoff=backoff, sleep=sleeps), unique_key("unlock"))
    assert payment.status == "succeeded"
    assert outcomes(sandbox) == ["injected_server_error"] * 3 + ["committed_200"]
    assert len(sleeps.delays) == 3
    ceilings = [backoff.ceiling(attempt) for attempt in (1, 2, 3)]
    assert ceilings == [0.5, 1.0, 2.0]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(sleeps.delays, ceilings, strict=True))
    assert len(ledger(sandbox)["payment_intents"]) == 1


def test_an_outage_that_outlasts_the_retries_says_what_to_do(sandbox):
    set_faults(sandbox, rates={"server_error": 1.0})
    with pytest.raises(PaymentGatewayUnavailable, match="no answer in 3 quick tries"):
        charge(gateway(sandbox, attempts=3, sleep=RecordingSleep()), unique_key("unlock"))
    assert ledger(sandbox)["payment_intents"] == []


def test_a_timeout_before_anything_was_stored_is_retried_and_charges_once(sandbox):
    set_faults(sandbox, next_count={"timeout": 1}, delay_seconds=1.0)
    payment = charge(gateway(sandbox, timeout_seconds=0.3, sleep=RecordingSleep()), unique_key("unlock"))
    assert payment.status == "succeeded"
    assert outcomes(sandbox) == ["injected_timeout", "committed_200"]


def test_a_declined_card_raises_payment_declined_and_stays_declined_on_retry(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as declined:
            charge(gw, unlock, method="pm_card_chargeDeclined")
        assert declined.value.decline_code == "generic_decline"
    intents = ledger(sandbox)["payment_intents"]
    assert [i["status"] for i in intents] == ["requires_payment_method"]
    assert declined.value.payment_id == intents[0]["id"]


def test_a_payment_that_settles_later_asks_the_process_to_wait(sandbox):
    payment = charge(gateway(sandbox), unique_key("unlock"), method="pm_sepa_debit")
    assert payment.status == "processing"
    assert payment.needs_confirmation


def test_reusing_a_key_with_other_parameters_is_rejected_without_retries(sandbox):
    gw, unlock = gateway(sandbox, sleep=RecordingSleep()), unique_key("unlock")
    charge(gw, unlock, amount=4900)
    with pytest.raises(PaymentRequestRejected, match="same parameters"):
        charge(gw, unlock, amount=9900)
    assert len(ledger(sandbox)["payment_intents"]) == 1


def test_a_refund_requested_twice_refunds_once(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock)
    first = gw.refund(unlock_id=unlock, payment_id=payment.id)
    second = gw.refund(unlock_id=unlock, payment_id=payment.id)
    assert first == second
    assert first.amount == payment.amount
    assert len(ledger(sandbox)["refunds"]) == 1


def test_a_wrong_api_key_is_rejected(sandbox):
    wrong = StripeStylePaymentGateway(sandbox.url, "sk_test_wrong")
    with pytest.raises(PaymentRequestRejected, match="401"):
        charge(wrong, unique_key("unlock"))


def test_cards_can_be_made_to_decline_on_request(sandbox):
    set_faults(sandbox, declined_payment_methods=["pm_card_visa"])
    with pytest.raises(PaymentDeclined):
        charge(gateway(sandbox), unique_key("unlock"), method="pm_card_visa")


def test_keys_are_derived_from_the_unlock_and_the_step():
    assert idempotency_key("u-1", "charge") == "hireflow-unlock-u-1-charge"
    assert idempotency_key("u-1", "charge") != idempotency_key("u-1", "refund")


@pytest.mark.parametrize(
    "body",
    [
        {"rates": {"meteor": 0.5}},
        {"rates": {"server_error": 2}},
        {"next_count": {"timeout": -1}},
        {"declined_payment_methods": 5},
        [],
    ],
)
def test_bad_fault_settings_get_a_clear_400(sandbox, body):
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["message"]
