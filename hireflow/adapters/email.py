"""Email adapter: SendGrid through the ``sendgrid`` SDK, sent once per dedupe key.

Each email names a dedupe key built from business identifiers (for example
``resume-received:<resume id>``). Before sending, the key is claimed in the domain
store's outbox; once SendGrid accepts the mail it is marked sent. A retried or
redelivered job finds it sent and does not send again. A claim left by a sender that
crashed mid-send expires; the next sender then looks the mail up at SendGrid, waits
while SendGrid's records may still lag behind the lost try, and sends only a mail
SendGrid does not have. Without that lookup (an account without the Email Activity
add-on) the mail is sent again: a rare duplicate is preferred to a lost mail.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import re
import urllib.error
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, CustomArg, Disposition, FileContent, FileName, FileType, Mail
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from hireflow.constants import EMAIL_MAX_LENGTH
from hireflow.errors import PermanentFailure, RetryLater
from hireflow.store import Database, EmailOutboxEntry, utcnow

log = logging.getLogger(__name__)
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "email_templates"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


def on_one_line(value: Any) -> Any:
    """A value as a template shows it: control characters become one space.

    A line break in a name would otherwise end the subject line (the rest of the name
    opening the body), and a NUL would reach the mail provider. The webapp refuses both;
    an instance started or edited by hand may carry them.
    """
    return CONTROL_CHARACTERS.sub(" ", value) if isinstance(value, str) else value


class EmailError(Exception):
    """Base of the email adapter's errors."""


class EmailTemporarilyUnavailable(EmailError):
    """Rate limit, 5xx or network trouble: retry the job later with backoff."""


class EmailSendInProgress(EmailError, RetryLater):
    """Another worker holds a live claim on this dedupe key: look again once the claim ends.

    A claim ends by itself (sent, released or expired), so this is a wait, not a failure:
    it keeps the job's retries. A duplicate delivery of the job must not use them up.
    """


class EmailOutcomeNotYetKnown(EmailError, RetryLater):
    """A lost try is not at SendGrid yet, but may still show up there: look again later."""


class EmailRejected(EmailError, PermanentFailure):
    """The provider refused the mail (bad key, bad address, bad body): a person must fix it."""


class SendOutcome(Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"


class Claim(Enum):
    """What a sender learns when it claims a dedupe key."""

    NEW = "new"  # nobody tried this mail yet: send it
    AFTER_LOST_ATTEMPT = "after_lost_attempt"  # an earlier sender died mid-send: it may have gone out
    ALREADY_SENT = "already_sent"  # recorded as sent: do nothing


@dataclass(frozen=True)
class EmailAttachment:
    """A file sent with an email, such as an ICS invitation."""

    filename: str
    content: bytes
    mime_type: str


@dataclass(frozen=True)
class EmailMessage:
    """One email to send: who gets it, which template, the values it needs, and its dedupe key."""

    dedupe_key: str
    to: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[EmailAttachment, ...] = ()


class Mailer(Protocol):
    """What the workers need from an email provider."""

    def send(self, message: EmailMessage) -> SendOutcome: ...


def _moment(value: Any, zone: str | None) -> tuple[datetime, str] | None:
    """The timestamp ``value`` in ``zone`` (a tz database name; None or unknown: UTC), with the
    zone's label as a time is followed by it ("UTC", or "(Europe/Berlin)"); None for no timestamp."""
    # The engine writes a zoned time as Java prints it: 2026-12-05T00:44:11.339Z[Etc/UTC].
    text = str(value).split("[", 1)[0]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        place = ZoneInfo(zone) if zone and zone != "UTC" else None
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        place = None  # an odd zone (or no text at all) must not stop an email either: UTC, said as such
    if place is None:
        return moment.astimezone(UTC), "UTC"
    return moment.astimezone(place), f"({zone})"


# A timestamp as hireflow and the engine write them: ISO 8601 with a time and a zone offset.
# Stricter than ``datetime.fromisoformat``, which also takes a bare date or "20261201".
TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})(\[[\w/+-]+\])?"
)


def is_timestamp(value: Any) -> bool:
    """Whether ``value`` is text holding one timestamp (``2026-12-14T09:00:00Z``), and nothing else."""
    return isinstance(value, str) and TIMESTAMP.fullmatch(value) is not None


