"""Payment gateway adapter: a Stripe-style API over ``requests``.

Every charge and refund carries an ``Idempotency-Key`` derived from the unlock id and
the step, so a retry (here, or a redelivered Zeebe job) can never charge twice, even
when the first request succeeded and only its response was lost.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests

from hireflow.backoff import Backoff
from hireflow.errors import BusinessOutcome, PermanentFailure

log = logging.getLogger(__name__)

# In-process retries stay short; longer outages go back to Zeebe as job retries with backoff.
QUICK_RETRY_BACKOFF = Backoff(base_seconds=0.25, cap_seconds=4.0)
# Pinned, as Stripe advises, so a change of the account's default version cannot change
# the answers this adapter reads.
STRIPE_API_VERSION = "2024-06-20"
# Stripe takes idempotency keys of up to 255 characters.
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class PaymentError(Exception):
    """Base of the payment adapter's errors."""


class PaymentDeclined(PaymentError, BusinessOutcome):
    """The card was declined: a business outcome (BPMN error ``PAYMENT_DECLINED``)."""

    error_code = "PAYMENT_DECLINED"

    def variables(self) -> dict[str, Any]:
        return {"decline_code": self.decline_code, **self.process_variables}

    def __init__(self, message: str, decline_code: str | None, payment_id: str | None):
        super().__init__(message)
        self.decline_code = decline_code
        self.payment_id = payment_id
        # What the worker that charged also tells the process with the decline.
        self.process_variables: dict[str, Any] = {}


class PaymentRequestRejected(PaymentError, PermanentFailure):
    """The gateway refused the request as invalid; retrying cannot help (needs a person)."""

    def __init__(
        self, message: str, code: str | None = None, param: str | None = None, reason: str | None = None
    ):
        super().__init__(message)
        self.code = code  # the provider's error code, such as ``charge_already_refunded``
        self.param = param  # the request parameter the provider found at fault, if it says
        self.reason = reason or message  # the provider's own words, fit to show a customer


# The decline code a charge gets when the provider refuses the saved card itself (removed,
# detached, never attached): like a decline, only the employer can mend it, with a new card.
CARD_UNUSABLE = "card_no_longer_usable"
# Provider error codes that are about the payment method, whatever parameter they name.
CARD_ERROR_CODES = frozenset(
    {"payment_method_unexpected_state", "payment_method_unactivated", "payment_method_customer_mismatch"}
)
# Stripe refuses a detached card with no code and no param; its message ends in these words.
CARD_GONE_WORDS = "may not be used again"


def names_an_unusable_card(exc: PaymentRequestRejected) -> bool:
    """Whether a refused charge blames the card it was given, not hireflow's request."""
    return exc.param == "payment_method" or exc.code in CARD_ERROR_CODES or CARD_GONE_WORDS in exc.reason


class PaymentOfAnotherUnlock(PaymentError, PermanentFailure):
    """A refund or cancellation named a payment made for another unlock (or none): hireflow's
    refusal, not the provider's; the instance's payment_id needs mending."""


class PaymentGatewayUnavailable(PaymentError):
    """5xx, timeouts or connection failures outlasted the quick retries; retry the job later."""


# The decline code of an off-session charge whose bank asks the cardholder to authenticate
# (3-D Secure, as Europe's strong customer authentication often does).
AUTHENTICATION_REQUIRED = "authentication_required"
# hireflow's word for such a charge: not a decline, since the cardholder can still approve
# it. The provider keeps the intent (as ``requires_payment_method``) for them to confirm.
REQUIRES_AUTHENTICATION = "requires_authentication"
# The payment statuses that wait for the cardholder: asked to authenticate, or at it now.
AWAITING_CARDHOLDER = frozenset({REQUIRES_AUTHENTICATION, "requires_action"})


@dataclass(frozen=True)
class Payment:
    """A payment intent as the gateway reports it."""

    id: str
    status: str  # succeeded | processing | requires_authentication | requires_action | canceled | ...
    amount: int
    currency: str

    @property
    def needs_confirmation(self) -> bool:
        """True when the money arrives later and the process must wait for ``payment-confirmed``."""
        return self.status == "processing"

    @property
    def needs_cardholder(self) -> bool:
        """True when the cardholder must authenticate the payment before it is made."""
        return self.status in AWAITING_CARDHOLDER


