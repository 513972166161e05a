"""Signed, expiring links that let a person act on one item from an email, without logging in.

Eight kinds exist, each under its own salt so that one kind's token is never read as another:

- a **slot link** lets a candidate pick one interview slot;
- an **other-times link** lets a candidate say no time of one offer suits them;
- a **reschedule link** lets a candidate ask for another time for one booked interview;
- a **card link** lets an employer save a new card for one unlock whose card was declined;
- a **payment link** lets an employer approve, with their bank, one unlock's card payment;
- a **contact link** lets an employer read the contact details one paid unlock opened;
- an **unlock link** lets a posting's employer unlock the candidate of one application;
- a **withdrawal link** lets a candidate withdraw one application.

A link carries its item's id (and, for a slot, the slot) signed with
``HIREFLOW_SLOT_LINK_SECRET`` (itsdangerous, HMAC-SHA256). Links are built when the email
is sent and never stored in process variables: they work like a password for that one
action. Ids derive from business keys and can be guessed; the signature cannot.

Links live for days, so the secret rotates without breaking the ones already mailed:
``HIREFLOW_SLOT_LINK_SECRET=new,old`` signs with ``new`` and still reads links signed
with ``old``. Drop ``old`` once its links have expired (30 days, as withdrawal, reschedule,
contact and unlock links live; slot, other-times and card links, 7; payment links, 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600
# Links to what stays open for weeks: an application, a booked interview, a paid unlock.
LONG_MAX_AGE_SECONDS = 30 * 24 * 3600
# A payment waits a day for its approval (the unlock's timer), and its link as long.
PAYMENT_MAX_AGE_SECONDS = 24 * 3600


class SignedLinkInvalid(ValueError):
    """The link was tampered with, signed with another secret, or is of another kind."""


class SignedLinkExpired(SignedLinkInvalid):
    """The link is older than its time to live."""


class SignedLinks:
    """Makes and reads one kind of link under ``base_url``; subclasses name the kind and its data."""

    salt = "hireflow.signed-link"
    kind = "link"
    # How long a link of the kind lives, unless the constructor is told otherwise.
    default_max_age_seconds = DEFAULT_MAX_AGE_SECONDS

    def __init__(self, secret: str, base_url: str, max_age_seconds: int | None = None):
        secrets = [part.strip() for part in secret.split(",")]
        if any(len(part) < 16 for part in secrets):
            raise ValueError("each link secret must be at least 16 characters")
        # itsdangerous signs with the last key and accepts any; ours lists the newest first.
        self._serializer = URLSafeTimedSerializer(secrets[::-1], salt=self.salt)
        self.base_url = base_url.rstrip("/")
        self.max_age_seconds = self.default_max_age_seconds if max_age_seconds is None else max_age_seconds

    def _token(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)

    def _read(self, token: str) -> dict[str, Any]:
        try:
            return self._serializer.loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise SignedLinkExpired(f"this {self.kind} has expired; ask for a new one") from exc
        except BadSignature as exc:
            raise SignedLinkInvalid(f"this {self.kind} is not valid") from exc


@dataclass(frozen=True)
class SlotChoice:
    interview_id: str
    slot: dict  # {"start": ISO, "end": ISO}


class SlotLinks(SignedLinks):
    """Links under the webapp's ``/interviews/slot`` that choose one interview slot."""

    salt = "hireflow.interview-slot"
    kind = "slot link"

    def token_for(self, interview_id: str, slot: dict) -> str:
        return self._token({"interview_id": interview_id, "slot": slot})

    def link_for(self, interview_id: str, slot: dict) -> str:
        return f"{self.base_url}/{self.token_for(interview_id, slot)}"

    def read(self, token: str) -> SlotChoice:
        """The choice a token carries; raises SignedLinkExpired or SignedLinkInvalid."""
        data = self._read(token)
        return SlotChoice(interview_id=data["interview_id"], slot=data["slot"])


@dataclass(frozen=True)
class OtherTimesRequest:
    interview_id: str
    offer_start: str  # the start of the offer's first time: which offer the link declines


