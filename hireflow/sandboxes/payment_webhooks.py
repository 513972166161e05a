"""The payment sandbox's webhooks: settle asynchronous payments and deliver signed events.

A real provider tells its merchant about changes by webhook, and so does the sandbox:

- an asynchronous payment (``pm_card_async``, ``pm_sepa_debit``) stays ``processing`` for
  ``settle_after_seconds``, then succeeds and raises ``payment_intent.succeeded`` (the
  sandbox controls can also make it fail: ``payment_intent.payment_failed``);
- attaching a payment method raises ``payment_method.attached``.

Events are stored with the change that raised them (one SQLite transaction), and a
background thread delivers each to the merchant's endpoint, signed as Stripe signs
(``Stripe-Signature``). A delivery that is not answered with 2xx is tried again with
growing, jittered backoff until ``give_up_after_seconds`` (Stripe retries for three
days). So an event survives a webapp that is down or a sandbox that restarts, and, as
with Stripe, the receiver must accept an event more than once: the fault
``duplicate_webhook`` delivers an event twice to prove that it does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

from hireflow.backoff import Backoff
from hireflow.settings import decimal_number
from hireflow.webhook_signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
PAYMENT_METHOD_ATTACHED = "payment_method.attached"
PAYMENT_METHOD_DETACHED = "payment_method.detached"


@dataclass(frozen=True)
class WebhookSettings:
    """Where and how the sandbox delivers its events."""

    url: str
    secret: str
    settle_after_seconds: float = 5.0
    retry_backoff: Backoff = field(default_factory=lambda: Backoff(base_seconds=1.0, cap_seconds=300.0))
    give_up_after_seconds: float = 3 * 24 * 3600.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 0.2

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> WebhookSettings | None:
        """``PAYMENT_WEBHOOK_URL`` (empty: no webhooks), ``PAYMENT_WEBHOOK_SECRET`` and
        ``PAYMENT_SETTLE_AFTER_SECONDS``, as ``make run`` and the compose file set them."""
        env = os.environ if env is None else env
        url = env.get("PAYMENT_WEBHOOK_URL", "").strip()
        if not url:
            return None
        return cls(
            url=url,
            secret=env.get("PAYMENT_WEBHOOK_SECRET", "whsec_hireflow_local"),
            settle_after_seconds=decimal_number(env, "PAYMENT_SETTLE_AFTER_SECONDS", 5.0, minimum=0),
        )


class WebhookDispatcher:
    """Background thread: settles payments that are due, then delivers events that are due.

    ``ledger`` is the sandbox's ``PaymentLedger``; ``duplicate`` says whether to deliver an
    event twice (the sandbox's fault injection).
    """

    def __init__(self, ledger, settings: WebhookSettings, duplicate=lambda: False):
        self.ledger = ledger
        self.settings = settings
        self._duplicate = duplicate
        self._session = requests.Session()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="payment-webhooks", daemon=True)

    def start(self) -> WebhookDispatcher:
        self._thread.start()
        log.info("delivering payment events to %s", self.settings.url)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.settings.timeout_seconds + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.poll_seconds):
            try:
                self.run_once()
            except Exception:  # a bad row must not end deliveries for good
                log.exception("payment webhook round failed; trying again")

    def run_once(self, now: float | None = None) -> None:
        """Settle what is due and try each due event once (the thread calls this; tests may too)."""
        now = time.time() if now is None else now
        for intent_id in self.ledger.due_settlements(now):
            self.ledger.settle(intent_id, succeeded=True)
        for event in self.ledger.due_events(now):
            self._deliver(event, now)

    def _deliver(self, event: dict, now: float) -> None:
        body = json.dumps(event["payload"]).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.settings.secret)}
        attempts = event["attempts"] + 1
        try:
            self._post(body, headers)
        except (requests.RequestException, DeliveryFailed) as exc:
            gave_up = now - event["created"] >= self.settings.give_up_after_seconds
            retry_at = now + self.settings.retry_backoff.delay(attempts)
            self.ledger.delivery_failed(event["id"], attempts, retry_at, str(exc), gave_up=gave_up)
            log.warning(
                "webhook %s (%s) attempt %d failed: %s; %s",
                event["id"],
                event["type"],
                attempts,
                exc,
                "giving up" if gave_up else f"next try in {retry_at - now:.1f} s",
            )
            return
        self.ledger.delivered(event["id"], attempts, now)
        log.info("webhook %s (%s) delivered after %d attempt(s)", event["id"], event["type"], attempts)
        if self._duplicate():  # the injected fault: the same event once more, as providers may
            try:
                self._post(body, headers)
            except (requests.RequestException, DeliveryFailed) as exc:
                log.info("duplicate of webhook %s not taken (%s); it was delivered once", event["id"], exc)

    def _post(self, body: bytes, headers: dict) -> None:
        response = self._session.post(
            self.settings.url, data=body, headers=headers, timeout=self.settings.timeout_seconds
        )
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


class DeliveryFailed(Exception):
    """The endpoint answered, but not with 2xx."""