@dataclass(frozen=True)
class Refund:
    """A refund of (part of) a payment."""

    id: str
    payment_id: str
    amount: int
    status: str


class PaymentGateway(Protocol):
    """What the workers need from a payment provider."""

    def charge(
        self,
        *,
        unlock_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        customer: str | None = None,
        attempt: str = "1",
    ) -> Payment: ...

    def refund(self, *, unlock_id: str, payment_id: str, amount: int | None = None) -> Refund: ...

    def cancel(self, *, unlock_id: str, payment_id: str) -> Payment: ...

    def save_card(
        self, *, unlock_id: str, customer: str, payment_method: str, after_charge: str | None = None
    ) -> str: ...

    def charges_of(self, unlock_id: str, known_ids: Iterable[str] = ()) -> list[Payment]: ...

    def authenticate(self, *, unlock_id: str, payment_id: str, return_url: str) -> str | None: ...


def idempotency_key(unlock_id: str, step: str) -> str:
    """The key for one business step of one unlock: stable across retries and redeliveries.

    Percent-encoded, so it is a valid header whatever an id holds; ids of letters, digits,
    ``.``, ``_`` and ``-`` (every id the webapp and the provider make) are kept as they are.
    A key longer than the provider takes (an id from an admin start may be any length)
    keeps its beginning and ends in the SHA-256 of the whole, so it stays its own.
    """
    key = quote(f"hireflow-unlock-{unlock_id}-{step}", safe="")
    if len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("ascii")).hexdigest()
    return f"{key[: MAX_IDEMPOTENCY_KEY_LENGTH - len(digest) - 1]}-{digest}"


