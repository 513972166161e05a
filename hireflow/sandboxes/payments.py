"""A stateful, Stripe-style payment API for local use and tests (``python -m hireflow.sandboxes.payments``).

Speaks the part of Stripe's API that hireflow uses (form-encoded requests, bearer API key):

- ``POST /v1/payment_intents`` (amount, currency, payment_method, customer, confirm,
  off_session, automatic_payment_methods[...], return_url, metadata[...]). As Stripe does,
  it refuses a card attached to a customer without that customer, and a confirmation that
  may redirect (payment methods chosen automatically) without a ``return_url``
- ``POST /v1/payment_intents/<id>/confirm`` (payment_method, return_url, off_session): confirms
  an intent again, as when its customer is back to authenticate. A card that asks for 3-D
  Secure then waits in ``requires_action`` for the customer at ``next_action``'s
  ``redirect_to_url``, a page of the sandbox's own (``/_sandbox/3ds/<id>``) where they
  complete or fail the authentication, as on Stripe's test page; the sandbox then raises the
  intent's event and sends the customer back to the ``return_url``
- ``GET /v1/payment_intents/<id>``, and ``GET /v1/payment_intents/search`` (a query of
  ``metadata['key']:'value'`` clauses joined by ``AND``)
- ``POST /v1/refunds`` (payment_intent, amount), ``GET /v1/refunds?payment_intent=<id>``
- ``POST /v1/payment_methods/<id>/attach`` (customer) and ``POST /v1/payment_methods/<id>``
  (metadata[...], refused until a customer saved the card, as on Stripe): any ``pm_`` id is
  a usable card; ``pm_card_...`` ids are test cards any customer may attach, others belong
  to the first customer that attaches them
- ``POST /v1/payment_methods/<id>/detach``: the card leaves its customer for good, as when
  an employer removes it in the provider's billing portal; charging or attaching it again
  is refused with Stripe's words (400, no code, no param)

Idempotency follows Stripe's documented rules: a repeated ``Idempotency-Key`` with the same
parameters returns the stored first response (header ``Idempotent-Replayed: true``);
with other parameters it is refused with 400 ``idempotency_error``; while a request with
the key is still being handled, another with it is refused with 409 ``idempotency_error``
("another in-progress request"), which a client retries. Injected faults are never
stored under a key, just as Stripe does not store requests that failed to start.

Webhooks (``payment_intent.succeeded`` or ``.payment_failed`` when an asynchronous
payment settles, ``payment_method.attached``) are signed and delivered with retries; see
``payment_webhooks``.

Stripe's search lags behind its writes (by up to a minute), and Stripe forgets
idempotency keys after 24 hours. The sandbox finds a payment intent by search only
``search_lag_seconds`` (60) after it was made, and ``POST /_sandbox/idempotency-keys/expire``
acts as a day later: the keys are forgotten and the search has caught up.

Sandbox controls (no API key, local only): ``GET/POST /_sandbox/faults``,
``GET /_sandbox/ledger``, ``GET /_sandbox/requests``, ``GET /_sandbox/events``,
``POST /_sandbox/payment_intents/<id>/succeed`` (or ``/fail``), ``GET /healthz``; and the
cardholder's 3-D Secure page, ``GET/POST /_sandbox/3ds/<id>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from markupsafe import escape

from hireflow.flask_json import use_bounded_json
from hireflow.lifetime import end_with_parent
from hireflow.sandboxes.faults import FaultInjector
from hireflow.sandboxes.payment_webhooks import (
    PAYMENT_FAILED,
    PAYMENT_METHOD_ATTACHED,
    PAYMENT_METHOD_DETACHED,
    PAYMENT_SUCCEEDED,
    WebhookDispatcher,
    WebhookSettings,
)
from hireflow.serving import bearer_matches, run_sandbox_cli
from hireflow.settings import SettingError

# server_error: 500 before anything is stored. timeout: a slow answer, nothing stored.
# lost_response: stored, then answered too late for the client to see it.
# duplicate_webhook: an event is delivered twice, as providers may do.
FAULT_KINDS = {"server_error", "timeout", "lost_response", "duplicate_webhook"}
# Stripe's limits on an Idempotency-Key, and on an object's metadata.
MAX_IDEMPOTENCY_KEY_LENGTH = 255
METADATA_LIMITS = {"keys": 50, "name": 40, "value": 500}
# Stripe's test payment methods that decline, each with the decline code Stripe gives it.
# Methods declined through the faults endpoint give the generic code.
DECLINE_CODES = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_visa_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
}
DECLINED_PAYMENT_METHODS = set(DECLINE_CODES)
# Methods that settle later, as bank debits do: the intent stays `processing`.
ASYNC_PAYMENT_METHODS = {"pm_card_async", "pm_sepa_debit"}
# Stripe's test cards whose bank asks the cardholder to authenticate (3-D Secure) every time.
# Charged off-session, where nobody can, they are declined with ``authentication_required``;
# confirmed on-session, they wait in ``requires_action`` for the cardholder.
AUTHENTICATION_REQUIRED_METHODS = {"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"}
AUTHENTICATION_REQUIRED = "authentication_required"
# Stripe's error when the cardholder fails (or abandons) the authentication.
AUTHENTICATION_FAILED_ERROR = {
    "type": "card_error",
    "code": "payment_intent_authentication_failure",
    "message": "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again.",
}
# The statuses from which an intent may be confirmed, and cancelled.
CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
CANCELLABLE = ("processing", "requires_confirmation", "requires_payment_method", "requires_action")

SCHEMA = """
CREATE TABLE IF NOT EXISTS payment_intents (
    id TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL,
    payment_method TEXT NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL,
    created REAL NOT NULL, customer TEXT, last_payment_error TEXT, next_action TEXT);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, payment_intent TEXT NOT NULL REFERENCES payment_intents(id),
    amount INTEGER NOT NULL, status TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    api_key TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (api_key, key));
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, method TEXT NOT NULL,
    path TEXT NOT NULL, idempotency_key TEXT, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payment_methods (
    id TEXT PRIMARY KEY, customer TEXT, metadata TEXT NOT NULL, detached INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS settlements (
    payment_intent TEXT PRIMARY KEY REFERENCES payment_intents(id), settle_at REAL NOT NULL);
-- Each intent's metadata, a row a key, indexed: the search API finds intents by metadata,
-- and reading every intent's JSON to answer it took longer with every unlock paid.
CREATE TABLE IF NOT EXISTS intent_metadata (
    payment_intent TEXT NOT NULL REFERENCES payment_intents(id), key TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS intent_metadata_by_pair ON intent_metadata (key, value, payment_intent);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, created REAL NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    delivered_at REAL, gave_up_at REAL, last_error TEXT);
"""


class ApiError(Exception):
    """An error answered in Stripe's shape: ``{"error": {"type", "code", "message", ...}}``."""

    def __init__(self, status: int, type_: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **extra}}


