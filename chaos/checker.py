"""After a scenario: what the engine, the payment ledger and the mail capture say happened.

The checker trusts no flow's own account. It reads:

- the engine, for each instance a flow started: completed, in incident, or stuck
  (neither), and for each message the webapp accepted, whether its catch event
  completed exactly once (else the message was lost, or correlated twice);
- the payment sandbox's ledger: more than one payment intent for one unlock is a double
  charge, more than one refund of one intent a double refund;
- the mail capture: two mails with one dedupe key are a duplicate email.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import requests

from chaos.flows import Flow, SentMessage, Started
from chaos.world import ADMIN_TOKEN
from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.constants import Var
from hireflow.engine.embedded import EmbeddedEngineClient
from job_workers.incidents import RETRY  # what every incident message's advice ends with
from webapp.stalled_jobs import STALL_GRACE_MS

ENDED = {"COMPLETED", "TERMINATED", "CANCELED"}
# The variable each kind of item's process carries its business id in.
BUSINESS_ID_VARIABLE = {
    "resume": Var.RESUME_ID,
    "application": Var.APPLICATION_ID,
    "unlock": Var.UNLOCK_ID,
    "interview": Var.INTERVIEW_ID,
}


@dataclass
class InstanceState:
    key: str
    state: str  # ACTIVE, COMPLETED, ... or MISSING when the engine does not know it
    incidents: list[dict] = field(default_factory=list)  # the active ones, as the engine reports them
    # Why it waits on a job the engine never offered again after its backoff, if it does.
    stalled: str = ""

    @property
    def incident_keys(self) -> list[str]:
        return [str(i["incidentKey"]) for i in self.incidents]

    @property
    def settled(self) -> bool:
        """Completed, or waiting for a person (an incident, or a job the engine lost after
        its backoff): nothing more happens by itself."""
        return self.state in ENDED or bool(self.incident_keys) or bool(self.stalled)


@dataclass
class ScenarioReport:
    """One row of the checker's table."""

    scenario: str
    started: int = 0
    completed: int = 0
    incident: int = 0
    stuck: int = 0
    incidents_repaired: int = 0
    # Jobs the engine lost after their backoff, restarted through the admin API.
    stalled_jobs_restarted: int = 0
    # Instances of an item's process beside the one its request was answered with (a start
    # the engine processed only after its retry had started another), by key. A stuck one
    # counts as stuck, and what they charge, refund or email again counts as double.
    twin_instances: list[str] = field(default_factory=list)
    double_charges: int = 0
    double_refunds: int = 0
    duplicate_emails: int = 0
    messages: int = 0
    lost_messages: int = 0
    before_subscription: int = 0
    refused_requests: int = 0
    # Incident messages that do not name the business object and the operator's action.
    unclear_incidents: int = 0
    # The fault was meant to cause incidents and caused none: the scenario proved nothing.
    no_incident_arose: bool = False
    # Why the engine itself stopped processing commands during the scenario, if it did.
    engine_stalled: str = ""
    # Stuck instances whose job the engine never made activatable again after its retry
    # backoff (the engine's fault: camunda/camunda#16884), one line each.
    engine_lost_backoffs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def missed_only_by_the_engine(self) -> bool:
        """Missed the bar through the engine's own fault: it stalled (after which nothing in the
        scenario can settle, so its misses count as the stall's), or every stuck instance
        waits on a job the engine never brought back after its backoff and nothing else is
        wrong. Doubled or lost effects still fail the short run either way."""
        if self.meets_the_bar:
            return False
        if self.engine_stalled:
            return True
        others = dataclasses.replace(self, stuck=self.stuck - len(self.engine_lost_backoffs))
        return bool(self.engine_lost_backoffs) and others.meets_the_bar

    @property
    def meets_the_bar(self) -> bool:
        """0 stuck, 0 double effects, 0 lost, no correct request refused, every incident clear."""
        return not (
            self.stuck
            or self.incident
            or self.double_charges
            or self.double_refunds
            or self.duplicate_emails
            or self.lost_messages
            or self.refused_requests
            or self.unclear_incidents
            or self.no_incident_arose
            or self.engine_stalled
        )


