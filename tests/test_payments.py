"""The payment adapter against the payment sandbox, over real HTTP (issue 3, acceptance 2)."""

from __future__ import annotations

import sqlite3

import pytest
import requests
from flask import Flask

from hireflow.adapters.payments import (
    CARD_UNUSABLE,
    STRIPE_API_VERSION,
    PaymentDeclined,
    PaymentGatewayUnavailable,
    PaymentOfAnotherUnlock,
    PaymentRequestRejected,
    StripeStylePaymentGateway,
    idempotency_key,
    names_an_unusable_card,
)
from hireflow.backoff import Backoff
from hireflow.sandboxes.payments import DECLINE_CODES, create_payment_sandbox
from tests.concurrency import race
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


def test_the_same_charge_requested_by_many_workers_at_once_makes_one_payment(sandbox):
    # A job delivered again while its first delivery still waits for the provider.
    unlock = unique_key("unlock")

    def pay(_):
        return charge(gateway(sandbox), unlock).id

    paid = race(pay, [str(n) for n in range(8)])

    assert len(set(paid)) == 1, paid
    assert [p["id"] for p in ledger(sandbox)["payment_intents"]] == paid[:1]
    assert outcomes(sandbox).count("committed_200") == 1
    assert set(outcomes(sandbox)) <= {"committed_200", "replayed", "idempotency_key_in_use"}


def test_a_charge_sent_while_another_with_its_key_is_under_way_is_retried_until_that_one_ends(sandbox):
    # Stripe answers 409 then instead of waiting: the adapter retries with the same key.
    unlock = unique_key("unlock")
    keys_in_use = sandbox.server.app.extensions["payment_keys_in_use"]
    sleeps = RecordingSleep()
    with keys_in_use.hold(API_KEY, idempotency_key(unlock, "charge-1")) as free:
        assert free
        with pytest.raises(PaymentGatewayUnavailable, match="HTTP 409: There is currently another"):
            charge(gateway(sandbox, attempts=2, sleep=sleeps), unlock)
    payment = charge(gateway(sandbox), unlock)  # the first one ended without a charge

    assert payment.status == "succeeded"
    assert outcomes(sandbox) == ["idempotency_key_in_use"] * 2 + ["committed_200"]
    assert len(sleeps.delays) == 1


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


@pytest.mark.parametrize(
    ("answer", "media_type"), [("<html>Sign in</html>", "text/html"), ("[]", "application/json")]
)
def test_an_address_that_names_another_server_is_said_when_the_retries_are_spent(serve, answer, media_type):
    # Was a JSONDecodeError (or a TypeError): an incident saying "probably a bug".
    not_the_provider = Flask("not_the_provider")
    not_the_provider.add_url_rule(
        "/<path:anything>",
        "any",
        lambda anything: (answer, 200, {"Content-Type": media_type}),
        methods=["POST"],
    )
    server = serve(not_the_provider)
    with pytest.raises(
        PaymentGatewayUnavailable, match=f"no JSON object \\({media_type}\\).*names the provider"
    ):
        charge(gateway(server, attempts=2, sleep=RecordingSleep()), "u-1")


def test_a_timeout_before_anything_was_stored_is_retried_and_charges_once(sandbox):
    set_faults(sandbox, next_count={"timeout": 1}, delay_seconds=1.0)
    payment = charge(gateway(sandbox, timeout_seconds=0.3, sleep=RecordingSleep()), unique_key("unlock"))
    assert payment.status == "succeeded"
    assert outcomes(sandbox) == ["injected_timeout", "committed_200"]