class KeysInUse:
    """The idempotency keys of the requests being handled now, per API key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[tuple[str, str]] = set()

    @contextmanager
    def hold(self, api_key: str, key: str | None) -> Iterator[bool]:
        """Mark ``key`` in use while the block runs; yields False if another request holds it."""
        held = (api_key, key)
        with self._lock:
            free = key is None or held not in self._keys
            if free and key is not None:
                self._keys.add(held)
        try:
            yield free
        finally:
            if free and key is not None:
                with self._lock:
                    self._keys.discard(held)


class PaymentLedger:
    """The sandbox's state in SQLite: payment intents, refunds and idempotency records."""

    def __init__(self, path: Path | str, search_lag_seconds: float = 60.0):
        self.search_lag_seconds = search_lag_seconds
        self._searchable_until = 0.0  # moved on by forget_idempotency_keys: a day later
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        indexed = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'intent_metadata'"
        ).fetchone()
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        if not indexed:
            # A ledger from before the table: its intents' metadata goes in now.
            self._db.execute(
                "INSERT INTO intent_metadata SELECT payment_intents.id, each.key, each.value"
                " FROM payment_intents, json_each(payment_intents.metadata) AS each"
            )
        self.lock = threading.RLock()

    def _add_missing_columns(self) -> None:
        # A ledger kept in var/ by an older sandbox lacks the columns added since.
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(payment_intents)")}
        for column in ("customer", "last_payment_error", "next_action"):
            if column not in columns:
                self._db.execute(f"ALTER TABLE payment_intents ADD COLUMN {column} TEXT")
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(payment_methods)")}
        if "detached" not in columns:
            self._db.execute("ALTER TABLE payment_methods ADD COLUMN detached INTEGER NOT NULL DEFAULT 0")

    def log(self, method: str, path: str, key: str | None, outcome: str) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO request_log (at, method, path, idempotency_key, outcome) VALUES (?,?,?,?,?)",
                (time.time(), method, path, key, outcome),
            )

    def requests(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM request_log ORDER BY id")]

    def stored_response(self, api_key: str, key: str) -> sqlite3.Row | None:
        return self._db.execute(
            "SELECT * FROM idempotency_keys WHERE api_key = ? AND key = ?", (api_key, key)
        ).fetchone()

    def store_response(self, api_key: str, key: str, fingerprint: str, status: int, body: dict) -> None:
        self._db.execute(
            "INSERT INTO idempotency_keys VALUES (?,?,?,?,?)",
            (api_key, key, fingerprint, status, json.dumps(body)),
        )

    def intent(self, intent_id: str) -> dict | None:
        row = self._db.execute("SELECT * FROM payment_intents WHERE id = ?", (intent_id,)).fetchone()
        return _intent_json(row) if row else None

    def insert_intent(self, intent: dict) -> None:
        self._db.execute(
            "INSERT INTO payment_intents (id, amount, currency, payment_method, status, metadata, created,"
            " customer, last_payment_error, next_action) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                intent["id"],
                intent["amount"],
                intent["currency"],
                intent["payment_method"],
                intent["status"],
                json.dumps(intent["metadata"]),
                intent["created"],
                intent["customer"],
                json.dumps(intent.get("last_payment_error")),
                json.dumps(intent.get("next_action")),
            ),
        )
        # In the caller's transaction (the request's), so together with the intent.
        self._db.executemany(
            "INSERT INTO intent_metadata VALUES (?, ?, ?)",
            [(intent["id"], key, value) for key, value in intent["metadata"].items()],
        )

    def set_status(
        self,
        intent_id: str,
        status: str,
        last_payment_error: dict | None,
        next_action: dict | None = None,
        payment_method: str | None = None,
    ) -> None:
        """Move the intent to ``status``; the caller passes its last payment error on, or
        clears it. Its next action is cleared unless given, as Stripe's is on every move."""
        self._db.execute(
            "UPDATE payment_intents SET status = ?, last_payment_error = ?, next_action = ?,"
            " payment_method = COALESCE(?, payment_method) WHERE id = ?",
            (status, json.dumps(last_payment_error), json.dumps(next_action), payment_method, intent_id),
        )

    def search_intents(self, metadata: dict[str, str]) -> list[dict]:
        """The payment intents the search has caught up with whose metadata has every given
        key and value, newest first."""
        horizon = max(time.time() - self.search_lag_seconds, self._searchable_until)
        query, args = "SELECT * FROM payment_intents WHERE created <= ?", [horizon]
        for key, value in metadata.items():
            query += " AND id IN (SELECT payment_intent FROM intent_metadata WHERE key = ? AND value = ?)"
            args += [key, value]
        with self.lock:
            rows = self._db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [_intent_json(row) for row in rows]

    def refunds_of(self, intent_id: str) -> list[dict]:
        """The refunds of one payment intent, newest first, as the API lists them."""
        with self.lock:
            rows = self._db.execute(
                "SELECT * FROM refunds WHERE payment_intent = ? ORDER BY created DESC", (intent_id,)
            ).fetchall()
        return [{**dict(row), "object": "refund"} for row in rows]

    def forget_idempotency_keys(self) -> int:
        """As a day later: every stored idempotency key is forgotten, and the search has caught up."""
        with self.lock:
            self._searchable_until = time.time()
            return self._db.execute("DELETE FROM idempotency_keys").rowcount

    def refunded_amount(self, intent_id: str) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) AS total FROM refunds WHERE payment_intent = ?", (intent_id,)
        ).fetchone()
        return int(row["total"])

    def insert_refund(self, refund: dict) -> None:
        self._db.execute(
            "INSERT INTO refunds VALUES (?,?,?,?,?)",
            (refund["id"], refund["payment_intent"], refund["amount"], refund["status"], refund["created"]),
        )

    def payment_method(self, method_id: str) -> dict:
        """The payment method as the API shows it; any ``pm_`` id exists, as test cards do."""
        row = self._db.execute("SELECT * FROM payment_methods WHERE id = ?", (method_id,)).fetchone()
        return {
            "id": method_id,
            "object": "payment_method",
            "customer": row["customer"] if row else None,
            "metadata": json.loads(row["metadata"]) if row else {},
        }

    def payment_method_detached(self, method_id: str) -> bool:
        """Whether the card was detached from its customer: Stripe then refuses it for good.

        Kept beside the API's shape, not in it: Stripe shows a detached card only by its
        ``customer`` being null, which a card never attached shows too.
        """
        row = self._db.execute("SELECT detached FROM payment_methods WHERE id = ?", (method_id,)).fetchone()
        return bool(row and row["detached"])

    def save_payment_method(self, method: dict) -> None:
        """Store the card's customer and metadata; whether it was detached stays as it was."""
        self._db.execute(
            "INSERT INTO payment_methods (id, customer, metadata) VALUES (?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, metadata = excluded.metadata",
            (method["id"], method["customer"], json.dumps(method["metadata"])),
        )

    def detach_payment_method(self, method_id: str) -> None:
        """Mark the card detached from its customer, for good."""
        self._db.execute(
            "UPDATE payment_methods SET customer = NULL, detached = 1 WHERE id = ?", (method_id,)
        )

    # -- events and their delivery (see payment_webhooks) --

    def record_event(self, event_type: str, obj: dict) -> dict:
        """Store an event about ``obj``; call inside the transaction that made the change."""
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
        self._db.execute(
            "INSERT INTO events (id, type, created, payload, next_attempt_at) VALUES (?,?,?,?,?)",
            (event["id"], event_type, time.time(), json.dumps(event), time.time()),
        )
        return event

    def events(self) -> list[dict]:
        with self.lock:
            rows = self._db.execute("SELECT * FROM events ORDER BY created, id").fetchall()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]

    def due_events(self, now: float, limit: int = 50) -> list[dict]:
        with self.lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                " AND next_attempt_at <= ? ORDER BY created, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]

    def delivered(self, event_id: str, attempts: int, at: float) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE events SET attempts = ?, delivered_at = ?, last_error = NULL WHERE id = ?",
                (attempts, at, event_id),
            )

    def delivery_failed(
        self, event_id: str, attempts: int, retry_at: float, error: str, *, gave_up: bool
    ) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE events SET attempts = ?, next_attempt_at = ?, last_error = ?, gave_up_at = ?"
                " WHERE id = ?",
                (attempts, retry_at, error, time.time() if gave_up else None, event_id),
            )

    def webhook_backlog(self) -> dict:
        with self.lock:
            row = self._db.execute(
                "SELECT SUM(delivered_at IS NULL AND gave_up_at IS NULL) AS undelivered,"
                " MIN(CASE WHEN delivered_at IS NULL AND gave_up_at IS NULL THEN created END) AS oldest,"
                " MAX(CASE WHEN delivered_at IS NULL AND gave_up_at IS NULL THEN next_attempt_at END)"
                " AS last_retry,"
                " SUM(gave_up_at IS NOT NULL) AS given_up FROM events"
            ).fetchone()
        now = time.time()
        oldest = round(now - row["oldest"], 1) if row["oldest"] is not None else None
        last_retry = round(max(0.0, row["last_retry"] - now), 1) if row["last_retry"] is not None else None
        return {
            "undelivered": row["undelivered"] or 0,
            "oldest_seconds": oldest,
            "last_retry_in_seconds": last_retry,
            "given_up": row["given_up"] or 0,
        }

    def schedule_settlement(self, intent_id: str, at: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO settlements VALUES (?,?)", (intent_id, at))

    def due_settlements(self, now: float) -> list[str]:
        with self.lock:
            rows = self._db.execute("SELECT payment_intent FROM settlements WHERE settle_at <= ?", (now,))
            return [r["payment_intent"] for r in rows]

    def settle(self, intent_id: str, *, succeeded: bool) -> dict | None:
        """A processing payment succeeds or fails, with its event; None if it is not processing."""
        with self.transaction():
            self._db.execute("DELETE FROM settlements WHERE payment_intent = ?", (intent_id,))
            intent = self.intent(intent_id)
            if intent is None or intent["status"] != "processing":
                return None
            intent["status"] = "succeeded" if succeeded else "requires_payment_method"
            if not succeeded:  # as Stripe reports a bounced debit
                intent["last_payment_error"] = {
                    "type": "card_error",
                    "code": "payment_intent_payment_attempt_failed",
                    "decline_code": "insufficient_funds",
                    "message": "The payment failed after it was submitted.",
                }
            self.set_status(intent_id, intent["status"], intent["last_payment_error"])
            self.record_event(PAYMENT_SUCCEEDED if succeeded else PAYMENT_FAILED, intent)
            return intent

    def authenticate(self, intent_id: str, *, completed: bool) -> dict | None:
        """The cardholder completes (or fails) the 3-D Secure step of an intent waiting for
        them: it succeeds (or needs a new payment method), with its event. None if the intent
        waits for no authentication."""
        with self.transaction():
            intent = self.intent(intent_id)
            if intent is None or intent["status"] != "requires_action":
                return None
            intent["status"] = "succeeded" if completed else "requires_payment_method"
            intent["last_payment_error"] = None if completed else AUTHENTICATION_FAILED_ERROR
            intent["next_action"] = None
            self.set_status(intent_id, intent["status"], intent["last_payment_error"])
            self.record_event(PAYMENT_SUCCEEDED if completed else PAYMENT_FAILED, intent)
            return intent

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, so a stored result and its idempotency record land together."""
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def snapshot(self) -> dict[str, list[dict]]:
        with self.lock:
            intents = [
                _intent_json(r) for r in self._db.execute("SELECT * FROM payment_intents ORDER BY created")
            ]
            refunds = [dict(r) for r in self._db.execute("SELECT * FROM refunds ORDER BY created")]
            methods = [
                {"id": r["id"], "customer": r["customer"], "metadata": json.loads(r["metadata"])}
                for r in self._db.execute("SELECT * FROM payment_methods ORDER BY id")
            ]
        return {"payment_intents": intents, "refunds": refunds, "payment_methods": methods}


def _intent_json(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "object": "payment_intent",
        "amount": row["amount"],
        "currency": row["currency"],
        "payment_method": row["payment_method"],
        "customer": row["customer"],
        "status": row["status"],
        "last_payment_error": json.loads(row["last_payment_error"] or "null"),
        "next_action": json.loads(row["next_action"] or "null"),
        "metadata": json.loads(row["metadata"]),
        "created": row["created"],
    }


PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,100}$")
TEST_CARD_PREFIX = "pm_card_"


def _metadata(params: dict[str, str]) -> dict[str, str]:
    """Stripe's form encoding of a metadata hash: ``metadata[key]=value``, within Stripe's
    limits (50 keys, names of up to 40 characters, values of up to 500)."""
    metadata = {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}
    if len(metadata) > METADATA_LIMITS["keys"]:
        raise ApiError(
            400,
            "invalid_request_error",
            f"Metadata can have up to {METADATA_LIMITS['keys']} keys.",
            param="metadata",
        )
    for name, value in metadata.items():
        if len(name) > METADATA_LIMITS["name"] or len(value) > METADATA_LIMITS["value"]:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Metadata keys can have up to {METADATA_LIMITS['name']} characters and values up to"
                f" {METADATA_LIMITS['value']}; metadata[{name[:40]}] has a key of {len(name)} and a value"
                f" of {len(value)}.",
                param=f"metadata[{name[:40]}]",
            )
    return metadata


METADATA_CLAUSE = re.compile(r"^metadata\['([^'\\]+)'\]:'((?:[^'\\]|\\.)*)'$")


def _metadata_query(query: str) -> dict[str, str]:
    """``metadata['a']:'1' AND metadata['b']:'2'`` as ``{"a": "1", "b": "2"}``: the part of
    Stripe's search language hireflow uses; anything else is refused as Stripe refuses a bad query."""
    wanted = {}
    for clause in query.split(" AND "):
        match = METADATA_CLAUSE.match(clause.strip())
        if match is None:
            raise ApiError(
                400,
                "invalid_request_error",
                f"the sandbox searches by metadata['key']:'value' clauses joined by AND, not {clause!r}",
                param="query",
            )
        wanted[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2))
    return wanted


