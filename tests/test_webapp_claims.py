"""Once-only request claims: the second request finds the first (unit tests on SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from hireflow.store import Database, RequestClaim, utcnow
from webapp.claims import STALE_AFTER, RequestClaims, stale_after_for


@pytest.fixture
def claims(tmp_path) -> RequestClaims:
    db = Database(f"sqlite:///{tmp_path / 'claims.sqlite3'}")
    db.create_schema()
    return RequestClaims(db)


def test_the_first_request_acts_and_a_repeat_is_told_what_happened(claims):
    first = claims.claim("start:p", "k1", {"a": 1})
    assert first.acquired
    assert not claims.claim("start:p", "k1", {"a": 1}).acquired  # pending: in progress
    claims.complete(first, {"processInstanceKey": "42"})
    repeat = claims.claim("start:p", "k1", {"a": 1})
    assert (repeat.acquired, repeat.status, repeat.result, repeat.same_content) == (
        False,
        "done",
        {"processInstanceKey": "42"},
        True,
    )


def test_a_reused_key_with_other_content_is_reported(claims):
    claims.complete(claims.claim("start:p", "k2", {"a": 1}), {})
    assert claims.claim("start:p", "k2", {"a": 2}).same_content is False


def test_a_released_claim_lets_the_retry_act(claims):
    claims.release(claims.claim("message:m", "id-1", {}))
    assert claims.claim("message:m", "id-1", {}).acquired


def test_a_stale_pending_claim_is_taken_over_once(claims):
    claims.claim("start:p", "k3", {})
    with claims.db.sessions.begin() as session:  # as if the first attempt hung long ago
        session.execute(
            update(RequestClaim)
            .where(RequestClaim.key == "k3")
            .values(claimed_at=utcnow() - STALE_AFTER - timedelta(seconds=1))
        )
    takeover = claims.claim("start:p", "k3", {})
    assert takeover.acquired and takeover.taken_over
    assert not claims.claim("start:p", "k3", {}).acquired  # fresh again: only one retry wins


def test_a_claim_outlives_any_request_that_may_still_hold_it():
    # Two engine calls of the configured timeout fit before a retry may take over.
    assert stale_after_for(10.0) == STALE_AFTER
    assert stale_after_for(60.0) == timedelta(seconds=180)


def test_a_slow_engines_claim_is_not_taken_over_while_its_request_may_run(claims):
    patient = RequestClaims(claims.db, stale_after_for(60.0))
    patient.claim("start:p", "k4", {})
    with claims.db.sessions.begin() as session:  # 45 s ago: stale by the default, not here
        session.execute(
            update(RequestClaim)
            .where(RequestClaim.key == "k4")
            .values(claimed_at=utcnow() - STALE_AFTER - timedelta(seconds=15))
        )
    assert not patient.claim("start:p", "k4", {}).acquired
    assert claims.claim("start:p", "k4", {}).taken_over  # the 30 s default would take over
