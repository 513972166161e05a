"""Helpers for the webapp tests: signed webhooks, CSRF tokens, multipart uploads."""

from __future__ import annotations

import io
import json
import re

from hireflow.webhook_signing import SIGNATURE_HEADER, sign

ADMIN_TOKEN = "admin-token-for-tests"
WEBHOOK_SECRET = "whsec_tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_webhook(event: dict | bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict:
    """Keyword arguments for ``client.post``: the raw JSON body (or ``event`` as it is, when
    bytes) and its Stripe-Signature."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return {
        "data": body,
        "headers": {SIGNATURE_HEADER: sign(body, secret, timestamp), "Content-Type": "application/json"},
    }


def payment_succeeded(event_id: str, payment_id: str, unlock_id: str = "unl_1") -> dict:
    """A provider's event: the unlock's payment settled (hireflow labels its payments with the unlock)."""
    payment = {"id": payment_id, "metadata": {"unlock_id": unlock_id}}
    return {"id": event_id, "type": "payment_intent.succeeded", "data": {"object": payment}}


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def resume_upload(content: bytes, filename: str = "resume.pdf", **fields: str) -> dict:
    """Keyword arguments for ``client.post`` of a multipart resume upload."""
    data = {
        "candidate_id": fields.get("candidate_id", "cand-1"),
        "candidate_name": fields.get("candidate_name", "Ada Lovelace"),
        "candidate_email": fields.get("candidate_email", "ada@example.com"),
        "file": (io.BytesIO(content), filename),
    }
    return {"data": data, "content_type": "multipart/form-data"}