def readable_time(value: Any, zone: str | None = None) -> str:
    """``2026-12-14T09:00:00Z`` as people read it: ``Monday 14 December 2026, 09:00 UTC``.

    With ``zone`` (the reader's tz database name), in their time: ``..., 10:00 (Europe/Berlin)``.
    A value that is not an ISO timestamp is shown as it is: an odd time must not stop an email.
    """
    found = _moment(value, zone)
    if found is None:
        return str(value)
    moment, label = found
    return f"{moment:%A} {moment.day} {moment:%B %Y}, {moment:%H:%M} {label}"


def readable_span(start: Any, end: Any, zone: str | None = None) -> str:
    """A time span as people write it: ``Monday 14 December 2026, 09:00 to 10:00 UTC`` within one day;
    the start alone (``readable_time``) when there is no end."""
    if end is None:
        return readable_time(start, zone)
    first, last = _moment(start, zone), _moment(end, zone)
    if first is None or last is None:
        return f"{readable_time(start, zone)} to {readable_time(end, zone)}"
    (begins, label), (ends, _) = first, last
    if begins.date() == ends.date():
        return f"{begins:%A} {begins.day} {begins:%B %Y}, {begins:%H:%M} to {ends:%H:%M} {label}"
    return f"{readable_time(start, zone)} to {readable_time(end, zone)}"


def for_the_job(posting_title: Any) -> str:
    """`` for "<title>"``, naming the job an interview is for; nothing for an instance that
    has no title (an admin start, one begun before interviews named their job)."""
    if isinstance(posting_title, jinja2.Undefined) or not posting_title:
        return ""
    return f' for "{posting_title}"'


def panel_member(attendee_email: str, panel: Any) -> dict:
    """The interview panel's member with ``attendee_email`` as the ``panel`` variable gives
    them (username, email, name, timezone); empty when no member has that email."""
    for member in panel if isinstance(panel, list) else []:
        if isinstance(member, dict) and member.get("email") == attendee_email:
            return member
    return {}


def attendee_zone(
    attendee_email: str, candidate_email: str, candidate_timezone: str | None = None, panel: Any = None
) -> str | None:
    """The time zone an interview's attendee reads times in: the candidate's, or the panelist's
    as the panel gives it (``timezone``); None (UTC) for one the request gave no zone."""
    if attendee_email == candidate_email:
        return candidate_timezone
    return panel_member(attendee_email, panel).get("timezone")


def panelist_username(attendee_email: str, panel: Any) -> str | None:
    """The username of the panelist with ``attendee_email``: None for anyone else."""
    username = panel_member(attendee_email, panel).get("username")
    return username if isinstance(username, str) else None