def _check_confirmation(params: dict[str, str]) -> None:
    """Stripe's rules for confirming at creation, as far as hireflow's charges meet them."""
    confirm = params.get("confirm") == "true"
    if params.get("off_session") == "true" and not confirm:
        raise ApiError(
            400,
            "invalid_request_error",
            "off_session can only be used with confirm=true",
            param="off_session",
        )
    # Without a list of payment method types, the account's methods are chosen
    # automatically, and some of them redirect the customer unless that is turned off.
    may_redirect = (
        not any(key.startswith("payment_method_types[") for key in params)
        and params.get("automatic_payment_methods[allow_redirects]") != "never"
    )
    if confirm and may_redirect and not params.get("return_url"):
        raise ApiError(
            400,
            "invalid_request_error",
            "This PaymentIntent may need a redirect to be confirmed: give a return_url, or set "
            "automatic_payment_methods[allow_redirects] to never",
            param="return_url",
        )


# Stripe's own words for a card detached from its customer. It gives no code and no
# param, so a client can tell this case only by the message.
DETACHED_CARD_CHARGED = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
    "shared with a connected account without Customer attachment, or was detached from a Customer. "
    "It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first."
)
DETACHED_CARD_ATTACHED = (
    "This PaymentMethod was previously used without being attached to a Customer or was detached "
    "from a Customer, and may not be used again."
)
UNSAVED_CARD_UPDATED = "You must save this PaymentMethod to a customer before you can update it."


