"""Stripe-style webhook signatures: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

The signature covers ``"<t>.<raw body>"`` with the endpoint's secret. A receiver checks
it over the raw bytes (before any JSON parsing), in constant time, and refuses
timestamps outside a tolerance so a captured delivery cannot be replayed later.
The payment sandbox signs with ``sign``; the webapp checks with ``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
# A Unix time in seconds: ASCII digits only (str.isdigit also takes "²", which int refuses),
# and few of them (int refuses more than 4,300).
TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureInvalid(ValueError):
    """The signature header is missing, malformed, wrong or too old; the message says which."""


def _digest(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(secret, timestamp, payload)}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``payload``; return its timestamp or raise SignatureInvalid."""
    if not header:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header needs t=<timestamp> and v1=<signature>")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureInvalid(f"the signature timestamp is outside the {tolerance_seconds} s tolerance")
    expected = _digest(secret, timestamp, payload)
    # compare_digest on every candidate: a secret being rotated may sign twice. As bytes:
    # compare_digest refuses a str with a non-ASCII letter, and a header can hold one.
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
        raise SignatureInvalid("no signature matches the payload for this endpoint's secret")
    return timestamp
