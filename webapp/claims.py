"""Once-only requests: a start or a message claims its business key in the store first.

Clients retry, webhooks are delivered twice, and people double-click. Each request that
changes the engine first claims ``(scope, key)`` in ``request_claims``; the primary key
makes the second request find the first instead of repeating it.

A claim is ``pending`` while the engine is being asked. If that fails in a way that
proves nothing happened (the engine was unreachable), the claim is released so a retry
can try again. If the outcome is unknown (a timeout), the claim stays and goes stale
after ``stale_after_for(engine timeout)``; the retry that takes it over must check the
engine first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from hireflow.store import TAKEN_OVER, Database, RequestClaim, fingerprint, utcnow

STALE_AFTER = timedelta(seconds=30)


def stale_after_for(engine_timeout_seconds: float) -> timedelta:
    """How long a pending claim holds before a retry may take it over, for an engine timeout.

    A live request holds its claim for up to two engine calls (a take-over first looks for
    the instance, then starts one) and a few database writes. A retry that took over
    sooner could start a second instance beside one still being created.
    """
    return max(STALE_AFTER, timedelta(seconds=3 * engine_timeout_seconds))


@dataclass(frozen=True)
class Claim:
    """The outcome of ``claim``: whether this request should act, and what happened before."""

    scope: str
    key: str
    acquired: bool  # True: this request must act, then ``complete`` or ``release``
    status: str  # pending | done
    result: dict
    same_content: bool  # False: the key was used before with different content
    taken_over: bool = False  # True: a stale pending claim, whose outcome is unknown


class RequestClaims:
    """Claims in the domain store, keyed by scope and business key."""

    def __init__(self, db: Database, stale_after: timedelta = STALE_AFTER):
        self.db = db
        self.stale_after = stale_after

    def claim(self, scope: str, key: str, content: Any, *, asked: Any = None) -> Claim:
        """Claim ``(scope, key)``, or report the earlier request that holds it.

        The earlier request is the same when its ``content`` was, or (given) what its client
        ``asked`` was: a request that left a field to the file, repeated after the file
        changed, fills in to other content and is still the same.
        """
        digest = fingerprint(content)
        asked_digest = None if asked is None else fingerprint(asked)
        now = utcnow()
        try:
            with self.db.sessions.begin() as session:
                session.add(
                    RequestClaim(
                        scope=scope,
                        key=key,
                        fingerprint=digest,
                        asked_fingerprint=asked_digest,
                        status="pending",
                        result={},
                        claimed_at=now,
                    )
                )
            return Claim(scope, key, acquired=True, status="pending", result={}, same_content=True)
        except IntegrityError:
            pass
        with self.db.sessions.begin() as session:
            existing = session.get(RequestClaim, (scope, key))
            if existing is None:  # released in between: try once more
                return self.claim(scope, key, content, asked=asked)
            same = existing.fingerprint == digest or (
                asked_digest is not None and existing.asked_fingerprint == asked_digest
            )
            if existing.status == "pending" and same and now - existing.claimed_at > self.stale_after:
                # Take over with a compare-and-set, so only one retry wins.
                taken = session.execute(
                    update(RequestClaim)
                    .where(
                        RequestClaim.scope == scope,
                        RequestClaim.key == key,
                        RequestClaim.claimed_at == existing.claimed_at,
                    )
                    .values(claimed_at=now, result={TAKEN_OVER: True})
                ).rowcount
                if taken:
                    return Claim(scope, key, True, "pending", {}, True, taken_over=True)
            return Claim(scope, key, False, existing.status, dict(existing.result or {}), same)

    def exists(self, scope: str, key: str) -> bool:
        """Whether a request claimed ``(scope, key)`` before: it is in progress, or took effect."""
        with self.db.sessions() as session:
            return session.get(RequestClaim, (scope, key)) is not None

    def complete(self, claim: Claim, result: dict) -> None:
        """Record that the request took effect, with what a repeat should be told."""
        with self.db.sessions.begin() as session:
            session.execute(
                update(RequestClaim)
                .where(RequestClaim.scope == claim.scope, RequestClaim.key == claim.key)
                .values(status="done", result=result)
            )

    def release(self, claim: Claim) -> None:
        """Forget a claim whose request certainly did not take effect, so a retry may act."""
        with self.db.sessions.begin() as session:
            session.execute(
                delete(RequestClaim).where(
                    RequestClaim.scope == claim.scope,
                    RequestClaim.key == claim.key,
                    RequestClaim.status == "pending",
                )
            )
