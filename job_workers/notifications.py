"""Workers that email people: one job type, the template and recipients chosen per task by headers.

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

from pyzeebe import Job

from hireflow.adapters.email import EmailMessage
from hireflow.constants import Header, JobType, Var
from hireflow.errors import PermanentFailure
from hireflow.json_kinds import kind_name
from job_workers.services import Services
from job_workers.task_router import BUSINESS_ID_FORM, TaskRouter

# SendGrid answers in well under a second; the adapter's own timeout is 10 s.
SEND_TIMEOUT_MS = 60_000
# What templates see besides the process variables (see ``email_for``).
TEMPLATE_EXTRAS = frozenset(
    {
        "public_url",
        "tasks_url",
        "max_upload_megabytes",
        "card_link",
        "payment_link",
        "contact_link",
        "unlock_link",
        "withdrawal_link",
        "reschedule_link",
    }
)


def email_for(job: Job, services: Services) -> EmailMessage:
    """The email a send-email job asks for, from its headers and variables.

    Templates see the process variables, ``public_url`` (the webapp's address, for links),
    ``tasks_url`` (where people do their user tasks: Tasklist, or the webapp's task list),
    ``max_upload_megabytes`` (the largest resume accepted), ``card_link(unlock_id)``,
    which signs the link to save a new card for an unlock, ``payment_link(unlock_id)``,
    which signs the link to approve an unlock's payment with the bank,
    ``contact_link(unlock_id)``, which signs the link to the contact details a paid unlock
    opened, ``unlock_link(application_id)``, which signs the employer's link to unlock the
    application's candidate,
    ``withdrawal_link(application_id)``, which signs the candidate's link to withdraw, and
    ``reschedule_link(interview_id, interview_start, panelist=None)``, which signs the
    candidate's link (or, given their username, a panelist's) to ask for another time for a
    booked interview, while it may still be moved.

    The dedupe key names the template, the business object and the element instance:
    a retried or redelivered job has the same key, and each reminder a timer cycle
    triggers has a new one.
    """
    headers = job.custom_headers or {}
    variables = job.variables or {}
    missing = [
        h
        for h in (Header.EMAIL_TEMPLATE, Header.EMAIL_RECIPIENT_VARIABLE, Header.EMAIL_BUSINESS_ID_VARIABLE)
        if not headers.get(h)
    ]
    if missing:
        raise PermanentFailure(
            f"Task '{job.element_id}' lacks the header(s) {', '.join(missing)}; set them in the Modeler"
        )
    recipient_variable = headers[Header.EMAIL_RECIPIENT_VARIABLE]
    business_variable = headers[Header.EMAIL_BUSINESS_ID_VARIABLE]
    absent = [v for v in (recipient_variable, business_variable) if not variables.get(v)]
    if absent:
        raise PermanentFailure(f"The process has no value for {', '.join(absent)} to send this email")
    business_id = variables[business_variable]
    if not isinstance(business_id, str) or not BUSINESS_ID_FORM.fits(business_id):
        # Part of the dedupe key, which the outbox keeps in 200 characters.
        raise PermanentFailure(
            f"The variable {business_variable} is not {BUSINESS_ID_FORM.what} ({BUSINESS_ID_FORM.in_words});"
            " set it to the item's id"
        )
    recipient = variables[recipient_variable]
    if not isinstance(recipient, str):
        # A number or true was a TypeError in the address check: a "probable bug", retried.
        raise PermanentFailure(
            f"The variable {recipient_variable} is {kind_name(recipient)}, not an email address;"
            " set it to the recipient's address"
        )
    template = headers[Header.EMAIL_TEMPLATE]
    max_upload_megabytes = f"{services.intake_limits.max_bytes / 2**20:g}"
    context = {
        **variables,
        "public_url": services.public_url,
        "tasks_url": services.tasks_url,
        "max_upload_megabytes": max_upload_megabytes,
    }
    if services.card_links is not None:
        # A function, so only a template that links to the card page signs a link; a
        # template that uses it on a worker without card links fails as a missing value.
        context["card_link"] = services.card_links.link_for
    if services.payment_links is not None:
        context["payment_link"] = services.payment_links.link_for
    if services.contact_links is not None:
        # Optional in the receipt: without links, it tells the employer where else to look.
        context["contact_link"] = services.contact_links.link_for
    if services.unlock_links is not None:
        context["unlock_link"] = services.unlock_links.link_for
    if services.withdrawal_links is not None:
        # Optional in the templates that offer it: without links, the email goes without.
        context["withdrawal_link"] = services.withdrawal_links.link_for
    context |= services.reschedule_link_for(variables.get(Var.RESCHEDULED_FROM))
    return EmailMessage(
        dedupe_key=f"{template}:{business_id}:{job.element_instance_key}",
        to=recipient,
        template=template,
        context=context,
    )


class NotificationTasks:
    """Task functions that send email, with the mailer injected."""

    def __init__(self, services: Services):
        self.services = services

    def send_email(self, job: Job) -> dict:
        """Send the templated email once, however often the job is delivered."""
        if self.services.mailer is None:
            raise PermanentFailure("No mailer is configured for this worker")
        self.services.mailer.send(email_for(job, self.services))
        return {}


def build_router(services: Services) -> TaskRouter:
    """The notifications router, its tasks bound to ``services``."""
    tasks = NotificationTasks(services)
    router = TaskRouter()
    router.task(JobType.SEND_EMAIL, timeout_ms=SEND_TIMEOUT_MS)(tasks.send_email)
    return router