def _check_customer(method: dict, customer: str | None, *, detached: bool) -> None:
    """A payment method attached to a customer is charged only with that customer, as on Stripe."""
    if detached:
        raise ApiError(400, "invalid_request_error", DETACHED_CARD_CHARGED)
    owner = method["customer"]
    if owner is None or owner == customer or method["id"].startswith(TEST_CARD_PREFIX):
        return
    raise ApiError(
        400,
        "invalid_request_error",
        f"The PaymentMethod {method['id']} belongs to a Customer; give that Customer in the customer "
        "parameter",
        param="customer",
    )


def _declined(method: str, decline_code: str) -> dict:
    """A decline as Stripe's ``last_payment_error`` gives it, naming the card it refused."""
    return {
        "type": "card_error",
        "code": AUTHENTICATION_REQUIRED if decline_code == AUTHENTICATION_REQUIRED else "card_declined",
        "decline_code": decline_code,
        "message": "Your card was declined."
        if decline_code != AUTHENTICATION_REQUIRED
        else "Your card was declined. This transaction requires authentication.",
        "payment_method": {"id": method, "object": "payment_method"},
    }


def _page(body: str, status: int = 200) -> Response:
    """A plain page of the sandbox's bank, for a person's browser."""
    html = f"<!doctype html><title>Sandbox bank</title><h1>Sandbox bank: 3-D Secure</h1>{body}"
    return Response(html, status=status, mimetype="text/html")