def test_a_charge_retried_after_the_provider_forgot_its_key_still_charges_once(sandbox):
    # Stripe forgets idempotency keys after 24 hours; an incident may be retried later than that.
    gw, unlock = gateway(sandbox, sleep=RecordingSleep(), attempts=1), unique_key("unlock")
    set_faults(sandbox, next_count={"lost_response": 1}, delay_seconds=0.5)
    with pytest.raises(PaymentGatewayUnavailable):
        StripeStylePaymentGateway(sandbox.url, API_KEY, timeout_seconds=0.2, attempts=1).charge(
            unlock_id=unlock, amount=4900, currency="eur", payment_method="pm_card_visa"
        )
    expired = requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5).json()
    assert expired["forgotten"] >= 1

    payment = charge(gw, unlock)

    [intent] = ledger(sandbox)["payment_intents"]
    assert (payment.id, payment.status) == (intent["id"], "succeeded")
    # A new attempt (a new card after a decline) is a new charge.
    gw.charge(unlock_id=unlock, amount=4900, currency="eur", payment_method="pm_card_visa", attempt="2")
    assert len(ledger(sandbox)["payment_intents"]) == 2


def test_a_declined_charge_found_again_is_still_a_decline_with_its_code(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    with pytest.raises(PaymentDeclined):
        charge(gw, unlock, method="pm_card_chargeDeclinedExpiredCard")
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5).raise_for_status()
    with pytest.raises(PaymentDeclined) as again:
        charge(gw, unlock, method="pm_card_chargeDeclinedExpiredCard")
    assert again.value.decline_code == "expired_card"
    assert len(ledger(sandbox)["payment_intents"]) == 1


def test_a_refund_or_cancellation_retried_after_the_provider_forgot_its_key_is_done_once(sandbox):
    gw, unlock = gateway(sandbox, sleep=RecordingSleep()), unique_key("unlock")
    payment = charge(gw, unlock)
    first = gw.refund(unlock_id=unlock, payment_id=payment.id)
    pending_unlock = unique_key("unlock")
    pending = charge(gw, pending_unlock, method="pm_sepa_debit")
    gw.cancel(unlock_id=pending_unlock, payment_id=pending.id)
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5).raise_for_status()

    # The provider refuses both as done already; the adapter takes what was done as the answer.
    assert gw.refund(unlock_id=unlock, payment_id=payment.id) == first
    assert gw.cancel(unlock_id=pending_unlock, payment_id=pending.id).status == "canceled"
    assert len(ledger(sandbox)["refunds"]) == 1