class StripeStylePaymentGateway:
    """Charges and refunds through a Stripe-compatible HTTP API.

    Transient failures (5xx, 409 in-progress, timeouts, connection errors) are retried
    ``attempts`` times with jittered exponential backoff, reusing the idempotency key.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout_seconds: float = 10.0,
        api_version: str = STRIPE_API_VERSION,
        attempts: int = 4,
        backoff: Backoff = QUICK_RETRY_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.session = session or requests.Session()
        self.timeout_seconds = timeout_seconds
        self.api_version = api_version
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep

    def charge(
        self,
        *,
        unlock_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        customer: str | None = None,
        attempt: str = "1",
    ) -> Payment:
        """Create and confirm a payment intent for the unlock. Raises PaymentDeclined on a decline.

        ``customer`` is the employer's customer with the provider, which a saved card is
        attached to: the provider charges a saved card only together with its customer.
        The employer is not there to authenticate, so the charge is off-session and takes
        no payment method that redirects. Where the bank still asks the cardholder to
        authenticate, the payment comes back ``requires_authentication``: the provider
        keeps it for the employer to approve through ``authenticate``.

        ``attempt`` tells apart charges the process makes on purpose (a new card after a
        decline); retries and redeliveries of one attempt share its idempotency key.

        The provider forgets idempotency keys after 24 hours, and a charge may be retried
        later than that (an incident resolved after a weekend). So the attempt is labelled
        in the payment's metadata and looked up first: the lookup finds what the key may
        have forgotten, and the key covers the minute the provider's search lags behind.
        """
        earlier = self._find_charge(unlock_id, attempt)
        if earlier is not None:
            log.info(
                "unlock %s: charge attempt %s was made before (%s); not charging again",
                unlock_id,
                attempt,
                earlier["id"],
            )
            return _payment_or_decline(earlier)
        params = {
            "amount": str(amount),
            "currency": currency,
            "payment_method": payment_method,
            "confirm": "true",
            "off_session": "true",
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[allow_redirects]": "never",
            "metadata[unlock_id]": unlock_id,
            "metadata[charge_attempt]": attempt,
        }
        if customer:
            params["customer"] = customer
        try:
            body = self._post("/v1/payment_intents", params, idempotency_key(unlock_id, f"charge-{attempt}"))
        except PaymentDeclined as declined:
            if declined.decline_code != AUTHENTICATION_REQUIRED or not declined.payment_id:
                raise
            return Payment(
                id=declined.payment_id, status=REQUIRES_AUTHENTICATION, amount=amount, currency=currency
            )
        except PaymentRequestRejected as exc:
            if not names_an_unusable_card(exc):
                raise
            # The employer removed the card, or it was never theirs to save: ask for a new
            # one, as after a decline, instead of an incident nobody but them can mend.
            raise PaymentDeclined(f"the card cannot be charged: {exc}", CARD_UNUSABLE, None) from exc
        return Payment(id=body["id"], status=body["status"], amount=body["amount"], currency=body["currency"])

    def charges_of(self, unlock_id: str, known_ids: Iterable[str] = ()) -> list[Payment]:
        """Every charge made for the unlock, each attempt's: by the provider's search, and
        by id for those in ``known_ids`` (the charges hireflow recorded) it has not found.

        The search lags behind the provider's writes by up to a minute (Stripe's word), so a
        charge made in the last minute is found only if its id is known. Raises
        PaymentRequestRejected where the provider offers no search.
        """
        query = _metadata_query(unlock_id=unlock_id)
        found = self._send("GET", "/v1/payment_intents/search", {"query": query})
        charges = [_payment(intent) for intent in found.get("data") or []]
        searched = {charge.id for charge in charges}
        for payment_id in dict.fromkeys(known_ids):  # each once, in the order given
            if payment_id not in searched:
                charges.append(
                    _payment(self._send("GET", f"/v1/payment_intents/{quote(payment_id, safe='')}", {}))
                )
        return charges

    def _find_charge(self, unlock_id: str, attempt: str) -> dict | None:
        """The payment intent of this charge attempt, if the provider has one (its search API)."""
        query = _metadata_query(unlock_id=unlock_id, charge_attempt=attempt)
        try:
            found = self._send("GET", "/v1/payment_intents/search", {"query": query})
        except PaymentRequestRejected as exc:
            # Search is not offered everywhere; the idempotency key still covers 24 hours.
            log.warning(
                "unlock %s: cannot look up earlier charges (%s); relying on the idempotency key",
                unlock_id,
                exc,
            )
            return None
        return found["data"][0] if found.get("data") else None

    def authenticate(self, *, unlock_id: str, payment_id: str, return_url: str) -> str | None:
        """Where the cardholder authenticates a payment their bank asked them to approve.

        Called while the employer is there (on-session): the payment is confirmed again
        with its card and ``return_url``, and the bank's page is the answer; the provider
        sends the employer back to ``return_url`` and reports the outcome by webhook.
        Asked again, it gives the same page, which returns to the ``return_url`` given
        first (the provider keeps the one it confirmed with). None when the payment needs
        nothing more from the cardholder (the bank let it through, or it is made already).

        Raises PaymentDeclined when the card is declined on confirming, and
        PaymentRequestRejected when the payment can no longer be approved (cancelled, or
        an authentication that failed).
        """
        intent = self._send("GET", f"/v1/payment_intents/{quote(payment_id, safe='')}", {})
        if intent["status"] == "requires_action":
            return _authentication_url(intent)
        if intent["status"] in ("succeeded", "processing"):
            return None
        if _payment(intent).status != REQUIRES_AUTHENTICATION:
            raise PaymentRequestRejected(
                f"payment {payment_id} is {intent['status']} and can no longer be approved",
                "payment_intent_unexpected_state",
                reason=f"this payment is {_payment_state(intent)}; it can no longer be approved",
            )
        error = intent.get("last_payment_error") or {}
        card = intent.get("payment_method") or (error.get("payment_method") or {}).get("id")
        params = {"return_url": return_url}
        if card:
            params["payment_method"] = card
        body = self._post(
            f"/v1/payment_intents/{quote(payment_id, safe='')}/confirm",
            params,
            idempotency_key(unlock_id, f"authenticate-{payment_id}"),
        )
        return _authentication_url(body) if body["status"] == "requires_action" else None

    def cancel(self, *, unlock_id: str, payment_id: str) -> Payment:
        """Cancel a payment that has not completed (the confirmation never came), once.

        A cancellation retried after the provider forgot its key finds the payment
        cancelled already, and takes that as done. A payment that succeeded before it could
        be cancelled (it settled, or its cardholder approved it, as the wait ended) comes
        back as it is, ``succeeded``: the money is taken, and the caller gives it back.
        """
        self._check_made_for(unlock_id, payment_id)
        try:
            body = self._post(
                f"/v1/payment_intents/{quote(payment_id, safe='')}/cancel",
                {},
                idempotency_key(unlock_id, f"cancel-{payment_id}"),
            )
        except PaymentRequestRejected as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise
            body = self._send("GET", f"/v1/payment_intents/{quote(payment_id, safe='')}", {})
            if body["status"] not in ("canceled", "succeeded"):
                raise
        return _payment(body)

    def save_card(
        self, *, unlock_id: str, customer: str, payment_method: str, after_charge: str | None = None
    ) -> str:
        """Save a new card for an unlock that waits for one, once per card and declined charge.

        ``after_charge`` names the charge whose decline the card answers (the unlock's record
        keeps it): a retry saves nothing twice, yet the same card saved again after a later
        decline is attached anew. The card is attached to the employer's customer, then
        labelled with the unlock (and that charge): Stripe updates a card only once a
        customer saved it. Returns the id of the card attached, which the provider may give
        anew for a test card; the label goes on that one.
        """
        step = f"{payment_method}-after-{after_charge}" if after_charge else payment_method
        attached = self._post(
            f"/v1/payment_methods/{quote(payment_method, safe='')}/attach",
            {"customer": customer},
            idempotency_key(unlock_id, f"attach-{step}"),
        )
        card = str(attached.get("id") or payment_method)
        label = {"metadata[unlock_id]": unlock_id}
        if after_charge:
            label["metadata[after_charge]"] = after_charge
        self._post(
            f"/v1/payment_methods/{quote(card, safe='')}", label, idempotency_key(unlock_id, f"label-{step}")
        )
        return card

    def refund(self, *, unlock_id: str, payment_id: str, amount: int | None = None) -> Refund:
        """Refund the unlock's payment (in full unless ``amount`` is given), once.

        A refund retried after the provider forgot its key is refused as already refunded;
        the refund made before is then the answer.
        """
        self._check_made_for(unlock_id, payment_id)
        params = {"payment_intent": payment_id}
        if amount is not None:
            params["amount"] = str(amount)
        try:
            # One key per payment: an unlock whose late payment is refunded beside its
            # charge refunds two.
            body = self._post("/v1/refunds", params, idempotency_key(unlock_id, f"refund-{payment_id}"))
        except PaymentRequestRejected as exc:
            # Retried after the provider forgot the key: the refund it made is the answer.
            if exc.code != "charge_already_refunded":
                raise
            refunds = self._send("GET", "/v1/refunds", {"payment_intent": payment_id}).get("data") or []
            if not refunds:
                raise
            body = refunds[0]
        return Refund(
            id=body["id"], payment_id=body["payment_intent"], amount=body["amount"], status=body["status"]
        )

    def _check_made_for(self, unlock_id: str, payment_id: str) -> None:
        """Raise PaymentOfAnotherUnlock unless the payment ``payment_id`` was made for ``unlock_id``.

        A refund or cancellation names its payment by the instance's ``payment_id``. One set
        by hand (in Operate, or by an admin start) could name another unlock's payment, and
        the money would go back for the wrong unlock. Every charge labels its payment with
        its unlock (``metadata[unlock_id]``), so the label decides.
        """
        intent = self._send("GET", f"/v1/payment_intents/{quote(payment_id, safe='')}", {})
        made_for = (intent.get("metadata") or {}).get("unlock_id")
        if made_for != unlock_id:
            made_by = f"for unlock {made_for}" if made_for else "for no unlock"
            raise PaymentOfAnotherUnlock(
                f"payment {payment_id} was made {made_by}, not for unlock {unlock_id}, so it is"
                " neither refunded nor cancelled; set the instance's payment_id to this unlock's payment"
            )

    def _post(self, path: str, params: dict[str, str], key: str) -> dict[str, Any]:
        return self._send("POST", path, params, key)

    def _send(self, method: str, path: str, params: dict[str, str], key: str | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self._api_key}", "Stripe-Version": self.api_version}
        if key:
            headers["Idempotency-Key"] = key
        # A POST sends its parameters form-encoded, a GET in the query string.
        where = "data" if method == "POST" else "params"
        last_problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout_seconds, **{where: params}
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                body = _json_object(response)
                if response.status_code < 300:
                    if body is not None:
                        return body
                    # Not the provider's answer: a proxy's page, or an address that names another
                    # server. Tried again with the same key, then reported with this.
                    media_type = response.headers.get("Content-Type") or "no Content-Type"
                    last_problem = (
                        f"HTTP {response.status_code} with an answer that is no JSON object ({media_type});"
                        " check that the payment API's address names the provider"
                    )
                elif response.status_code == 402:
                    error = (body or {}).get("error")
                    error = error if isinstance(error, dict) else {}
                    raise PaymentDeclined(
                        error.get("message", "card declined"),
                        error.get("decline_code"),
                        (error.get("payment_intent") or {}).get("id"),
                    )
                elif response.status_code < 500 and response.status_code not in (409, 429):
                    raise PaymentRequestRejected(
                        f"{path} refused with {response.status_code}: {_error_message(response)}",
                        _error_field(response, "code"),
                        _error_field(response, "param"),
                        _error_message(response),
                    )
                else:
                    last_problem = f"HTTP {response.status_code}: {_error_message(response)}"
            if attempt < self.attempts:
                delay = self.backoff.delay(attempt)
                log.warning(
                    "payment %s attempt %d/%d failed (%s); retrying in %.2fs with the same key",
                    path,
                    attempt,
                    self.attempts,
                    last_problem,
                    delay,
                )
                self._sleep(delay)
        raise PaymentGatewayUnavailable(
            f"no answer in {self.attempts} quick tries with the same idempotency key (last: {last_problem})"
        )


def _quoted(value: str) -> str:
    """A value inside single quotes in a search query."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _metadata_query(**metadata: str) -> str:
    """A search query for payment intents whose metadata has every given value."""
    return " AND ".join(f"metadata['{name}']:'{_quoted(value)}'" for name, value in metadata.items())