def _fingerprint(path: str, params: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps([path, sorted(params.items())]).encode()).hexdigest()


def _positive_int(params: dict[str, str], name: str, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None and not required:
        return None
    # ASCII digits, and few of them: int refuses "²" (a digit to isdigit) and 4,300 digits.
    if raw is None or not re.fullmatch(r"[0-9]{1,15}", raw) or int(raw) <= 0:
        raise ApiError(
            400,
            "invalid_request_error",
            f"{name} must be a positive integer (in cents)",
            param=name,
            code="parameter_invalid_integer",
        )
    return int(raw)


def create_payment_sandbox(
    db_path: Path | str,
    api_key: str,
    *,
    seed: int | None = None,
    webhooks: WebhookSettings | None = None,
    search_lag_seconds: float = 60.0,
    public_url: str | None = None,
) -> Flask:
    """Build the sandbox app. ``api_key`` is the only secret key it accepts.

    ``public_url`` is where cardholders' browsers reach the sandbox's 3-D Secure page, as
    they reach their bank's; without it, the address the merchant called the API by.

    With ``webhooks``, asynchronous payments settle after a while and every event is
    delivered to the merchant's endpoint (see ``payment_webhooks``); without, they stay
    ``processing`` until the sandbox controls settle them, and events are only stored.
    """
    app = Flask("payment_sandbox")
    use_bounded_json(app)
    ledger = PaymentLedger(db_path, search_lag_seconds)
    faults = FaultInjector(FAULT_KINDS, seed=seed)
    keys_in_use = KeysInUse()
    declined = set(DECLINED_PAYMENT_METHODS)
    app.extensions["payment_keys_in_use"] = keys_in_use
    app.extensions["payment_ledger"] = ledger
    app.extensions["payment_faults"] = faults
    if webhooks is not None:
        app.extensions["payment_webhooks"] = WebhookDispatcher(
            ledger, webhooks, duplicate=lambda: faults.should("duplicate_webhook")
        ).start()

    def create_intent(params: dict[str, str]) -> tuple[int, dict]:
        amount = _positive_int(params, "amount")
        currency = params.get("currency", "")
        if len(currency) != 3 or not currency.isalpha():
            raise ApiError(
                400, "invalid_request_error", "currency must be a 3-letter ISO code", param="currency"
            )
        method = params.get("payment_method")
        if not method:
            raise ApiError(400, "invalid_request_error", "payment_method is required", param="payment_method")
        customer = params.get("customer") or None
        metadata = _metadata(params)
        _check_confirmation(params)
        detached = ledger.payment_method_detached(method)
        _check_customer(ledger.payment_method(method), customer, detached=detached)
        intent_id = "pi_" + secrets.token_hex(12)
        if params.get("confirm") == "true":
            status, last_payment_error, next_action = confirmation(intent_id, method, params)
        else:
            status, last_payment_error, next_action = "requires_confirmation", None, None
        intent = {
            "id": intent_id,
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": method,
            "customer": customer,
            "status": status,
            "last_payment_error": last_payment_error,
            "next_action": next_action,
            "metadata": metadata,
            "created": time.time(),
        }
        ledger.insert_intent(intent)
        return confirmed(intent)

    def confirmation(
        intent_id: str, method: str, params: dict[str, str]
    ) -> tuple[str, dict | None, dict | None]:
        """What confirming an intent with ``method`` makes of it: its status, last payment
        error and next action."""
        if method in AUTHENTICATION_REQUIRED_METHODS:
            if params.get("off_session") == "true":
                return "requires_payment_method", _declined(method, AUTHENTICATION_REQUIRED), None
            if not params.get("return_url"):
                # Stripe's answer for a page that authenticates with Stripe.js, which hireflow has not.
                return "requires_action", None, {"type": "use_stripe_sdk"}
            url = f"{(public_url or request.host_url).rstrip('/')}/_sandbox/3ds/{intent_id}"
            redirect = {"url": url, "return_url": params["return_url"]}
            return "requires_action", None, {"type": "redirect_to_url", "redirect_to_url": redirect}
        if method in declined:
            return (
                "requires_payment_method",
                _declined(method, DECLINE_CODES.get(method, "generic_decline")),
                None,
            )
        if method in ASYNC_PAYMENT_METHODS:
            return "processing", None, None
        return "succeeded", None, None

    def confirmed(intent: dict) -> tuple[int, dict]:
        """The answer to a confirmation: the intent, or the decline (402) it met."""
        if intent["status"] == "processing" and webhooks is not None:
            ledger.schedule_settlement(intent["id"], time.time() + webhooks.settle_after_seconds)
        intent = {**intent, "object": "payment_intent"}
        if intent["status"] == "requires_payment_method":
            return 402, {"error": {**intent["last_payment_error"], "payment_intent": intent}}
        return 200, intent

    def known_intent(intent_id: str) -> dict:
        """The payment intent, or Stripe's 404 for an id it never made."""
        intent = ledger.intent(intent_id)
        if intent is None:
            raise ApiError(404, "invalid_request_error", "No such payment_intent", code="resource_missing")
        return intent

    def confirm_intent(intent_id: str, params: dict[str, str]) -> tuple[int, dict]:
        intent = known_intent(intent_id)
        if intent["status"] not in CONFIRMABLE:
            raise ApiError(
                400,
                "invalid_request_error",
                f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        method = params.get("payment_method") or intent["payment_method"]
        detached = ledger.payment_method_detached(method)
        _check_customer(ledger.payment_method(method), intent["customer"], detached=detached)
        status, last_payment_error, next_action = confirmation(intent_id, method, params)
        ledger.set_status(intent_id, status, last_payment_error, next_action, payment_method=method)
        intent = ledger.intent(intent_id)
        if status == "requires_payment_method":
            # As Stripe does: the merchant hears of a failed confirmation by webhook too.
            ledger.record_event(PAYMENT_FAILED, intent)
        return confirmed(intent)

    def create_refund(params: dict[str, str]) -> tuple[int, dict]:
        intent = ledger.intent(params.get("payment_intent", ""))
        if intent is None:
            raise ApiError(
                404,
                "invalid_request_error",
                "No such payment_intent",
                param="payment_intent",
                code="resource_missing",
            )
        if intent["status"] != "succeeded":
            raise ApiError(
                400,
                "invalid_request_error",
                f"payment_intent is {intent['status']}, not succeeded",
                code="charge_not_refundable",
            )
        remaining = intent["amount"] - ledger.refunded_amount(intent["id"])
        amount = _positive_int(params, "amount", required=False) or remaining
        # Nothing left to refund is refused as Stripe does, never answered by an empty refund.
        if remaining <= 0 or amount > remaining:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Refund of {amount} exceeds the {remaining} not yet refunded",
                code="charge_already_refunded",
            )
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "payment_intent": intent["id"],
            "amount": amount,
            "status": "succeeded",
            "created": time.time(),
        }
        ledger.insert_refund(refund)
        return 200, {**refund, "object": "refund"}

    def cancel_intent(intent_id: str) -> tuple[int, dict]:
        intent = known_intent(intent_id)
        if intent["status"] not in CANCELLABLE:
            raise ApiError(
                400,
                "invalid_request_error",
                f"payment_intent is {intent['status']} and cannot be canceled",
                code="payment_intent_unexpected_state",
            )
        ledger.set_status(intent_id, "canceled", intent["last_payment_error"])
        return 200, {**intent, "status": "canceled", "object": "payment_intent"}

    def update_payment_method(method_id: str, params: dict[str, str]) -> tuple[int, dict]:
        method = ledger.payment_method(method_id)
        if method["customer"] is None:  # as on Stripe: a card is updated once a customer saved it
            raise ApiError(400, "invalid_request_error", UNSAVED_CARD_UPDATED)
        method["metadata"].update(_metadata(params))
        ledger.save_payment_method(method)
        return 200, method

    def attach_payment_method(method_id: str, params: dict[str, str]) -> tuple[int, dict]:
        customer = params.get("customer")
        if not customer:
            raise ApiError(400, "invalid_request_error", "customer is required", param="customer")
        if ledger.payment_method_detached(method_id):
            raise ApiError(400, "invalid_request_error", DETACHED_CARD_ATTACHED)
        method = ledger.payment_method(method_id)
        # Test cards (pm_card_visa, ...) are shared by every account, as Stripe's are; any
        # other payment method belongs to one customer.
        if method["customer"] not in (None, customer) and not method_id.startswith(TEST_CARD_PREFIX):
            raise ApiError(
                400,
                "invalid_request_error",
                f"The payment method {method_id} is attached to another customer",
                code="payment_method_unexpected_state",
            )
        method["customer"] = customer
        ledger.save_payment_method(method)
        ledger.record_event(PAYMENT_METHOD_ATTACHED, method)
        return 200, method

    def detach_payment_method(method_id: str) -> tuple[int, dict]:
        if method_id.startswith(TEST_CARD_PREFIX):
            # On Stripe a test card id makes a new card each time it is used, so there is
            # no saved card to detach; the sandbox shares one record, and keeps it usable.
            raise ApiError(
                400,
                "invalid_request_error",
                f"{method_id} is a test card, new at each use; detach a card saved under its own id",
                param="payment_method",
            )
        method = ledger.payment_method(method_id)
        if method["customer"] is None:
            raise ApiError(
                400,
                "invalid_request_error",
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            )
        ledger.detach_payment_method(method_id)
        method["customer"] = None
        ledger.record_event(PAYMENT_METHOD_DETACHED, method)
        return 200, method

    handlers = {"/v1/payment_intents": create_intent, "/v1/refunds": create_refund}

    def handler_for(path: str) -> Callable[[dict[str, str]], tuple[int, dict]]:
        if path.startswith("/v1/payment_intents/") and path.endswith("/cancel"):
            intent_id = path[len("/v1/payment_intents/") : -len("/cancel")]
            return lambda params: cancel_intent(intent_id)
        if path.startswith("/v1/payment_intents/") and path.endswith("/confirm"):
            intent_id = path[len("/v1/payment_intents/") : -len("/confirm")]
            return lambda params: confirm_intent(intent_id, params)
        if path.startswith("/v1/payment_methods/"):
            method_id, _, action = path[len("/v1/payment_methods/") :].partition("/")
            if not PAYMENT_METHOD_ID.fullmatch(method_id):
                raise ApiError(
                    404, "invalid_request_error", "No such payment_method", code="resource_missing"
                )
            if action == "attach":
                return lambda params: attach_payment_method(method_id, params)
            if action == "detach":
                return lambda params: detach_payment_method(method_id)
            return lambda params: update_payment_method(method_id, params)
        return handlers[path]

    def authorized() -> bool:
        return bearer_matches(api_key)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(exc.body), exc.status

    @app.post("/v1/payment_intents")
    @app.post("/v1/refunds")
    @app.post("/v1/payment_intents/<intent_id>/cancel")
    @app.post("/v1/payment_intents/<intent_id>/confirm")
    @app.post("/v1/payment_methods/<method_id>")
    @app.post("/v1/payment_methods/<method_id>/attach")
    @app.post("/v1/payment_methods/<method_id>/detach")
    def mutate(intent_id: str | None = None, method_id: str | None = None):
        path = request.path
        key = request.headers.get("Idempotency-Key")
        if not authorized():
            ledger.log("POST", path, key, "unauthorized")
            raise ApiError(401, "invalid_request_error", "Invalid API Key provided")
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            # Stripe's limit: a longer key is refused, never cut short to match another.
            ledger.log("POST", path, key[:MAX_IDEMPOTENCY_KEY_LENGTH], "idempotency_key_too_long")
            raise ApiError(
                400,
                "invalid_request_error",
                f"Idempotency keys are up to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long;"
                f" this one has {len(key)}.",
            )
        if faults.should("timeout"):
            ledger.log("POST", path, key, "injected_timeout")
            time.sleep(faults.delay_seconds)
            raise ApiError(500, "api_error", "Injected timeout: nothing was stored")
        if faults.should("server_error"):
            ledger.log("POST", path, key, "injected_server_error")
            raise ApiError(500, "api_error", "Injected server error: nothing was stored")
        params = request.form.to_dict()
        with keys_in_use.hold(api_key, key) as free:
            if not free:
                # Stripe's answer to a second request while the first is still going through
                # (a job delivered again while its first delivery waits): retry later.
                ledger.log("POST", path, key, "idempotency_key_in_use")
                raise ApiError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                )
            with ledger.transaction():
                if key:
                    stored = ledger.stored_response(api_key, key)
                    if stored is not None:
                        if stored["fingerprint"] != _fingerprint(path, params):
                            ledger.log("POST", path, key, "idempotency_mismatch")
                            raise ApiError(
                                400,
                                "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with.",
                            )
                        ledger.log("POST", path, key, "replayed")
                        return Response(
                            stored["body"],
                            status=stored["status_code"],
                            mimetype="application/json",
                            headers={"Idempotent-Replayed": "true"},
                        )
                status, body = handler_for(path)(params)
                if key:
                    ledger.store_response(api_key, key, _fingerprint(path, params), status, body)
        if faults.should("lost_response"):
            ledger.log("POST", path, key, "committed_response_lost")
            time.sleep(faults.delay_seconds)
        else:
            ledger.log("POST", path, key, f"committed_{status}")
        return jsonify(body), status

    @app.get("/v1/payment_intents/search")
    def search_intents():
        if not authorized():
            raise ApiError(401, "invalid_request_error", "Invalid API Key provided")
        # Faults are injected into the requests that change something, which the checks count.
        found = ledger.search_intents(_metadata_query(request.args.get("query", "")))
        return jsonify({"object": "search_result", "data": found, "has_more": False})

    @app.get("/v1/refunds")
    def list_refunds():
        if not authorized():
            raise ApiError(401, "invalid_request_error", "Invalid API Key provided")
        refunds = ledger.refunds_of(request.args.get("payment_intent", ""))
        return jsonify({"object": "list", "data": refunds, "has_more": False})

    @app.post("/_sandbox/idempotency-keys/expire")
    def expire_idempotency_keys():
        """Act as a day later: the idempotency keys are forgotten, and the search has caught up."""
        return jsonify({"forgotten": ledger.forget_idempotency_keys()})

    @app.get("/v1/payment_intents/<intent_id>")
    def get_intent(intent_id: str):
        if not authorized():
            raise ApiError(401, "invalid_request_error", "Invalid API Key provided")
        return jsonify(known_intent(intent_id))

    @app.get("/_sandbox/faults")
    def get_faults():
        return jsonify({**faults.plan, "declined_payment_methods": sorted(declined)})

    @app.post("/_sandbox/faults")
    def set_faults():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(
                400, "invalid_request_error", "send a JSON object: {rates, next_count, delay_seconds}"
            )
        methods = body.get("declined_payment_methods", sorted(declined))
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise ApiError(400, "invalid_request_error", "declined_payment_methods must be a list of strings")
        try:
            faults.configure(body.get("rates"), body.get("next_count"), body.get("delay_seconds"))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalid_request_error", str(exc)) from exc
        declined.clear()
        declined.update(methods)
        return get_faults()

    @app.post("/_sandbox/payment_intents/<intent_id>/<outcome>")
    def settle_now(intent_id: str, outcome: str):
        """Settle a processing payment now: ``succeed`` or ``fail`` (raises its event)."""
        if outcome not in ("succeed", "fail"):
            raise ApiError(404, "invalid_request_error", "use .../succeed or .../fail")
        known_intent(intent_id)
        intent = ledger.settle(intent_id, succeeded=outcome == "succeed")
        if intent is None:
            raise ApiError(
                409,
                "invalid_request_error",
                "only a processing payment_intent can be settled",
                code="payment_intent_unexpected_state",
            )
        return jsonify(intent)

    @app.get("/_sandbox/3ds/<intent_id>")
    def authentication_page(intent_id: str):
        """The bank's 3-D Secure page, as Stripe's test mode shows it: complete or fail."""
        intent = ledger.intent(intent_id)
        if intent is None or intent["status"] != "requires_action":
            status = intent["status"] if intent else "unknown"
            return _page(f"This payment is {status}: there is nothing to authenticate.", 409)
        amount = f"{intent['amount'] / 100:.2f} {intent['currency'].upper()}"
        return _page(
            f"<p>Authenticate the payment of <strong>{escape(amount)}</strong> to hireflow.</p>"
            f'<form method="post"><button name="outcome" value="complete">Complete authentication</button> '
            f'<button name="outcome" value="fail">Fail authentication</button></form>'
        )

    @app.post("/_sandbox/3ds/<intent_id>")
    def authenticate(intent_id: str):
        """The cardholder's answer: the intent moves on, its event is raised, and the
        cardholder goes back to the merchant's ``return_url``, as Stripe sends them."""
        waiting = ledger.intent(intent_id)
        outcome = request.form.get("outcome")
        if outcome not in ("complete", "fail"):
            return _page("Choose complete or fail.", 400)
        intent = ledger.authenticate(intent_id, completed=outcome == "complete")
        if intent is None:
            status = waiting["status"] if waiting else "unknown"
            return _page(f"This payment is {status}: there is nothing to authenticate.", 409)
        return_url = ((waiting.get("next_action") or {}).get("redirect_to_url") or {}).get("return_url")
        if not return_url:
            return _page(f"Authentication {'completed' if outcome == 'complete' else 'failed'}.")
        redirect_status = "succeeded" if outcome == "complete" else "failed"
        query = urlencode({"payment_intent": intent_id, "redirect_status": redirect_status})
        return redirect(f"{return_url}{'&' if '?' in return_url else '?'}{query}", 303)

    @app.get("/_sandbox/events")
    def get_events():
        """Every event with its delivery state (attempts, delivered_at, last_error)."""
        return jsonify(ledger.events())

    @app.get("/_sandbox/ledger")
    def get_ledger():
        return jsonify(ledger.snapshot())

    @app.get("/_sandbox/requests")
    def get_requests():
        return jsonify(ledger.requests())

    @app.get("/healthz")
    def healthz():
        """Alive, with the webhook backlog: events not yet taken by the merchant's endpoint."""
        backlog = ledger.webhook_backlog()
        return jsonify(
            {
                "status": "ok",
                "webhooks": {
                    "url": webhooks.url if webhooks else None,
                    "undelivered": backlog["undelivered"],
                    "oldest_undelivered_seconds": backlog["oldest_seconds"],
                    # When the last of them is tried again: late is not lost while a retry is due.
                    "last_retry_in_seconds": backlog["last_retry_in_seconds"],
                    "given_up": backlog["given_up"],
                },
            }
        )

    return app


def main() -> None:
    end_with_parent("payment sandbox")
    try:
        webhooks = WebhookSettings.from_environment()
    except SettingError as exc:
        print(f"payment sandbox not started: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    # Where the employer's browser finds the 3-D Secure page, when hireflow's services call
    # the sandbox by an address a browser cannot reach (a container's name).
    public_url = os.environ.get("PAYMENT_SANDBOX_PUBLIC_URL") or None
    run_sandbox_cli(
        lambda db_path, api_key: create_payment_sandbox(
            db_path, api_key, webhooks=webhooks, public_url=public_url
        ),
        module="hireflow.sandboxes.payments",
        doc=__doc__,
        port=8101,
        db_file="payment-sandbox.sqlite3",
        api_key="sk_test_hireflow_local",
        api_key_variable="PAYMENT_API_KEY",
    )


if __name__ == "__main__":
    main()
