"""The adapters a worker process uses, built once per process and injected into the routers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import caldav

from hireflow.adapters.calendar import CalDavCalendar, InterviewCalendar, StoreCalendar
from hireflow.adapters.email import EmailOutbox, Mailer, SendGridMailer
from hireflow.adapters.file_store import FileStore, file_store_from_environment
from hireflow.adapters.payments import PaymentGateway, StripeStylePaymentGateway
from hireflow.constants import DEFAULT_MAX_OFFERS_DECLINED, DEFAULT_MAX_RESCHEDULES
from hireflow.engine.profiles import local_profile
from hireflow.parser_sandbox import ParserLimits
from hireflow.resume_intake import DEFAULT_LIMITS, IntakeLimits
from hireflow.settings import decimal_number, whole_number
from hireflow.signed_links import (
    CardLinks,
    ContactLinks,
    OtherTimesLinks,
    PaymentLinks,
    RescheduleLinks,
    SlotLinks,
    UnlockLinks,
    WithdrawalLinks,
)
from hireflow.store import Database, checked_database_url

DEFAULT_MAIL_FROM = "no-reply@hireflow.example"


@dataclass
class Services:
    """Everything a task function may touch outside the process variables."""

    files: FileStore
    db: Database
    mailer: Mailer | None = None
    payments: PaymentGateway | None = None
    calendar: InterviewCalendar | None = None
    slot_links: SlotLinks | None = None
    card_links: CardLinks | None = None
    payment_links: PaymentLinks | None = None
    contact_links: ContactLinks | None = None
    unlock_links: UnlockLinks | None = None
    withdrawal_links: WithdrawalLinks | None = None
    reschedule_links: RescheduleLinks | None = None
    other_times_links: OtherTimesLinks | None = None
    intake_limits: IntakeLimits = DEFAULT_LIMITS
    # The address every email comes from. An interview invitation names it as its organizer,
    # the address calendar apps send an attendee's answer to, so it must be one that exists.
    mail_from: str = DEFAULT_MAIL_FROM
    # Where people reach the webapp; emails link to it.
    public_url: str = "http://127.0.0.1:5000"
    # Where people do their user tasks; emails to recruiters and panelists link to it.
    tasks_url: str = field(default_factory=lambda: local_profile().tasklist_url)
    # How often one interview may be moved (HIREFLOW_MAX_RESCHEDULES, the webapp's limit too).
    max_reschedules: int = DEFAULT_MAX_RESCHEDULES
    # How many offers of times a candidate may turn down (HIREFLOW_MAX_OFFERS_DECLINED, the
    # webapp's limit too).
    max_offers_declined: int = DEFAULT_MAX_OFFERS_DECLINED

    def reschedule_link_for(self, rescheduled_from: object) -> dict:
        """The templates' ``reschedule_link(interview_id, interview_start, panelist=None)``, which
        signs the candidate's or a panelist's link to ask for another time: none without such
        links, and none once the interview was moved as often as it may be (``rescheduled_from``
        lists the moves), for the webapp would refuse the request."""
        moves = len(rescheduled_from) if isinstance(rescheduled_from, list) else 0
        if self.reschedule_links is None or moves >= self.max_reschedules:
            return {}
        return {"reschedule_link": self.reschedule_links.link_for}


def calendar_from_environment(db: Database, env=os.environ) -> InterviewCalendar:
    """The interviewers' CalDAV calendars when ``HIREFLOW_CALDAV_CALENDAR_URL`` names them
    (``https://dav.example.com/{interviewer}/calendar/``, with ``HIREFLOW_CALDAV_USERNAME``
    and ``HIREFLOW_CALDAV_PASSWORD``); else bookings kept in the domain store only."""
    template = env.get("HIREFLOW_CALDAV_CALENDAR_URL", "").strip()
    if not template:
        return StoreCalendar(db)
    parts = urlsplit(template)
    client = caldav.DAVClient(
        url=f"{parts.scheme}://{parts.netloc}/",
        username=env.get("HIREFLOW_CALDAV_USERNAME") or None,
        password=env.get("HIREFLOW_CALDAV_PASSWORD") or None,
        timeout=10,
    )
    return CalDavCalendar(StoreCalendar(db), client, template)


def intake_limits_from_environment(env=os.environ) -> IntakeLimits:
    """What a resume may be and cost to read.

    ``HIREFLOW_MAX_UPLOAD_BYTES`` is the webapp's upload limit too, so a file the webapp
    accepts is never refused as too large by the workers. ``HIREFLOW_PARSER_CPU_SECONDS``
    and ``HIREFLOW_PARSER_MEMORY_MB`` raise the parser's limits for unusual files.
    """
    parser = ParserLimits(
        cpu_seconds=whole_number(env, "HIREFLOW_PARSER_CPU_SECONDS", ParserLimits.cpu_seconds, minimum=1),
        memory_bytes=whole_number(
            env, "HIREFLOW_PARSER_MEMORY_MB", ParserLimits.memory_bytes // 2**20, minimum=1
        )
        * 2**20,
    )
    max_bytes = whole_number(env, "HIREFLOW_MAX_UPLOAD_BYTES", DEFAULT_LIMITS.max_bytes, minimum=1)
    return replace(DEFAULT_LIMITS, max_bytes=max_bytes, parser=parser)


def tasks_url_from_environment(public_url: str, env=os.environ) -> str:
    """Where people do their user tasks: Tasklist (``HIREFLOW_TASKLIST_URL``), or the
    webapp's task list while ``make run`` runs the embedded engine, which has no Tasklist."""
    if env.get("HIREFLOW_ENGINE_CONTROL_URL"):
        return public_url + "/tasks"
    return env.get("HIREFLOW_TASKLIST_URL") or local_profile().tasklist_url


