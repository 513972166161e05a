"""Incident messages, written for the operator who reads them in Operate.

Each message says what failed, for which business object, and what to do, in that order:

    Payment gateway unreachable after 5 tries, at ChargeCard (payment.charge, job 2251799813685312)
    for unlock u-42. Check the payment gateway (status page, API key, network), then retry
    the incident. Detail: ...

The failure policy picks the cause from the exception's class. The catalogue below is the
one place that names causes and actions, so every message the pool can raise can be
listed and tested (tests/test_incident_messages.py). The operators' table in
deploy/README.md (*Repairing incidents*) repeats it, and that test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyzeebe import Job
from sqlalchemy.exc import DBAPIError

from hireflow.adapters.calendar import CalendarUnavailable
from hireflow.adapters.email import EmailRejected, EmailTemporarilyUnavailable
from hireflow.adapters.file_store import FileNotFound, FileStoreUnavailable
from hireflow.adapters.payments import PaymentGatewayUnavailable, PaymentRequestRejected
from hireflow.errors import PermanentFailure
from hireflow.parser_sandbox import ParserUnavailable
from job_workers.interview import NoFreeSlots

# Variables that name the business object, most specific first; the first found is the object.
BUSINESS_KEYS = ("unlock_id", "application_id", "interview_id", "resume_id", "candidate_id")
# Operate retries it on a cluster; on the embedded engine, the item's page in the webapp does.
RETRY = "then retry the incident"
# Operate shows the whole message; the exception's own text is cut to keep it readable.
DETAIL_LIMIT = 400


@dataclass(frozen=True)
class Cause:
    """A kind of failure as an operator names it, and what they should do about it."""

    exceptions: tuple[type[BaseException], ...]
    what: str
    action: str


# Retried with backoff first; these name the cause once the retries are spent.
# The first matching entry wins, so a subclass comes before its base.
TECHNICAL_CAUSES = (
    Cause(
        (PaymentGatewayUnavailable,),
        "Payment gateway unreachable",
        "Check the payment gateway (status page, API key, network)",
    ),
    Cause(
        (EmailTemporarilyUnavailable,),
        "Mail provider unavailable or rate-limiting",
        "Check SendGrid's status and rate limits (or the local mail capture)",
    ),
    Cause(
        (CalendarUnavailable,),
        "Calendar server unavailable",
        "Check the CalDAV server (status, credentials, network)",
    ),
    Cause(
        (NoFreeSlots,),
        "No common free hour for the interview panel",
        "Free some time in the panelists' calendars within their working hours (or cancel the "
        "interview and schedule it with a panel whose working hours meet)",
    ),
    Cause((DBAPIError,), "hireflow database unavailable", "Check the database (connections, disk space)"),
    Cause(
        (FileStoreUnavailable,),
        "File store unavailable",
        "Check the files folder's volume, or the S3 bucket (endpoint, credentials, permissions)",
    ),
    Cause(
        (ParserUnavailable,),
        "Resume parser gave no answer",
        "Check the worker's CPU and memory (the log says how the parser process ended); "
        "if one file always fails, ask the candidate for another",
    ),
    Cause((FileNotFound,), "Stored file missing", "Restore the file from backup or ask for a new upload"),
)
UNEXPECTED = Cause(
    (Exception,),
    "Unexpected error (probably a bug)",
    "Search the worker log for this job's key, fix the cause",
)

# Retrying cannot help: the incident appears at once.
PERMANENT_CAUSES = (
    Cause(
        (PaymentRequestRejected,),
        "Payment gateway refused the request",
        "Check the payment details and the gateway's API key",
    ),
    Cause(
        (EmailRejected,),
        "Mail provider refused the email",
        "Check the recipient address, the template and the SendGrid API key",
    ),
)
BAD_DATA = Cause((PermanentFailure,), "Cannot succeed with this data", "Fix what the detail says")


# Every cause a message of the pool's can start with.
EVERY_CAUSE = (*TECHNICAL_CAUSES, UNEXPECTED, *PERMANENT_CAUSES, BAD_DATA)


def cause_named_in(message: str) -> Cause | None:
    """The cause an incident's message starts with; None for an incident the pool did not raise
    (the engine's own: an expression that failed, a BPMN error nothing caught, ...)."""
    return next((cause for cause in EVERY_CAUSE if message.startswith(cause.what)), None)


def business_reference(job: Job) -> str:
    """``unlock u-42 (candidate c-7)``: the business object of the job, if it is known."""
    variables = job.variables or {}
    found = [f"{key.removesuffix('_id')} {variables[key]}" for key in BUSINESS_KEYS if key in variables]
    if not found:
        return f"process instance {job.process_instance_key}"
    return found[0] + (f" ({', '.join(found[1:])})" if found[1:] else "")


def cause_of(exc: BaseException) -> Cause:
    """The catalogue entry that names ``exc``."""
    causes = PERMANENT_CAUSES + (BAD_DATA,) if isinstance(exc, PermanentFailure) else TECHNICAL_CAUSES
    for cause in causes:
        if isinstance(exc, cause.exceptions):
            return cause
    return UNEXPECTED


def incident_message(job: Job, exc: BaseException, *, tries: int | None = None) -> str:
    """The message for the incident ``exc`` raises; ``tries`` when the retries ran out."""
    cause = cause_of(exc)
    after = f" after {tries} tries" if tries else ""
    detail = f"{type(exc).__name__}: {exc}" if cause is UNEXPECTED else str(exc)
    if len(detail) > DETAIL_LIMIT:
        detail = detail[: DETAIL_LIMIT - 1] + "…"
    where = f"{job.element_id} ({job.type}, job {job.key})"
    return (
        f"{cause.what}{after}, at {where} for {business_reference(job)}. "
        f"{cause.action}, {RETRY}. Detail: {detail}"
    )
