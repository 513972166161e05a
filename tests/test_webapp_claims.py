"""Once-only request claims: the second request finds the first (unit tests on SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from hireflow.store import Database, RequestClaim, utcnow
from webapp.claims import STALE_AFTER, RequestClaims


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
