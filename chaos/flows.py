"""Business flows driven through the webapp, as people and the payment provider drive them.

A flow starts one or more process instances and then takes the steps a person or an
outside service would take (choose a slot, cancel, deliver a payment webhook). Every
step is taken by ``advance()``, which looks at what has happened so far and does the
next thing, so the driver can call it again and again, and again after a repair. Each
request is idempotent on the webapp's side, so retrying one after a 503 or a lost
answer is safe, exactly as for a real client.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field

import requests

from chaos.world import ADMIN_TOKEN, WEBHOOK_SECRET
from hireflow.constants import Message
from hireflow.paths import PROJECT_ROOT
from hireflow.store import Candidate, utcnow
from hireflow.webhook_signing import SIGNATURE_HEADER, sign

SLOT_LINK = re.compile(r"/interviews/slot/([A-Za-z0-9._-]+)")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# The slot page of a time already chosen or booked, which asks nothing more.
SLOT_ALREADY_CHOSEN = re.compile(r'data-testid="outcome">(You chose this slot;|This time is booked)')
RESCHEDULE_LINK = re.compile(r"/interviews/reschedule/([A-Za-z0-9._-]+)")
# The reschedule page once another time was asked for, which asks nothing more (said as
# given up already when the webapp never kept who asked: it stopped between the two).
RESCHEDULE_ASKED = re.compile(
    r'data-testid="outcome">'
    r"(Thank you: the time|You asked for another time already|This time is given up already)"
)
# The dedupe key of the email that offers the candidate times (not its reminders).
SLOT_OFFER_KEY = "interview-slots:"
CANDIDATE_SKILLS = ["python", "sql"]
REQUEST_TIMEOUT_S = 15.0
# Answers after which a client sends the same request again: the engine is away or slow.
RETRYABLE_STATUSES = {502, 503, 504}


class FlowError(RuntimeError):
    """The webapp refused a request a correct client sends: a bug, reported, never retried."""


@dataclass
class SentMessage:
    """A message the webapp accepted for an instance, and the BPMN element it must complete."""

    name: str
    instance_key: str
    catch_element: str
    accepted_at_ms: int
    # The element whose activation opens the subscription, to tell "published before it".
    subscription_element: str | None = None


@dataclass
class Started:
    """A process instance a flow started, with its business kind and id."""

    kind: str
    business_id: str
    instance_key: str


@dataclass
class Flow:
    """Base flow: a name, the instances it started, the messages it had accepted."""

    web_url: str
    label: str = "flow"
    started: list[Started] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    done: bool = False
    refusals: list[str] = field(default_factory=list)
    # The ids a request names, made once: a request tried again on the next ``advance``
    # (the engine was down for longer than ``call`` waits) must ask for the same thing, as
    # a real client's retry does, or the webapp rightly refuses it as another request
    # under the same key, or starts a second item beside one it may have started.
    ids: dict[str, str] = field(default_factory=dict)

    def advance(self, world) -> None:
        """Take the next step; set ``done`` when nothing is left for this flow to do."""
        raise NotImplementedError

    def kept_id(self, name: str, make) -> str:
        """The id ``name`` this flow made before, or a new one from ``make()``."""
        if name not in self.ids:
            self.ids[name] = make()
        return self.ids[name]

    # -- HTTP with a real client's patience --

    def call(self, method: str, path: str, *, session: requests.Session | None = None, **kwargs):
        """One request, repeated while the webapp or the engine behind it is unavailable.

        Returns None when it kept failing for a while; the flow then tries again on its
        next ``advance``. Any other 4xx/5xx is a refusal a correct client never gets.
        """
        http = session or requests
        for attempt in range(5):
            try:
                response = http.request(method, self.web_url + path, timeout=REQUEST_TIMEOUT_S, **kwargs)
            except requests.RequestException:
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in RETRYABLE_STATUSES or request_in_progress(response):
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code >= 400:
                detail = response.text[:300]
                self.refusals.append(f"{method} {path}: {response.status_code} {detail}")
                raise FlowError(f"{method} {path} answered {response.status_code}: {detail}")
            return response
        return None

    def start(self, kind: str, path: str, **kwargs) -> Started | None:
        response = self.call("POST", path, **kwargs)
        if response is None:
            return None
        body = response.json()
        started = Started(kind, body["id"], str(body["processInstanceKey"]))
        self.started.append(started)
        return started


def request_in_progress(response: requests.Response) -> bool:
    """The webapp's 409 for the same request being handled right now: retry shortly, as it says.

    Told by its ``Retry-After``, which the JSON problem and the HTML page (a slot or card
    link's form) both carry. Reading the JSON title alone once took the page's 409, after
    an engine restart lost a publish's answer, for a refusal, and the flow gave up.
    """
    return response.status_code == 409 and "Retry-After" in response.headers


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# One real resume for every candidate: resume ids derive from the candidate and the file,
# so the same file under many candidates still makes a new resume each time.
SAMPLE_RESUME = PROJECT_ROOT / "docs" / "samples" / "ada-lovelace.pdf"


def seed_candidate(world) -> str:
    """A candidate whose resume was processed earlier, as resume-upload leaves one."""
    candidate_id = unique("cand")
    with world.db.sessions.begin() as session:
        session.add(
            Candidate(
                candidate_id=candidate_id,
                resume_id=unique("res"),
                skills=CANDIDATE_SKILLS,
                years_of_experience=5,
                indexed_at=utcnow(),
            )
        )
    return candidate_id


@dataclass
class ResumeUploadFlow(Flow):
    """A candidate uploads a PDF; resume-upload validates, reads, indexes and emails."""

    def advance(self, world) -> None:
        candidate_id = self.kept_id("candidate", lambda: unique("cand"))
        files = {"file": ("resume.pdf", SAMPLE_RESUME.read_bytes(), "application/pdf")}
        data = {
            "candidate_id": candidate_id,
            "candidate_name": "Ada Lovelace",
            "candidate_email": f"{candidate_id}@example.com",
        }
        self.done = self.start("resume", "/api/resumes", files=files, data=data) is not None


@dataclass
class ApplicationFlow(Flow):
    """A strong match applies to a posting; resume-submission shortlists and tells both sides."""

    posting_id: str = ""

    def advance(self, world) -> None:
        candidate_id = self.kept_id("candidate", lambda: seed_candidate(world))
        body = {
            "candidate_id": candidate_id,
            "candidate_name": "Grace Hopper",
            "candidate_email": f"{candidate_id}@example.com",
            "posting_id": self.posting_id,
            "employer_email": f"{self.kept_id('employer', lambda: unique('employer'))}@example.com",
            "recruiter_team_email": "recruiters@acme.example",
        }
        self.done = self.start("application", "/api/applications", json=body) is not None


@dataclass
class UnlockFlow(Flow):
    """An employer pays by card to see a candidate's contact details.

    ``payment_method`` ``pm_card_visa`` settles at once; ``pm_card_async`` stays
    processing until a ``payment_intent.succeeded`` webhook arrives. ``webhook_mode``
    says who delivers that: ``"self"`` (this flow, as soon as the charge exists, which
    is usually before the process waits for it), ``"batch"`` (the scenario, shuffled
    and twice) or ``"provider"`` (the payment sandbox, once the flow settles the payment
    there, with its own retries and duplicate deliveries), or ``"approval"`` (the
    employer, for a card whose bank asks them to approve the charge: the flow asks
    hireflow where, as a marketplace's frontend does, and completes the bank's page; the
    sandbox then delivers its event). ``refund`` starts the unlock for a candidate who
    left meanwhile, through the admin API, so access cannot be granted and compensation
    refunds the card.
    """

    payment_method: str = "pm_card_visa"
    webhook_mode: str = ""
    refund: bool = False
    payment_id: str | None = None
    pending_event: dict | None = None
    deliveries: int = 0  # acknowledged deliveries of the event, in "batch" mode

    def advance(self, world) -> None:
        if not self.started:
            employer_id = self.kept_id("employer", lambda: unique("emp"))
            if self.refund:
                started = self._start_for_departed_candidate(world, employer_id)
            else:
                body = {
                    "employer_id": employer_id,
                    "employer_email": f"{employer_id}@example.com",
                    "candidate_id": self.kept_id("candidate", lambda: seed_candidate(world)),
                    "payment_method_ref": self.payment_method,
                }
                started = self.start("unlock", "/api/unlocks", json=body)
            if started is None or not self.webhook_mode:
                self.done = started is not None
                return
        if self.webhook_mode == "approval":
            if self._approve_at_the_bank():
                self.expect_confirmation()
                self.done = True
            return
        if self.payment_id is None:
            # The charge step's payment intent, found by the unlock id in the ledger's metadata.
            self.payment_id = world.payment_ids_by_unlock().get(self.started[0].business_id)
            if self.payment_id is None:
                return  # not charged yet
            self.pending_event = payment_succeeded_event(self.payment_id, self.started[0].business_id)
        if self.webhook_mode == "self" and deliver_webhook(self, world, self.pending_event):
            self.done = True
        if self.webhook_mode == "provider" and world.settle_payment(self.payment_id):
            # The sandbox now delivers payment_intent.succeeded itself, with its retries.
            self.expect_confirmation()
            self.done = True

    def _approve_at_the_bank(self) -> bool:
        """Approve the payment as the employer does, once the unlock shows it waiting; True
        once the bank has its answer (now, or on an earlier try whose answer was lost)."""
        unlock_id = self.started[0].business_id
        status = self.call("GET", f"/api/unlocks/{unlock_id}")
        if status is None or not status.json()["details"].get("card_needs_authentication"):
            return False  # not charged yet
        approval = self.call(
            "POST", f"/api/unlocks/{unlock_id}/payment-approval", json={"return_url": f"{self.web_url}/"}
        )
        if approval is None:
            return False
        bank_url = approval.json()["redirect_url"]
        if bank_url is None:
            return True  # approved on an earlier try
        try:
            answered = requests.post(
                bank_url, data={"outcome": "complete"}, allow_redirects=False, timeout=REQUEST_TIMEOUT_S
            )
        except requests.RequestException:
            return False
        return answered.status_code in (303, 409)  # 409: answered on an earlier try

    def expect_confirmation(self, subscription_element: str | None = None) -> None:
        """Record that payment-confirmed is on its way, for the checker to follow."""
        self.messages.append(
            SentMessage(
                Message.PAYMENT_CONFIRMED,
                self.started[0].instance_key,
                "AwaitConfirmation",  # the receive task completes when it takes the message
                int(time.time() * 1000),
                subscription_element,
            )
        )

    def _start_for_departed_candidate(self, world, employer_id: str) -> Started | None:
        unlock_id = self.kept_id("unlock", lambda: unique("unl"))
        body = {
            "processDefinitionId": "resume-unlock",
            "businessKey": unlock_id,
            "variables": {
                "unlock_id": unlock_id,
                "employer_id": employer_id,
                "employer_email": f"{employer_id}@example.com",
                "candidate_id": self.kept_id("departed", lambda: unique("departed")),  # no such candidate
                "employer_plan": "standard",
                "years_of_experience": 3,
                "payment_method_ref": self.payment_method,
            },
        }
        response = self.call(
            "POST",
            "/api/admin/process-instances",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        if response is None:
            return None
        started = Started("unlock", unlock_id, str(response.json()["processInstanceKey"]))
        self.started.append(started)
        return started


def payment_succeeded_event(payment_id: str, unlock_id: str) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": payment_id, "metadata": {"unlock_id": unlock_id}}},
    }


def deliver_webhook(flow: UnlockFlow, world, event: dict) -> bool:
    """POST the signed event as the provider does; True once the webapp acknowledged it."""
    body = json.dumps(event).encode()
    headers = {SIGNATURE_HEADER: sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"}
    response = flow.call("POST", "/webhooks/payments", data=body, headers=headers)
    if response is None:
        return False
    if response.status_code == 202:  # published now (200 means a duplicate delivery)
        flow.expect_confirmation(subscription_element="AwaitConfirmation")
    return True


@dataclass
class InterviewFlow(Flow):
    """Apply, request an interview, choose a slot from the emailed link, ask for another
    time from the invitation's link, choose one of the new times, then cancel it.

    The cancellation keeps the run short: the booked interview would otherwise wait for
    its day. Choosing, asking for another time and cancelling are messages the checker
    follows.
    """

    posting_id: str = ""
    candidate_email: str = ""
    chosen: bool = False
    rescheduled: bool = False
    cancelled: bool = False

    def advance(self, world) -> None:
        if not self.started:
            candidate_id = self.kept_id("candidate", lambda: seed_candidate(world))
            self.candidate_email = f"{candidate_id}@example.com"
            application = self.start(
                "application",
                "/api/applications",
                json={
                    "candidate_id": candidate_id,
                    "candidate_name": "Katherine Johnson",
                    "candidate_email": self.candidate_email,
                    "posting_id": self.posting_id,
                    "employer_email": f"{self.kept_id('employer', lambda: unique('employer'))}@example.com",
                    "recruiter_team_email": "recruiters@acme.example",
                },
            )
            if application is None:
                return
        if len(self.started) == 1:
            alice = self.kept_id("panel member", lambda: unique("alice"))
            panel = [{"username": alice, "email": "alice@acme.example", "name": "Alice"}]
            body = {
                "application_id": self.started[0].business_id,
                "candidate_name": "Katherine Johnson",
                "candidate_email": self.candidate_email,
                "lead_recruiter_email": "lead@acme.example",
                "panel": panel,
            }
            if self.start("interview", "/api/interviews", json=body) is None:
                return
        interview = self.started[1]
        if not self.chosen:
            self.chosen = self._choose_slot(world, interview, offer=2 if self.rescheduled else 1)
            return
        if not self.rescheduled:
            self.rescheduled = self._ask_for_another_time(world)
            self.chosen = not self.rescheduled  # then choose again, from the new offer
            return
        if not self.cancelled:
            status = self.call("GET", f"/api/interviews/{interview.business_id}")
            if status is None or status.json()["status"] != "scheduled":
                return
            response = self.call("POST", f"/api/interviews/{interview.business_id}/cancellation")
            if response is None:
                return
            self._accepted(response, Message.INTERVIEW_CANCELLED, "CancellationReceived")
            self.cancelled = self.done = True

    def _choose_slot(self, world, interview: Started, offer: int = 1) -> bool:
        """Choose the first time of the ``offer``-th offer, once its email is there."""
        offers = [
            m
            for m in world.mails_to(self.candidate_email)
            if m.get("dedupe_key", "").startswith(SLOT_OFFER_KEY)
        ]
        if len(offers) < offer:
            return False
        token = SLOT_LINK.search(offers[offer - 1]["text"]).group(1)
        return self._confirm_on_page(
            f"/interviews/slot/{token}",
            SLOT_ALREADY_CHOSEN,
            Message.INTERVIEW_SLOT_SELECTED,
            "AwaitSlotChoice",
        )

    def _ask_for_another_time(self, world) -> bool:
        """Follow the invitation's link to ask for another time, once it is there."""
        invitations = [
            m for m in world.mails_to(self.candidate_email) if RESCHEDULE_LINK.search(m.get("text") or "")
        ]
        if not invitations:
            return False
        token = RESCHEDULE_LINK.search(invitations[0]["text"]).group(1)
        return self._confirm_on_page(
            f"/interviews/reschedule/{token}",
            RESCHEDULE_ASKED,
            Message.INTERVIEW_RESCHEDULE_REQUESTED,
            "RescheduleRequested",
        )

    def _confirm_on_page(self, path: str, done: re.Pattern, name: str, catch: str) -> bool:
        """Open a signed link's page and confirm its form, as the candidate does; True once
        the message ``name`` is sent. A page that says ``done`` asks nothing more: an
        earlier try published it and its answer was lost, so it was sent all the same."""
        browser = requests.Session()
        page = self.call("GET", path, session=browser)
        if page is None:
            return False
        csrf = CSRF_FIELD.search(page.text)
        if csrf is None and done.search(page.text):
            self._sent(name, catch)
            return True
        if csrf is None:
            raise FlowError(f"the page {path.rsplit('/', 1)[0]}/... has no CSRF token")
        response = self.call("POST", path, session=browser, data={"csrf_token": csrf.group(1)})
        if response is None:
            return False
        self._accepted(response, name, catch)
        return True

    def _accepted(self, response: requests.Response, name: str, catch: str) -> None:
        # 202: published now. 200: published before, by a try of this step whose answer was
        # lost (an engine killed as it answered): the message was sent all the same, and
        # must reach the instance as well.
        if response.ok:
            self._sent(name, catch)

    def _sent(self, name: str, catch: str) -> None:
        self.messages.append(SentMessage(name, self.started[1].instance_key, catch, int(time.time() * 1000)))
