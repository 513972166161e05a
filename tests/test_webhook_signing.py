"""Stripe-style webhook signatures: what passes and what is refused, and why."""

from __future__ import annotations

import pytest

from hireflow.webhook_signing import SignatureInvalid, sign, verify

SECRET = "whsec_unit"
BODY = b'{"id": "evt_1"}'
NOW = 1_800_000_000


def test_a_signature_over_the_raw_body_verifies():
    assert verify(BODY, sign(BODY, SECRET, NOW), SECRET, now=NOW + 10) == NOW


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (None, BODY, "missing"),
        ("", BODY, "missing"),  # sent empty (the OpenAPI document's minLength 1)
        ("v1=abc", BODY, "needs t="),
        (f"t={NOW}", BODY, "needs t="),
        (sign(BODY, "whsec_other", NOW), BODY, "no signature matches"),
        (sign(BODY, SECRET, NOW), BODY + b" ", "no signature matches"),  # one changed byte
        (sign(BODY, SECRET, NOW - 301), BODY, "tolerance"),  # a replay
        (sign(BODY, SECRET, NOW + 301), BODY, "tolerance"),
        # What a header may hold that int() and compare_digest refuse: each was a 500.
        ("t=\u00b2,v1=abc", BODY, "needs t="),  # superscript two: a digit to str.isdigit
        ("t=" + "9" * 5000 + ",v1=abc", BODY, "needs t="),  # past int()'s 4,300 digits
        (f"t={NOW},v1=\u00e9", BODY, "no signature matches"),  # a non-ASCII letter
    ],
)
def test_bad_signatures_are_refused_with_the_reason(header, body, reason):
    with pytest.raises(SignatureInvalid, match=reason):
        verify(body, header, SECRET, now=NOW)


def test_any_of_several_signatures_may_match_while_a_secret_rotates():
    old = sign(BODY, "whsec_old", NOW).split(",")[1]
    header = f"{sign(BODY, SECRET, NOW)},{old}"
    assert verify(BODY, header, SECRET, now=NOW) == NOW
    assert verify(BODY, header, "whsec_old", now=NOW) == NOW