class OtherTimesLinks(SignedLinks):
    """Links under the webapp's ``/interviews/other-times`` that say no time of one offer of
    slots suits the candidate: new times are then offered, none of those. A link names its
    offer by its first time, so a link from an offer before asks for nothing."""

    salt = "hireflow.interview-other-times"
    kind = "link to ask for other times"

    def token_for(self, interview_id: str, offer_start: str) -> str:
        return self._token({"interview_id": interview_id, "offer_start": offer_start})

    def link_for(self, interview_id: str, offer_start: str) -> str:
        return f"{self.base_url}/{self.token_for(interview_id, offer_start)}"

    def read(self, token: str) -> OtherTimesRequest:
        """The interview and offer a token names; raises SignedLinkExpired or SignedLinkInvalid."""
        data = self._read(token)
        return OtherTimesRequest(interview_id=data["interview_id"], offer_start=data["offer_start"])


@dataclass(frozen=True)
class RescheduleRequest:
    interview_id: str
    start: str  # the booked start the link was made for, as the booking variable gives it
    panelist: str | None = None  # the panelist's username the link was sent to; None: the candidate's


class RescheduleLinks(SignedLinks):
    """Links under the webapp's ``/interviews/reschedule`` that ask for another time for one
    interview, as booked at one start: a link from before a move asks for nothing. The
    candidate's link names no one; a panelist's names them by username, so their page
    speaks to them and gives times in their zone.

    They live as long as withdrawal links: an interview is booked up to two weeks ahead.
    """

    salt = "hireflow.interview-reschedule"
    kind = "reschedule link"
    default_max_age_seconds = LONG_MAX_AGE_SECONDS

    def token_for(self, interview_id: str, start: str, panelist: str | None = None) -> str:
        data = {"interview_id": interview_id, "start": start}
        if panelist is not None:
            data["panelist"] = panelist
        return self._token(data)

    def link_for(self, interview_id: str, start: str, panelist: str | None = None) -> str:
        return f"{self.base_url}/{self.token_for(interview_id, start, panelist)}"

    def read(self, token: str) -> RescheduleRequest:
        """The interview, booked start and panelist (if any) a token names; raises
        SignedLinkExpired or SignedLinkInvalid."""
        data = self._read(token)
        return RescheduleRequest(
            interview_id=data["interview_id"], start=data["start"], panelist=data.get("panelist")
        )


class ItemLinks(SignedLinks):
    """Links that carry one item's id (``id_field``): one action on that item."""

    id_field = "id"

    def token_for(self, item_id: str) -> str:
        return self._token({self.id_field: item_id})

    def link_for(self, item_id: str) -> str:
        return f"{self.base_url}/{self.token_for(item_id)}"

    def read(self, token: str) -> str:
        """The item id a token carries; raises SignedLinkExpired or SignedLinkInvalid."""
        return self._read(token)[self.id_field]


class CardLinks(ItemLinks):
    """Links under the webapp's ``/unlocks/card`` that save a new card for one unlock."""

    salt = "hireflow.unlock-card"
    kind = "card link"
    id_field = "unlock_id"


class PaymentLinks(ItemLinks):
    """Links under the webapp's ``/unlocks/payment`` that approve one unlock's card payment
    with the employer's bank (3-D Secure)."""

    salt = "hireflow.unlock-payment"
    kind = "payment link"
    id_field = "unlock_id"
    default_max_age_seconds = PAYMENT_MAX_AGE_SECONDS


class WithdrawalLinks(ItemLinks):
    """Links under the webapp's ``/applications/withdrawal`` that withdraw one application.

    They live longer than the others: an application stays open for weeks of interviews,
    and withdrawing it is the candidate's own choice about their own application.
    """

    salt = "hireflow.application-withdrawal"
    kind = "withdrawal link"
    id_field = "application_id"
    default_max_age_seconds = LONG_MAX_AGE_SECONDS


class ContactLinks(ItemLinks):
    """Links under the webapp's ``/unlocks/contact`` that show the employer the contact
    details one paid unlock opened, as the store has them when the link is followed (so an
    erased candidate's are gone). The receipt carries one. After its 30 days, the
    marketplace's own pages show them (``GET /api/employers/<id>/contacts``).
    """

    salt = "hireflow.unlock-contact"
    kind = "contact link"
    id_field = "unlock_id"
    default_max_age_seconds = LONG_MAX_AGE_SECONDS


class UnlockLinks(ItemLinks):
    """Links under the webapp's ``/applications/unlock`` that let the employer of one
    application's posting unlock its candidate's contact details. The email telling them of
    the shortlisted candidate carries one; the page asks before anything is paid.
    """

    salt = "hireflow.application-unlock"
    kind = "unlock link"
    id_field = "application_id"
    default_max_age_seconds = LONG_MAX_AGE_SECONDS
