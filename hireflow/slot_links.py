"""Signed, expiring links that let a candidate pick an interview slot without logging in.

A link carries the interview id and the slot, signed with ``HIREFLOW_SLOT_LINK_SECRET``
(itsdangerous, HMAC-SHA256). Links are built when the email is sent and never stored in
process variables: they work like a password for that one choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "hireflow.interview-slot"
DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600


class SlotLinkInvalid(ValueError):
    """The link was tampered with, or signed with another secret."""


class SlotLinkExpired(SlotLinkInvalid):
    """The link is older than its time to live."""


@dataclass(frozen=True)
class SlotChoice:
    interview_id: str
    slot: dict  # {"start": ISO, "end": ISO}


class SlotLinks:
    """Makes and reads slot links under ``base_url`` (the webapp's ``/interviews/slot``)."""

    def __init__(self, secret: str, base_url: str, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS):
        if len(secret) < 16:
            raise ValueError("the slot link secret must be at least 16 characters")
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.base_url = base_url.rstrip("/")
        self.max_age_seconds = max_age_seconds

    def token_for(self, interview_id: str, slot: dict) -> str:
        return self._serializer.dumps({"interview_id": interview_id, "slot": slot})

    def link_for(self, interview_id: str, slot: dict) -> str:
        return f"{self.base_url}/{self.token_for(interview_id, slot)}"

    def read(self, token: str) -> SlotChoice:
        """The choice a token carries; raises SlotLinkExpired or SlotLinkInvalid."""
        try:
            data = self._serializer.loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise SlotLinkExpired("this slot link has expired; ask for a new one") from exc
        except BadSignature as exc:
            raise SlotLinkInvalid("this slot link is not valid") from exc
        return SlotChoice(interview_id=data["interview_id"], slot=data["slot"])