def _payment(intent: dict[str, Any]) -> Payment:
    """A payment intent as the gateway's answer gives it; one whose bank asked the
    cardholder to authenticate is ``requires_authentication``."""
    status = intent["status"]
    error = intent.get("last_payment_error") or {}
    if status == "requires_payment_method" and error.get("decline_code") == AUTHENTICATION_REQUIRED:
        status = REQUIRES_AUTHENTICATION
    return Payment(id=intent["id"], status=status, amount=intent["amount"], currency=intent["currency"])


def _authentication_url(intent: dict[str, Any]) -> str:
    """The page where the cardholder authenticates, from the intent's next action."""
    next_action = intent.get("next_action") or {}
    url = (next_action.get("redirect_to_url") or {}).get("url")
    if not url:
        # A next action that needs the provider's own script in the page, which hireflow has not.
        raise PaymentRequestRejected(
            f"payment {intent['id']} asks for a {next_action.get('type')!r} step, not a redirect",
            "unsupported_next_action",
        )
    return url


def _payment_state(intent: dict[str, Any]) -> str:
    """A payment's state in words for the employer."""
    if intent["status"] == "canceled":
        return "cancelled"
    if intent["status"] == "requires_payment_method":
        return "declined"
    return intent["status"].replace("_", " ")


def _payment_or_decline(intent: dict[str, Any]) -> Payment:
    """A payment intent found again: the payment it made, or the decline it met."""
    if _payment(intent).status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        raise PaymentDeclined(error.get("message", "card declined"), error.get("decline_code"), intent["id"])
    return _payment(intent)


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is none (not JSON, or JSON of another kind)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_field(response: requests.Response, name: str) -> str | None:
    """One field of the provider's error object (``code``, ``param``), if it gave one."""
    try:
        return response.json()["error"].get(name)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _error_message(response: requests.Response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