def test_a_declined_payment_cancelled_later_keeps_why_it_was_declined(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    with pytest.raises(PaymentDeclined) as declined:
        charge(gw, unlock, method="pm_card_chargeDeclinedInsufficientFunds")
    gw.cancel(unlock_id=unlock, payment_id=declined.value.payment_id)
    [intent] = ledger(sandbox)["payment_intents"]
    assert intent["status"] == "canceled"
    assert intent["last_payment_error"]["decline_code"] == "insufficient_funds"


def call_api(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    """One request to the sandbox's Stripe-style API, as hireflow's key."""
    return requests.request(
        method, f"{sandbox.url}{path}", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5, **kwargs
    )


def test_the_sandbox_search_refuses_a_query_it_does_not_speak(sandbox):
    response = call_api(sandbox, "GET", "/v1/payment_intents/search", params={"query": "amount>100"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "query"


def test_the_sandbox_updates_a_card_only_once_a_customer_saved_it(sandbox):
    unsaved = call_api(sandbox, "POST", "/v1/payment_methods/pm_1NeverSaved", data={"metadata[a]": "b"})
    assert unsaved.status_code == 400
    assert unsaved.json()["error"]["message"] == (
        "You must save this PaymentMethod to a customer before you can update it."
    )
    call_api(sandbox, "POST", "/v1/payment_methods/pm_1NeverSaved/attach", data={"customer": "cus_1"})
    saved = call_api(sandbox, "POST", "/v1/payment_methods/pm_1NeverSaved", data={"metadata[a]": "b"})
    assert saved.status_code == 200 and saved.json()["metadata"] == {"a": "b"}


def test_a_declined_card_raises_payment_declined_and_stays_declined_on_retry(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as declined:
            charge(gw, unlock, method="pm_card_chargeDeclined")
        assert declined.value.decline_code == "generic_decline"
    intents = ledger(sandbox)["payment_intents"]
    assert [i["status"] for i in intents] == ["requires_payment_method"]
    assert declined.value.payment_id == intents[0]["id"]


@pytest.mark.parametrize(("card", "decline_code"), sorted(DECLINE_CODES.items()))
def test_stripes_declining_test_cards_decline_with_their_codes(sandbox, card, decline_code):
    with pytest.raises(PaymentDeclined) as declined:
        charge(gateway(sandbox), unique_key("unlock"), method=card)
    assert declined.value.decline_code == decline_code


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


def test_a_refund_or_cancellation_of_another_unlocks_payment_is_refused_and_nothing_moves(sandbox):
    # The payment_id variable, set by hand in Operate or by an admin start, names the
    # payment; before, the adapter refunded or cancelled whatever payment it named.
    gw, unlock, other, another = gateway(sandbox), unique_key("unlock"), unique_key("unlock"), unique_key("u")
    paid = charge(gw, other)
    pending = charge(gw, another, method="pm_sepa_debit")
    for undo in (gw.refund, gw.cancel):
        for payment, made_for in ((paid, other), (pending, another)):
            with pytest.raises(
                PaymentOfAnotherUnlock, match=f"was made for unlock {made_for}, not for unlock"
            ):
                undo(unlock_id=unlock, payment_id=payment.id)
    assert ledger(sandbox)["refunds"] == []
    assert sorted(i["status"] for i in ledger(sandbox)["payment_intents"]) == ["processing", "succeeded"]
    assert gw.refund(unlock_id=other, payment_id=paid.id).amount == paid.amount  # its own unlock may


def test_a_wrong_api_key_is_rejected(sandbox):
    wrong = StripeStylePaymentGateway(sandbox.url, "sk_test_wrong")
    with pytest.raises(PaymentRequestRejected, match="401"):
        charge(wrong, unique_key("unlock"))


def test_cards_can_be_made_to_decline_on_request(sandbox):
    set_faults(sandbox, declined_payment_methods=["pm_card_visa"])
    with pytest.raises(PaymentDeclined):
        charge(gateway(sandbox), unique_key("unlock"), method="pm_card_visa")


class RecordingSession(requests.Session):
    """A real session that keeps what each request sent: method, headers, parameters."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, dict, dict]] = []

    def request(self, method, url, headers=None, data=None, params=None, **kwargs):
        self.sent.append((method, dict(headers or {}), dict(data or params or {})))
        return super().request(method, url, headers=headers, data=data, params=params, **kwargs)


def test_a_charge_is_off_session_with_the_customer_and_never_redirects(sandbox):
    session = RecordingSession()
    gw = gateway(sandbox, session=session)
    gw.charge(unlock_id="u-1", amount=900, currency="eur", payment_method="pm_card_visa", customer="cus_E1")
    [search, (method, headers, params)] = session.sent
    assert search[0] == "GET" and method == "POST"
    # The employer is not there to authenticate or to follow a redirect.
    assert params["off_session"] == "true"
    assert params["automatic_payment_methods[allow_redirects]"] == "never"
    assert params["customer"] == "cus_E1"
    # Pinned, so the account's default version cannot change the answers read here.
    assert headers["Stripe-Version"] == STRIPE_API_VERSION
    [intent] = ledger(sandbox)["payment_intents"]
    assert intent["customer"] == "cus_E1"


def test_a_confirmation_that_may_redirect_needs_a_return_url_as_on_stripe(sandbox):
    params = {"amount": "900", "currency": "eur", "payment_method": "pm_card_visa", "confirm": "true"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    refused = requests.post(f"{sandbox.url}/v1/payment_intents", data=params, headers=headers, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "return_url"
    with_return_url = {**params, "return_url": "https://hireflow.example/done"}
    accepted = requests.post(
        f"{sandbox.url}/v1/payment_intents", data=with_return_url, headers=headers, timeout=5
    )
    assert accepted.status_code == 200


def test_what_a_header_or_a_form_may_hold_gets_a_clear_400_or_401(sandbox):
    params = {"amount": "900", "currency": "eur", "payment_method": "pm_card_visa"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    # Each was a 500: compare_digest refuses a non-ASCII letter, int() "²" and 4,300 digits.
    foreign_key = requests.post(
        f"{sandbox.url}/v1/payment_intents", data=params, headers={"Authorization": "Bearer \xe9"}, timeout=5
    )
    assert foreign_key.status_code == 401
    for amount in ("\u00b2", "9" * 5000):
        response = requests.post(
            f"{sandbox.url}/v1/payment_intents", data={**params, "amount": amount}, headers=headers, timeout=5
        )
        assert response.status_code == 400 and response.json()["error"]["param"] == "amount"


def test_a_card_saved_for_a_customer_is_charged_only_with_that_customer(sandbox):
    gw = gateway(sandbox, sleep=RecordingSleep())
    gw.save_card(unlock_id="u-2", customer="cus_E2", payment_method="pm_1E2Visa")
    for customer in (None, "cus_Other"):
        with pytest.raises(PaymentRequestRejected, match="belongs to a Customer"):
            gw.charge(
                unlock_id=unique_key("unlock"),
                amount=900,
                currency="eur",
                payment_method="pm_1E2Visa",
                customer=customer,
            )
    paid = gw.charge(
        unlock_id=unique_key("unlock"),
        amount=900,
        currency="eur",
        payment_method="pm_1E2Visa",
        customer="cus_E2",
    )
    assert paid.status == "succeeded"
    # Stripe's test cards make a new card each time: any customer may use them.
    assert charge(gw, unique_key("unlock"), method="pm_card_visa").status == "succeeded"


def detach(sandbox, payment_method: str) -> requests.Response:
    """Remove a saved card from its customer, as an employer does in the billing portal."""
    return requests.post(
        f"{sandbox.url}/v1/payment_methods/{payment_method}/detach",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )


def test_a_card_removed_by_its_holder_is_declined_as_no_longer_usable(sandbox):
    gw = gateway(sandbox, sleep=RecordingSleep())
    gw.save_card(unlock_id="u-3", customer="cus_E3", payment_method="pm_1E3Visa")
    detached = detach(sandbox, "pm_1E3Visa")
    assert detached.status_code == 200
    # Stripe's shape: a removed card shows only by having no customer.
    assert detached.json()["customer"] is None
    assert set(detached.json()) == {"id", "object", "customer", "metadata"}
    unlock_id = unique_key("unlock")
    for _retry in range(2):  # a retry of the job meets the same answer
        with pytest.raises(PaymentDeclined) as declined:
            gw.charge(
                unlock_id=unlock_id,
                amount=900,
                currency="eur",
                payment_method="pm_1E3Visa",
                customer="cus_E3",
            )
        assert declined.value.decline_code == CARD_UNUSABLE
        assert "may not be used again" in str(declined.value)
    assert ledger(sandbox)["payment_intents"] == []
    # Nor can it be saved again: the card page tells the employer at once.
    with pytest.raises(PaymentRequestRejected, match="may not be used again"):
        gw.save_card(unlock_id=unlock_id, customer="cus_E3", payment_method="pm_1E3Visa")


def test_the_sandbox_detaches_only_a_saved_card(sandbox):
    not_attached = detach(sandbox, "pm_1NeverSaved")
    assert not_attached.status_code == 400
    assert "not attached to a customer" in not_attached.json()["error"]["message"]
    # Test cards stand for a new card at each use; detaching one would break every other use.
    assert detach(sandbox, "pm_card_visa").status_code == 400
    assert charge(gateway(sandbox), unique_key("unlock")).status == "succeeded"


@pytest.mark.parametrize(
    ("code", "param", "message", "blames_the_card"),
    [
        ("resource_missing", "payment_method", "No such PaymentMethod: 'pm_x'", True),
        ("payment_method_unexpected_state", None, "The card is in an unexpected state", True),
        (None, None, "... or was detached from a Customer. It may not be used again. ...", True),
        (None, "customer", "The PaymentMethod pm_x belongs to a Customer", False),
        ("parameter_invalid_integer", "amount", "Invalid integer: abc", False),
        ("idempotency_key_in_use", None, "Keys for idempotent requests ...", False),
    ],
)
def test_only_a_refusal_that_blames_the_card_asks_for_a_new_one(code, param, message, blames_the_card):
    refused = PaymentRequestRejected(f"/v1/payment_intents refused with 400: {message}", code, param)
    assert names_an_unusable_card(refused) is blames_the_card


def create_older_intents_table(db: sqlite3.Connection) -> None:
    """The payment intents table as the first sandbox made it, before the columns added since."""
    db.execute(
        "CREATE TABLE payment_intents (id TEXT PRIMARY KEY, amount INTEGER NOT NULL,"
        " currency TEXT NOT NULL, payment_method TEXT NOT NULL, status TEXT NOT NULL,"
        " metadata TEXT NOT NULL, created REAL NOT NULL)"
    )


def test_a_ledger_kept_by_an_older_sandbox_gains_the_new_columns(tmp_path, serve):
    # make run keeps the sandbox's ledger in var/ from one release to the next.
    path = tmp_path / "payments.sqlite3"
    with sqlite3.connect(path) as old:
        create_older_intents_table(old)
        old.execute(
            "INSERT INTO payment_intents VALUES ('pi_old', 900, 'eur', 'pm_card_visa', 'succeeded', '{}', 1)"
        )
        old.execute(
            "CREATE TABLE payment_methods (id TEXT PRIMARY KEY, customer TEXT, metadata TEXT NOT NULL)"
        )
        old.execute("INSERT INTO payment_methods VALUES ('pm_1OldVisa', 'cus_Old', '{}')")
    sandbox = serve(create_payment_sandbox(path, API_KEY))
    assert charge(gateway(sandbox), unique_key("unlock")).status == "succeeded"
    assert [i["id"] for i in ledger(sandbox)["payment_intents"]][0] == "pi_old"
    assert detach(sandbox, "pm_1OldVisa").status_code == 200


def test_the_sandbox_search_finds_intents_by_their_metadata_also_in_an_older_ledger(tmp_path, serve):
    # Its metadata index is filled from the intents of a ledger kept from before it.
    path = tmp_path / "payments.sqlite3"
    with sqlite3.connect(path) as old:
        create_older_intents_table(old)
        for number, attempt in ((1, "1"), (2, "2")):
            metadata = f'{{"unlock_id": "u-old", "attempt": "{attempt}"}}'
            old.execute(
                "INSERT INTO payment_intents VALUES (?, 900, 'eur', 'pm_card_visa', 'succeeded', ?, ?)",
                (f"pi_old{number}", metadata, number),
            )
    sandbox = serve(create_payment_sandbox(path, API_KEY))

    def search(query: str) -> list[str]:
        found = call_api(sandbox, "GET", "/v1/payment_intents/search", params={"query": query})
        return [intent["id"] for intent in found.json()["data"]]

    assert search("metadata['unlock_id']:'u-old'") == ["pi_old2", "pi_old1"]  # newest first
    assert search("metadata['unlock_id']:'u-old' AND metadata['attempt']:'1'") == ["pi_old1"]
    assert search("metadata['unlock_id']:'u-other'") == []
    paid = charge(gateway(sandbox), "u-new")
    assert search("metadata['unlock_id']:'u-new'") == []  # the search lags a minute behind
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5).raise_for_status()
    assert search("metadata['unlock_id']:'u-new'") == [paid.id]


def test_keys_are_derived_from_the_unlock_and_the_step():
    assert idempotency_key("u-1", "charge") == "hireflow-unlock-u-1-charge"
    assert idempotency_key("u-1", "charge") != idempotency_key("u-1", "refund")
    # An id from an admin start may hold anything; the key stays a header and stays its own.
    assert idempotency_key("Zoë\r\n 1", "charge") == "hireflow-unlock-Zo%C3%AB%0D%0A%201-charge"
    # Stripe takes keys of up to 255 characters: a longer one ends in the whole key's digest.
    long_id = "u" * 300
    long_key = idempotency_key(long_id, "refund-pi_1")
    assert len(long_key) == 255 and long_key.startswith("hireflow-unlock-uuu")
    assert long_key == idempotency_key(long_id, "refund-pi_1")
    assert long_key != idempotency_key(long_id, "refund-pi_2")
    assert len(idempotency_key("Zoë" * 100, "charge-1")) == 255  # percent-encoding lengthens it


def test_the_sandbox_refuses_an_idempotency_key_longer_than_stripe_takes(sandbox):
    params = {
        "amount": "500",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "automatic_payment_methods[allow_redirects]": "never",
    }
    url, headers = f"{sandbox.url}/v1/payment_intents", {"Authorization": f"Bearer {API_KEY}"}
    refused = requests.post(url, data=params, headers={**headers, "Idempotency-Key": "k" * 256}, timeout=5)
    assert refused.status_code == 400 and "255" in refused.json()["error"]["message"]
    assert ledger(sandbox)["payment_intents"] == []
    taken = requests.post(url, data=params, headers={**headers, "Idempotency-Key": "k" * 255}, timeout=5)
    assert taken.status_code == 200
    # An unlock whose id makes a long key still charges once, however often it is asked.
    long_id = "u" * 300
    assert charge(gateway(sandbox), long_id) == charge(gateway(sandbox), long_id)
    assert len(ledger(sandbox)["payment_intents"]) == 2


def test_the_sandbox_refuses_metadata_beyond_stripes_limits(sandbox):
    # A charge's metadata names its unlock, so an id longer than Stripe keeps is refused
    # there, and must be here too: an incident at once, not a charge the sandbox alone makes.
    with pytest.raises(PaymentRequestRejected, match="up to 500"):
        charge(gateway(sandbox, sleep=RecordingSleep()), "u" * 501)
    assert ledger(sandbox)["payment_intents"] == []


@pytest.mark.parametrize("odd_id", ["pi_Zoë", "pi_1\r\nX-Injected: 1", "../v1/refunds", "pi_1?amount=1"])
def test_an_id_no_provider_made_is_refused_as_unknown_not_crashed_on(sandbox, odd_id):
    # Such ids reach the workers only through an admin start; their request is the provider's
    # to refuse (an incident that names the id), not an error in building it.
    gw = gateway(sandbox, sleep=RecordingSleep())
    with pytest.raises(PaymentRequestRejected):
        gw.refund(unlock_id=odd_id, payment_id=odd_id)
    with pytest.raises(PaymentRequestRejected):
        gw.cancel(unlock_id=odd_id, payment_id=odd_id)
    with pytest.raises(PaymentRequestRejected):
        gw.save_card(unlock_id=odd_id, customer="cus_1", payment_method=odd_id)


@pytest.mark.parametrize(
    "body",
    [
        {"rates": {"meteor": 0.5}},
        {"rates": {"server_error": 2}},
        {"next_count": {"timeout": -1}},
        {"declined_payment_methods": 5},
        {"rates": [1]},  # not keyed by kind: was a 500 (AttributeError)
        {"rates": {"server_error": "all"}},
        {"rates": {"server_error": True}},
        {"next_count": {"timeout": 1.5}},
        {"delay_seconds": -1},  # was kept, though time.sleep refuses it when a fault fires
        {"delay_seconds": 86400},
        [],
        b"[" * 5000 + b"]" * 5000,  # nested deeper than Python's parser follows: was a 500
    ],
)
def test_bad_fault_settings_get_a_clear_400(sandbox, body):
    sent = (
        {"data": body, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body}
    )
    response = requests.post(f"{sandbox.url}/_sandbox/faults", **sent, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_a_card_whose_bank_asks_for_approval_waits_for_its_holder_not_declined(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock, method="pm_card_authenticationRequired")
    assert (payment.status, payment.needs_cardholder) == ("requires_authentication", True)
    # A redelivered job finds the same payment, still waiting, and charges nothing new.
    assert charge(gw, unlock, method="pm_card_authenticationRequired") == payment
    [intent] = ledger(sandbox)["payment_intents"]
    assert (intent["id"], intent["status"]) == (payment.id, "requires_payment_method")
    assert intent["last_payment_error"]["decline_code"] == "authentication_required"


@pytest.mark.parametrize(
    ("outcome", "status", "event"),
    [
        ("complete", "succeeded", "payment_intent.succeeded"),
        ("fail", "requires_payment_method", "payment_intent.payment_failed"),
    ],
)
def test_the_cardholder_approves_at_their_banks_page_and_returns(sandbox, outcome, status, event):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock, method="pm_card_authenticationRequired")
    back = "http://hireflow.test/unlocks/payment/TOKEN/return"
    bank_url = gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url=back)
    assert bank_url == f"{sandbox.url}/_sandbox/3ds/{payment.id}"
    # Asked again (the employer clicked twice, or came back later), the same page.
    assert gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url=back) == bank_url
    page = requests.get(bank_url, timeout=5)
    assert page.status_code == 200 and "Complete authentication" in page.text and "49.00 EUR" in page.text
    answered = requests.post(bank_url, data={"outcome": outcome}, allow_redirects=False, timeout=5)
    assert answered.status_code == 303
    redirect_status = "succeeded" if outcome == "complete" else "failed"
    assert (
        answered.headers["Location"]
        == f"{back}?payment_intent={payment.id}&redirect_status={redirect_status}"
    )
    [intent] = ledger(sandbox)["payment_intents"]
    assert intent["status"] == status and intent["next_action"] is None
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["type"] for e in events] == [event]
    # Done either way: a second answer changes nothing.
    assert requests.post(bank_url, data={"outcome": "complete"}, timeout=5).status_code == 409
    if outcome == "complete":
        assert gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url=back) is None
    else:
        with pytest.raises(PaymentRequestRejected) as rejected:
            gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url=back)
        assert rejected.value.reason == "this payment is declined; it can no longer be approved"


def test_a_payment_cancelled_while_it_waited_can_no_longer_be_approved(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock, method="pm_card_authenticationRequired")
    bank_url = gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url="http://hireflow.test/r")
    assert gw.cancel(unlock_id=unlock, payment_id=payment.id).status == "canceled"
    with pytest.raises(PaymentRequestRejected) as rejected:
        gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url="http://hireflow.test/r")
    assert rejected.value.reason == "this payment is cancelled; it can no longer be approved"
    assert requests.post(bank_url, data={"outcome": "complete"}, timeout=5).status_code == 409


def test_a_card_declined_on_approval_is_a_decline_and_its_webhook_fails_the_payment(sandbox):
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock, method="pm_card_authenticationRequired")
    # Confirmed again with a card that is declined (as by the provider's own page).
    declined = requests.post(
        f"{sandbox.url}/v1/payment_intents/{payment.id}/confirm",
        data={"payment_method": "pm_card_chargeDeclined", "off_session": "true"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert declined.status_code == 402
    [intent] = ledger(sandbox)["payment_intents"]
    assert intent["last_payment_error"]["decline_code"] == "generic_decline"
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["type"] for e in events] == ["payment_intent.payment_failed"]
    with pytest.raises(PaymentRequestRejected) as rejected:
        gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url="http://hireflow.test/r")
    assert rejected.value.reason == "this payment is declined; it can no longer be approved"


def test_the_bank_page_is_linked_where_browsers_reach_the_sandbox(tmp_path, serve):
    # In docker compose the services call it http://payment-sandbox:8101, which no browser resolves.
    sandbox = serve(
        create_payment_sandbox(tmp_path / "p.sqlite3", API_KEY, public_url="http://localhost:8101/")
    )
    gw, unlock = gateway(sandbox), unique_key("unlock")
    payment = charge(gw, unlock, method="pm_card_threeDSecure2Required")
    bank_url = gw.authenticate(unlock_id=unlock, payment_id=payment.id, return_url="http://hireflow.test/r")
    assert bank_url == f"http://localhost:8101/_sandbox/3ds/{payment.id}"