def mail_activity_lag(env=os.environ) -> float:
    """``SENDGRID_ACTIVITY_LAG_SECONDS``: how long SendGrid's Email Activity may take to list
    a mail (300 s; 0 for the local capture, which lists it at once)."""
    return decimal_number(env, "SENDGRID_ACTIVITY_LAG_SECONDS", 300.0, minimum=0)


def max_reschedules_from_environment(env=os.environ) -> int:
    """``HIREFLOW_MAX_RESCHEDULES``: how often one interview may be moved (0: never)."""
    return whole_number(env, "HIREFLOW_MAX_RESCHEDULES", DEFAULT_MAX_RESCHEDULES, minimum=0)


def max_offers_declined_from_environment(env=os.environ) -> int:
    """``HIREFLOW_MAX_OFFERS_DECLINED``: how many offers of interview times a candidate may
    turn down (0: no link to ask for other times)."""
    return whole_number(env, "HIREFLOW_MAX_OFFERS_DECLINED", DEFAULT_MAX_OFFERS_DECLINED, minimum=0)


def check_settings(env=os.environ) -> None:
    """Read every adapter setting that can be refused (the numbers, the database URL);
    ``SettingError`` names a bad one.

    For a launcher, before it starts processes that would each fail on it.
    """
    intake_limits_from_environment(env)
    mail_activity_lag(env)
    max_reschedules_from_environment(env)
    max_offers_declined_from_environment(env)
    if env.get("HIREFLOW_DATABASE_URL"):
        checked_database_url(env["HIREFLOW_DATABASE_URL"])


def services_from_environment(
    *, payment_attempts: int = 4, payment_timeout_seconds: float = 10.0
) -> Services:
    """The real adapters, pointed at the local sandboxes unless the environment says otherwise.

    ``HIREFLOW_FILES_DIR`` or ``HIREFLOW_FILES_URL`` (see ``file_store_from_environment``),
    ``HIREFLOW_DATABASE_URL``, ``SENDGRID_API_KEY``, ``SENDGRID_HOST``, ``SENDGRID_ACTIVITY_LAG_SECONDS``,
    ``HIREFLOW_MAIL_FROM``, ``PAYMENT_API_URL``, ``PAYMENT_API_KEY``, ``HIREFLOW_SLOT_LINK_SECRET``,
    ``HIREFLOW_PUBLIC_URL``, ``HIREFLOW_TASKLIST_URL`` (see ``tasks_url_from_environment``),
    ``HIREFLOW_CALDAV_CALENDAR_URL`` (see ``calendar_from_environment``), the intake
    limits (see ``intake_limits_from_environment``), ``HIREFLOW_MAX_RESCHEDULES`` and
    ``HIREFLOW_MAX_OFFERS_DECLINED``.

    A worker can wait for the payment gateway's quick retries; a web request cannot, so
    the webapp asks for fewer and shorter ones.
    """
    env = os.environ
    # A refused setting is named before the database is touched, so it is the only error.
    check_settings(env)
    public_url = env.get("HIREFLOW_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
    db = Database()
    db.create_schema()
    mail_from = env.get("HIREFLOW_MAIL_FROM", DEFAULT_MAIL_FROM)
    mailer = SendGridMailer(
        env.get("SENDGRID_API_KEY", "SG.hireflow-local"),
        host=env.get("SENDGRID_HOST", "http://127.0.0.1:8102"),
        sender=mail_from,
        outbox=EmailOutbox(db),
        activity_lag_seconds=mail_activity_lag(env),
    )
    payments = StripeStylePaymentGateway(
        env.get("PAYMENT_API_URL", "http://127.0.0.1:8101"),
        env.get("PAYMENT_API_KEY", "sk_test_hireflow_local"),
        attempts=payment_attempts,
        timeout_seconds=payment_timeout_seconds,
    )
    # One secret signs every emailed link; each kind has its own salt. The local default
    # only suits a developer machine; production sets its own secret.
    link_secret = env.get("HIREFLOW_SLOT_LINK_SECRET", "local-development-slot-link-secret")
    slot_links = SlotLinks(link_secret, public_url + "/interviews/slot")
    card_links = CardLinks(link_secret, public_url + "/unlocks/card")
    payment_links = PaymentLinks(link_secret, public_url + "/unlocks/payment")
    contact_links = ContactLinks(link_secret, public_url + "/unlocks/contact")
    unlock_links = UnlockLinks(link_secret, public_url + "/applications/unlock")
    withdrawal_links = WithdrawalLinks(link_secret, public_url + "/applications/withdrawal")
    reschedule_links = RescheduleLinks(link_secret, public_url + "/interviews/reschedule")
    other_times_links = OtherTimesLinks(link_secret, public_url + "/interviews/other-times")
    return Services(
        files=file_store_from_environment(env),
        db=db,
        mailer=mailer,
        payments=payments,
        calendar=calendar_from_environment(db, env),
        slot_links=slot_links,
        card_links=card_links,
        payment_links=payment_links,
        contact_links=contact_links,
        unlock_links=unlock_links,
        withdrawal_links=withdrawal_links,
        reschedule_links=reschedule_links,
        other_times_links=other_times_links,
        intake_limits=intake_limits_from_environment(env),
        mail_from=mail_from,
        public_url=public_url,
        tasks_url=tasks_url_from_environment(public_url, env),
        max_reschedules=max_reschedules_from_environment(env),
        max_offers_declined=max_offers_declined_from_environment(env),
    )