def _epoch_ms(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _business_id(dedupe_key: str | None) -> str | None:
    """The business id in a dedupe key (``template:business_id:element_instance_key``)."""
    parts = (dedupe_key or "").split(":")
    return parts[1] if len(parts) == 3 else None


# A backoff the engine has not honoured this long after it ran out is lost, not late: the
# same rule as the webapp's, whose admin API restarts such jobs.
LOST_BACKOFF_GRACE_MS = STALL_GRACE_MS


class Checker:
    """Reads the engine; ``world`` gives the ledger and the mails."""

    def __init__(self, world):
        self.world = world
        self.client: CamundaRestClient = world.engine.client

    def _refresh(self) -> None:
        if isinstance(self.client, EmbeddedEngineClient):
            self.client.refresh()

    def instance_states(self, keys: list[str]) -> dict[str, InstanceState]:
        self._refresh()
        states = {}
        now_ms, may_have_lost_a_backoff = 0, set()
        if isinstance(self.client, EmbeddedEngineClient):
            now_ms = self.client.clock_now_ms()
            failed = self.client.search_jobs(state="FAILED")
            may_have_lost_a_backoff = {job["processInstanceKey"] for job in failed if job["retries"] > 0}
        for key in keys:
            try:
                state = self.client.get_process_instance(key).get("state", "MISSING")
            except CamundaApiError as exc:
                if exc.status != 404:
                    raise
                state = "MISSING"
            incidents, stalled = [], ""
            if state not in ENDED:
                incidents = self.client.search_incidents(processInstanceKey=key, state="ACTIVE")
            if state not in ENDED and not incidents and key in may_have_lost_a_backoff:
                stalled = self.lost_backoff(key, now_ms=now_ms)
            states[key] = InstanceState(key, state, incidents, stalled)
        return states

    def lost_backoff(
        self, instance_key: str, grace_ms: int = LOST_BACKOFF_GRACE_MS, now_ms: int | None = None
    ) -> str:
        """Why a stuck instance is the engine's fault, if it is: its job failed with a retry
        backoff that ran out more than ``grace_ms`` ago, and the engine never made it
        activatable again. Empty when that is not the case, or the engine cannot say (REST v2
        job searches carry no due time)."""
        if not isinstance(self.client, EmbeddedEngineClient):
            return ""
        now_ms = now_ms or self.client.clock_now_ms()
        for job in self.client.search_jobs(processInstanceKey=instance_key):
            due_ms = int(job.get("recurringTime") or -1)
            if job["state"] == "FAILED" and job["retries"] > 0 and 0 < due_ms < now_ms - grace_ms:
                return (
                    f"engine fault: instance {instance_key} waits on job {job['jobKey']} ({job['type']}), "
                    f"failed with {job['retries']} retries left; its backoff ran out "
                    f"{(now_ms - due_ms) / 1000:.0f} s ago and the engine never made it activatable "
                    "again (camunda/camunda#16884)"
                )
        return ""

    def wait_until_settled(
        self, keys: list[str], timeout: float, give_up: threading.Event | None = None
    ) -> dict[str, InstanceState]:
        """Poll until every instance completed or sits in an incident, ``timeout`` passed,
        or ``give_up`` is set (the engine stopped processing: nothing will settle)."""
        deadline = time.monotonic() + timeout
        states: dict[str, InstanceState] = {}
        while True:
            try:
                states = self.instance_states(keys)
            except (requests.RequestException, CamundaApiError) as away:
                # engine-sigkill restarts the engine while the instances settle: ask again.
                restarting = not isinstance(away, CamundaApiError) or away.status >= 500
                if not restarting or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
                continue
            if all(s.settled for s in states.values()) or time.monotonic() > deadline:
                return states
            if give_up is not None and give_up.is_set():
                return states
            time.sleep(1.0)

    def check_incident_messages(
        self, states: dict[str, InstanceState], started: list[Started], report: ScenarioReport
    ) -> None:
        """Each incident's message must name its business object and tell the operator what to do."""
        objects = {s.instance_key: f"{s.kind} {s.business_id}" for s in started}
        for state in states.values():
            for incident in state.incidents:
                message = incident.get("errorMessage") or ""
                if objects.get(state.key, "?") not in message or RETRY not in message:
                    report.unclear_incidents += 1
                    report.details.append(f"unclear incident on instance {state.key}: {message!r}")

    def repair_incidents(self, states: dict[str, InstanceState]) -> int:
        """What an operator does once the fault is gone, with hireflow's own repair tool: every
        incident of a cause the worker pool names is retried at once by cause through the
        webapp's admin API (Operate's batch retry); any other is retried on its own (one more
        try, then resolved). Returns how many of these instances' incidents were retried."""
        ours = {str(incident["incidentKey"]) for state in states.values() for incident in state.incidents}
        if not ours:
            return 0
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        counted = requests.get(f"{self.world.web_url}/api/admin/incidents", headers=admin, timeout=60)
        counted.raise_for_status()
        retried: set[str] = set()
        for cause in counted.json()["causes"]:
            if cause["batchRetry"]:
                answer = requests.post(
                    f"{self.world.web_url}/api/admin/incidents/retry",
                    json={"cause": cause["cause"]},
                    headers=admin,
                    timeout=300,
                )
                answer.raise_for_status()
                retried |= set(answer.json()["retried"])
        for state in states.values():
            for incident in state.incidents:
                key = str(incident["incidentKey"])
                if key in retried:
                    continue
                job_key = str(incident.get("jobKey") or "")
                if job_key and job_key not in {"-1", "None"}:
                    self.client.update_job_retries(job_key, 1)
                self.client.resolve_incident(key)
                retried.add(key)
        return len(ours & retried)

    def restart_stalled_jobs(self, states: dict[str, InstanceState]) -> int:
        """What an operator does about jobs the engine lost after their backoff, with hireflow's
        own tool: every stalled job is restarted through the webapp's admin API (the task is
        entered again). Returns how many were restarted."""
        if not any(state.stalled for state in states.values()):
            return 0
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        answer = requests.post(
            f"{self.world.web_url}/api/admin/stalled-jobs/restart", json={}, headers=admin, timeout=300
        )
        answer.raise_for_status()
        return len(answer.json()["restarted"])

    def element_instances(self, instance_key: str, element_id: str) -> list[dict]:
        return self.client.search_element_instances(processInstanceKey=instance_key, elementId=element_id)

    def check_messages(self, messages: list[SentMessage], report: ScenarioReport) -> None:
        self._refresh()
        for message in messages:
            report.messages += 1
            completed = [
                e
                for e in self.element_instances(message.instance_key, message.catch_element)
                if e.get("state") == "COMPLETED"
            ]
            if not completed:
                report.lost_messages += 1
                report.details.append(f"lost: {message.name} for instance {message.instance_key}")
            if message.subscription_element:
                opened = [
                    _epoch_ms(e.get("startDate"))
                    for e in self.element_instances(message.instance_key, message.subscription_element)
                ]
                opened = [t for t in opened if t is not None]
                if opened and message.accepted_at_ms < min(opened):
                    report.before_subscription += 1

    def check_provider_events(
        self, report: ScenarioReport, timeout: float = 60.0, longest_wait: float = 420.0
    ) -> None:
        """Every event the payment sandbox raised reached the webapp: none waiting, none given up.

        A delivery whose answer died with a webapp worker is still being retried with
        backoff (the webapp took it; the sandbox could not know), and one that met the
        dead request's claim (409 until it goes stale) may wait a minute or more for its
        next try: wait for the backlog until the retries already due have run.
        """
        started = time.monotonic()
        deadline = started + timeout
        backlog = self.world.webhook_backlog()
        while backlog["undelivered"] and time.monotonic() < deadline:
            time.sleep(1.0)
            backlog = self.world.webhook_backlog()
            retry_in = backlog.get("last_retry_in_seconds")
            if retry_in is not None:  # late, not lost, while a retry is due: wait for it
                deadline = min(started + longest_wait, max(deadline, time.monotonic() + retry_in + 15.0))
        lost = backlog["undelivered"] + backlog["given_up"]
        if lost:
            report.lost_messages += lost
            report.details.append(f"payment provider events not taken by the webapp: {backlog}")

    def check_twins(self, started: list[Started], report: ScenarioReport) -> None:
        """Count the instances started for an item beside the one its request was answered
        with: instances of the same process whose own variables carry the item's id."""
        self._refresh()
        for item in started:
            name = BUSINESS_ID_VARIABLE[item.kind]
            carriers = self.client.search_variables(name=name, value=json.dumps(item.business_id))
            own = {v["processInstanceKey"] for v in carriers if v["scopeKey"] == v["processInstanceKey"]}
            if not own - {item.instance_key}:
                continue
            process_id = self.client.get_process_instance(item.instance_key).get("processDefinitionId")
            for key in sorted(own - {item.instance_key}):
                twin = self.client.get_process_instance(key)
                if twin.get("processDefinitionId") != process_id:
                    continue  # another process about the item, such as an application's interview
                report.twin_instances.append(key)
                state = twin.get("state", "MISSING")
                report.details.append(f"twin instance {key} of {item.kind} {item.business_id} ({state})")
                if state not in ENDED and not self.client.search_incidents(
                    processInstanceKey=key, state="ACTIVE"
                ):
                    report.stuck += 1
                    report.details.append(f"stuck: twin instance {key} ({state})")

    def check_effects(self, started: list[Started], report: ScenarioReport) -> None:
        ledger = self.world.ledger()
        unlock_ids = {s.business_id for s in started if s.kind == "unlock"}
        intents = Counter(
            p["metadata"].get("unlock_id")
            for p in ledger["payment_intents"]
            if p["metadata"].get("unlock_id") in unlock_ids
        )
        report.double_charges = sum(n - 1 for n in intents.values() if n > 1)
        ours = {p["id"] for p in ledger["payment_intents"] if p["metadata"].get("unlock_id") in unlock_ids}
        refunds = Counter(r["payment_intent"] for r in ledger["refunds"] if r["payment_intent"] in ours)
        report.double_refunds = sum(n - 1 for n in refunds.values() if n > 1)
        business_ids = {s.business_id for s in started}
        ours = [m for m in self.world.mails() if _business_id(m.get("dedupe_key")) in business_ids]
        keys = Counter(m["dedupe_key"] for m in ours)
        report.duplicate_emails = sum(n - 1 for n in keys.values() if n > 1)
        for key, n in keys.items():
            if n > 1:
                report.details.append(f"duplicate email: {key} sent {n} times")
        self._count_twins_emails(ours, report)

    def _count_twins_emails(self, mails: list[dict], report: ScenarioReport) -> None:
        """A twin's email is keyed by its own element instance, so no dedupe key repeats;
        one that its item's other instance sent too (same template, item and recipient)
        is a duplicate all the same."""
        twins_elements = {
            element["elementInstanceKey"]
            for key in report.twin_instances
            for element in self.client.search_element_instances(processInstanceKey=key)
        }
        if not twins_elements:
            return

        def what(mail: dict) -> tuple:
            template, business_id, _ = mail["dedupe_key"].split(":")
            return template, business_id, tuple(mail.get("to") or ())

        from_others = {what(m) for m in mails if m["dedupe_key"].split(":")[2] not in twins_elements}
        for mail in mails:
            if mail["dedupe_key"].split(":")[2] in twins_elements and what(mail) in from_others:
                report.duplicate_emails += 1
                report.details.append(f"duplicate email from a twin instance: {mail['dedupe_key']}")


def check_scenario(
    checker: Checker, report: ScenarioReport, flows: list[Flow], states: dict[str, InstanceState]
) -> ScenarioReport:
    """Fill ``report`` from the final instance states, the messages and the side effects."""
    started = [s for f in flows for s in f.started]
    report.started = len(started)
    for state in states.values():
        if state.state in ENDED:
            report.completed += 1
        elif state.incident_keys:
            report.incident += 1
            report.details.append(f"incident: instance {state.key}")
        else:
            report.stuck += 1
            report.details.append(f"stuck: instance {state.key} ({state.state})")
            lost = checker.lost_backoff(state.key)
            if lost:
                report.engine_lost_backoffs.append(lost)
                report.details.append(lost)
    checker.check_twins(started, report)
    checker.check_messages([m for f in flows for m in f.messages], report)
    checker.check_provider_events(report)
    checker.check_effects(started, report)
    report.refused_requests = sum(len(f.refusals) for f in flows)
    report.details.extend(r for f in flows for r in f.refusals)
    return report