class EmailTemplates:
    """Templates in files: the first line is ``Subject: ...``, the rest is the plain-text body."""

    def __init__(self, folder: Path = TEMPLATES_DIR):
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            undefined=jinja2.StrictUndefined,  # a missing value is an error, not a blank in a mail
            keep_trailing_newline=True,
            finalize=on_one_line,  # every {{ value }}, not the template's own text
        )
        self.env.filters["when"] = readable_time
        self.env.filters["when_until"] = readable_span
        self.env.filters["for_the_job"] = for_the_job
        self.env.globals["attendee_zone"] = attendee_zone
        self.env.globals["panelist_username"] = panelist_username

    def render(self, name: str, context: dict[str, Any]) -> tuple[str, str]:
        """Return (subject, text) for template ``name``."""
        try:
            rendered = self.env.get_template(f"{name}.txt").render(**context)
        except jinja2.TemplateNotFound as exc:
            raise EmailRejected(f"No email template named {name!r}") from exc
        except jinja2.UndefinedError as exc:
            raise EmailRejected(f"Email template {name!r} is missing a value: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            # A value of the wrong kind for what the template does with it (a price's
            # amount_cents that is no number): bad variables, for a person to set right.
            raise EmailRejected(f"Email template {name!r} cannot use a value it was given: {exc}") from exc
        first, _, body = rendered.partition("\n")
        if not first.startswith("Subject: "):
            raise EmailRejected(f"Email template {name!r} must start with a 'Subject: ' line")
        return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


class EmailOutbox:
    """Claims and records sent mails by dedupe key (unique), in the domain store."""

    # Longer than one send may take (the SDK's 10 s timeout), shorter than a job's timeout, so
    # the retry after a crashed sender finds the claim expired rather than waiting it out.
    def __init__(self, db: Database, claim_seconds: float = 30.0):
        self.db = db
        self.claim = timedelta(seconds=claim_seconds)

    def try_claim(self, message: EmailMessage) -> Claim:
        """Claim ``message``'s dedupe key for a send. Raises EmailSendInProgress while another holds it."""
        now = utcnow()
        try:
            with self.db.sessions.begin() as session:
                entry = session.get(EmailOutboxEntry, message.dedupe_key)
                if entry is None:
                    session.add(
                        EmailOutboxEntry(
                            dedupe_key=message.dedupe_key,
                            recipient=message.to,
                            template=message.template,
                            status="sending",
                            claimed_until=now + self.claim,
                            first_tried_at=now,
                        )
                    )
                    return Claim.NEW
                if entry.status == "sent":
                    return Claim.ALREADY_SENT
                if entry.claimed_until > now:
                    raise EmailSendInProgress(
                        f"email {message.dedupe_key} is being sent by another worker",
                        after_seconds=(entry.claimed_until - now).total_seconds() + 1,
                    )
                # Take the expired claim over with a compare-and-set: workers that all read it
                # expired would otherwise all send (SQLite has no FOR UPDATE to stop them).
                taken = session.execute(
                    update(EmailOutboxEntry)
                    .where(
                        EmailOutboxEntry.dedupe_key == message.dedupe_key,
                        EmailOutboxEntry.status == "sending",
                        EmailOutboxEntry.claimed_until == entry.claimed_until,
                    )
                    .values(claimed_until=now + self.claim)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not taken:
                    raise EmailSendInProgress(
                        f"email {message.dedupe_key} was taken over by another worker",
                        after_seconds=self.claim.total_seconds() + 1,
                    )
                return Claim.AFTER_LOST_ATTEMPT
        except IntegrityError as exc:  # another worker inserted the same key first
            raise EmailSendInProgress(
                f"email {message.dedupe_key} is being sent by another worker",
                after_seconds=self.claim.total_seconds() + 1,
            ) from exc

    def mark_sent(self, dedupe_key: str, provider_message_id: str | None) -> None:
        with self.db.sessions.begin() as session:
            entry = session.get(EmailOutboxEntry, dedupe_key)
            entry.status = "sent"
            entry.sent_at = utcnow()
            entry.provider_message_id = provider_message_id

    def first_tried_at(self, dedupe_key: str) -> datetime | None:
        """When the first send of this mail was tried (unknown for entries older than that record)."""
        with self.db.sessions() as session:
            entry = session.get(EmailOutboxEntry, dedupe_key)
            return entry.first_tried_at if entry is not None else None

    def end_claim(self, dedupe_key: str) -> None:
        """End a claim now but keep the entry, so the next sender looks the mail up again."""
        with self.db.sessions.begin() as session:
            entry = session.get(EmailOutboxEntry, dedupe_key)
            if entry is not None and entry.status == "sending":
                entry.claimed_until = utcnow()

    def release(self, dedupe_key: str) -> None:
        """Give up a claim after a failed send, so the retry need not wait for it to expire."""
        with self.db.sessions.begin() as session:
            entry = session.get(EmailOutboxEntry, dedupe_key)
            if entry is not None and entry.status == "sending":
                session.delete(entry)


def is_plausible_address(address: str) -> bool:
    """A bare ``local@domain.tld`` address of at most 254 characters (what SMTP carries);
    display names and anything else are refused."""
    if not isinstance(address, str) or len(address) > EMAIL_MAX_LENGTH:
        return False
    name, parsed = email.utils.parseaddr(address)
    local, _, domain = parsed.partition("@")
    return not name and parsed == address and bool(local) and "." in domain.strip(".")


class SendGridMailer:
    """Sends templated plain-text mail through SendGrid's v3 API, once per dedupe key."""

    def __init__(
        self,
        api_key: str,
        *,
        sender: str,
        outbox: EmailOutbox,
        templates: EmailTemplates | None = None,
        host: str = "https://api.sendgrid.com",
        timeout_seconds: float = 10.0,
        activity_lag_seconds: float = 300.0,
    ):
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        self._client.client.timeout = timeout_seconds
        self.sender = sender
        self.outbox = outbox
        self.templates = templates or EmailTemplates()
        # How long SendGrid's Email Activity may take to list an accepted mail; the local
        # mail capture lists it at once.
        self.activity_lag = timedelta(seconds=activity_lag_seconds)

    def send(self, message: EmailMessage) -> SendOutcome:
        """Send ``message`` unless its dedupe key was already sent."""
        subject, text = self.templates.render(message.template, message.context)
        if not is_plausible_address(message.to):
            # The SDK's Mail helper crashes (KeyError) on such an address; refuse it clearly instead.
            raise EmailRejected(f"Invalid recipient address {message.to!r} for {message.dedupe_key}")
        claim = self.outbox.try_claim(message)
        if claim is Claim.AFTER_LOST_ATTEMPT:
            # The sender before us died after claiming: SendGrid may have accepted the mail
            # already. It has no idempotency key, so look the mail up by its dedupe key.
            searched, provider_id = self._find_at_provider(message.dedupe_key)
            if provider_id is not None:
                self.outbox.mark_sent(message.dedupe_key, provider_id)
                log.info("email %s went out before its sender died; not sending again", message.dedupe_key)
                return SendOutcome.ALREADY_SENT
            self._wait_while_sendgrid_may_lag(message.dedupe_key, searched)
        if claim is Claim.ALREADY_SENT:
            log.info("email %s already sent; not sending again", message.dedupe_key)
            return SendOutcome.ALREADY_SENT
        mail = Mail(from_email=self.sender, to_emails=message.to, subject=subject, plain_text_content=text)
        mail.custom_arg = CustomArg("dedupe_key", message.dedupe_key)
        for attachment in message.attachments:
            mail.add_attachment(
                Attachment(
                    FileContent(base64.b64encode(attachment.content).decode("ascii")),
                    FileName(attachment.filename),
                    FileType(attachment.mime_type),
                    Disposition("attachment"),
                )
            )
        try:
            response = self._client.send(mail)
        except HTTPError as exc:
            self.outbox.release(message.dedupe_key)
            if exc.status_code == 429 or exc.status_code >= 500:
                raise EmailTemporarilyUnavailable(
                    f"SendGrid answered {exc.status_code} for {message.dedupe_key}; retry later"
                ) from exc
            raise EmailRejected(
                f"SendGrid refused {message.dedupe_key} with {exc.status_code}: {exc.body!r}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            # The mail may or may not have gone out; the claim stays and expires, then a retry resends.
            raise EmailTemporarilyUnavailable(
                f"SendGrid unreachable for {message.dedupe_key}: {exc}"
            ) from exc
        self.outbox.mark_sent(message.dedupe_key, response.headers.get("X-Message-Id"))
        return SendOutcome.SENT

    def _wait_while_sendgrid_may_lag(self, dedupe_key: str, searched: bool) -> None:
        """Raise EmailOutcomeNotYetKnown while a lost try may still show up at SendGrid."""
        tried_at = self.outbox.first_tried_at(dedupe_key)
        if not searched or tried_at is None:
            return  # nobody can know (no search, or an entry older than this record): send
        still_lagging = tried_at + self.activity_lag - utcnow()
        if still_lagging.total_seconds() > 0:
            self.outbox.end_claim(dedupe_key)  # so the next try looks it up again at once
            raise EmailOutcomeNotYetKnown(
                f"email {dedupe_key}: an earlier try was lost, and SendGrid's activity may not list it yet",
                after_seconds=still_lagging.total_seconds(),
            )

    def _find_at_provider(self, dedupe_key: str) -> tuple[bool, str | None]:
        """Whether SendGrid could be asked, and its message id for the mail tagged ``dedupe_key``.

        Uses the Email Activity API (``GET /v3/messages``). Accounts without it (an add-on)
        answer 4xx: then nobody can know, and the mail is sent again.
        """
        query = {"query": f"unique_args['dedupe_key']=\"{dedupe_key}\"", "limit": 1}
        try:
            response = self._client.client.messages.get(query_params=query)
        except HTTPError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise EmailTemporarilyUnavailable(
                    f"SendGrid's activity search answered {exc.status_code} for {dedupe_key}; retry later"
                ) from exc
            log.warning(
                "email %s: an earlier attempt was lost and SendGrid's activity search answered %s; "
                "sending again, which may duplicate it",
                dedupe_key,
                exc.status_code,
            )
            return False, None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EmailTemporarilyUnavailable(f"SendGrid unreachable for {dedupe_key}: {exc}") from exc
        try:
            found = json.loads(response.body or b"{}")
            messages = found.get("messages") or []
            return True, (messages[0].get("msg_id") if messages else None)
        except (ValueError, AttributeError, TypeError, IndexError) as exc:
            # Not SendGrid's answer (a proxy's page, or a host that names another server).
            raise EmailTemporarilyUnavailable(
                f"SendGrid's activity search for {dedupe_key} gave an answer that is not its JSON"
                f" ({type(exc).__name__}); check that the SendGrid host names SendGrid"
            ) from exc
