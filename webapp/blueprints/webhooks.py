"""``/webhooks/payments``: the payment provider's signed events, turned into messages once.

The signature is checked over the raw body before anything is parsed. Events are
acknowledged with 2xx once handled (or when hireflow does not use their type, or they
are about a payment or card of no unlock), so the provider stops redelivering; a 503
asks it to redeliver later.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from hireflow.constants import IDENTIFIER_PATTERN
from hireflow.webhook_signing import SIGNATURE_HEADER, SignatureInvalid, verify
from webapp.http import hireflow, published_response
from webapp.problems import Problem, invalid_field, invalid_request

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
# The events hireflow acts on; it labels its payments with the unlock's id. Not
# payment_method.attached: a card saved for an unlock continues it as the provider takes
# it, and is labelled only after (Stripe updates a card once a customer saved it).
UNLOCK_EVENTS = {PAYMENT_SUCCEEDED, PAYMENT_FAILED}
# The provider's error code when the cardholder did not pass their bank's check. It gives no
# decline code then; the email names the reason in these words.
AUTHENTICATION_FAILURE = "payment_intent_authentication_failure"
AUTHENTICATION_FAILED = "authentication_failed"


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object: dict[str, Any]


class PaymentEvent(BaseModel):
    """The part of a Stripe-style event hireflow reads; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^evt_[A-Za-z0-9_]{1,100}$")
    type: str = Field(min_length=1, max_length=100)
    data: EventData


PAYMENT_ID = re.compile(r"^pi_[A-Za-z0-9_]{1,100}$")
PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,100}$")
DECLINE_CODE = re.compile(r"^[a-z_]{1,60}$")


def _string(obj: dict, path: str, pattern: re.Pattern) -> str:
    """The id at ``path`` in the event's object; a 400 naming the field if it is not one."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise invalid_field(f"data.object.{path}", f"expected an id matching {pattern.pattern}")
    return value


def _unlock_of(obj: dict) -> str | None:
    """The unlock whose payment the event's object is, or None when it is no unlock's."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("unlock_id") is None:
        return None
    return _string(obj, "metadata.unlock_id", IDENTIFIER_PATTERN)


@bp.post("/payments")
def payment_event():
    payload = request.get_data(cache=True)
    try:
        verify(
            payload,
            request.headers.get(SIGNATURE_HEADER),
            current_app.config["PAYMENT_WEBHOOK_SECRET"],
            tolerance_seconds=int(current_app.config["WEBHOOK_TOLERANCE_SECONDS"]),
        )
    except SignatureInvalid as exc:
        raise Problem(400, "Invalid webhook signature", str(exc)) from exc
    try:
        body = current_app.json.loads(payload)
    except ValueError as exc:  # UnicodeDecodeError and NestedTooDeeply are ValueErrors
        raise invalid_request("the event is not JSON") from exc
    if not isinstance(body, dict):
        raise invalid_request("the event must be a JSON object")
    event = PaymentEvent.model_validate(body)
    obj = event.data.object
    if event.type not in UNLOCK_EVENTS:
        return _ignored(f"hireflow does not use {event.type} events")
    unlock_id = _unlock_of(obj)
    if unlock_id is None:
        # The provider's account serves the rest of the marketplace too: its other
        # payments and cards are none of hireflow's business, and a 4xx would only
        # have the provider redeliver them for days.
        return _ignored(f"this {event.type} event is not about an unlock (no data.object.metadata.unlock_id)")
    if event.type == PAYMENT_SUCCEEDED:
        payment_id = _string(obj, "id", PAYMENT_ID)
        return published_response(hireflow().payment_confirmed(event.id, payment_id), "payment-confirmed")
    payment_id = _string(obj, "id", PAYMENT_ID)  # payment_intent.payment_failed
    error = obj.get("last_payment_error")
    decline_code = error.get("decline_code") if isinstance(error, dict) else None
    if decline_code is None and isinstance(error, dict) and error.get("code") == AUTHENTICATION_FAILURE:
        decline_code = AUTHENTICATION_FAILED
    if not (isinstance(decline_code, str) and DECLINE_CODE.fullmatch(decline_code)):
        decline_code = None  # the email then says "declined"
    card = obj.get("payment_method")
    card = card if isinstance(card, str) and PAYMENT_METHOD_ID.fullmatch(card) else None
    published = hireflow().payment_failed(event.id, payment_id, decline_code, unlock_id, card)
    return published_response(published, "payment-failed")


def _ignored(why: str):
    """A 200 for an event hireflow leaves alone, so the provider stops redelivering it."""
    return jsonify({"status": "ignored", "message": why})
