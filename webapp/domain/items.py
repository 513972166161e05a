"""What every operation shares: the engine gateway and adapters, an item's record and the
status it reports, and the checks a request gets at the door.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from hireflow.adapters.calendar import Slot
from hireflow.constants import IDENTIFIER_PATTERN
from hireflow.model_checks import element_names
from hireflow.signed_links import SignedLinkExpired, SignedLinkInvalid, SignedLinks
from hireflow.store import (
    ERASED,
    BusinessRecord,
    CalendarBooking,
    Candidate,
    ContactAccess,
    locked_record,
    utcnow,
)
from job_workers.services import Services
from webapp.domain.records import (
    ENDED_STATES,
    FINAL_STATUSES,
    FIRST_STATUS,
    ID_PREFIXES,
    INTERNAL_DETAILS,
    KINDS,
    OVER_FOR_GOOD,
    Accepted,
    business_status,
    derived_id,
    record_of_instance,
    records_belonging_to,
)
from webapp.engine import (
    WAITING_ELEMENT_TYPES,
    EngineRejected,
    EngineUnavailable,
    ProcessGateway,
    call_engine,
)
from webapp.incidents import retry_incident
from webapp.problems import Problem, engine_unavailable, invalid_field

log = logging.getLogger(__name__)


@functools.cache
def bundled_element_names() -> dict[tuple[str, str], str]:
    """The names of the elements in ``bpmn/``, read once."""
    return element_names()


# A request body the domain completes from what is on file.
Request = TypeVar("Request", bound=BaseModel)


def filled_from_file(request: Request, on_file: dict[str, Any], needed: dict[str, str]) -> Request:
    """``request`` with what it leaves out taken from ``on_file``.

    ``needed`` names the fields that must end up with a value, each with the reason to give
    in the 400 when neither the request nor the file has one.
    """
    # An empty value on file stands in for nothing, as if it were not there.
    left_out = {name: value for name, value in on_file.items() if value and getattr(request, name) is None}
    completed = request.model_copy(update=left_out)
    for name, reason in needed.items():
        if getattr(completed, name) is None:
            raise invalid_field(name, reason)
    return completed


def must_give(why: str) -> str:
    """The reason a 400 gives for a field that nothing on file can stand in for."""
    return f"{why}, so the request must give this"


def read_signed_link(links: SignedLinks | None, token: str):
    """What a signed link carries, or the problem a person following it should see."""
    if links is None:
        raise Problem(404, "Link not valid", "this deployment makes no such links")
    try:
        return links.read(token)
    except SignedLinkExpired as exc:
        raise Problem(410, f"{links.kind.capitalize()} expired", str(exc)) from exc
    except SignedLinkInvalid as exc:
        raise Problem(404, f"{links.kind.capitalize()} not valid", str(exc)) from exc


class Items:
    """The base of the webapp's operations: the engine gateway, the adapters, and the items' records."""

    def __init__(
        self,
        gateway: ProcessGateway,
        services: Services,
        *,
        max_upload_bytes: int,
        max_reschedules: int,
        max_offers_declined: int,
    ):
        self.gateway = gateway
        self.services = services
        self.max_upload_bytes = max_upload_bytes
        # How often one interview may be moved to another time; after that, people talk it over.
        self.max_reschedules = max_reschedules
        # How many offers of times a candidate may turn down; after that, a recruiter calls.
        self.max_offers_declined = max_offers_declined

    def _current_attempt(self, kind: str, *key: str) -> tuple[str, int]:
        """The item a request for the business ``key`` belongs to, and which attempt it is.

        The id derives from the key, so a repeated request finds the item it started and
        nothing happens twice. An item that ended for good without its purpose is over:
        an unlock cancelled or refunded, an application withdrawn, an interview cancelled
        or never scheduled, or one whose instance ended with no outcome (an operator
        cancelled it in Operate). Asking again
        then starts the next attempt, whose id adds the attempt number.
        """
        attempt = 1
        while True:
            # The first attempt's id is the key's alone, as it was before attempts existed.
            parts = key if attempt == 1 else (*key, str(attempt))
            business_id = derived_id(ID_PREFIXES[kind], *parts)
            record = self._record(kind, business_id)
            if record is None or not self._over_for_good(kind, business_id, record):
                return business_id, attempt
            attempt += 1

    def _over_for_good(self, kind: str, business_id: str, record: BusinessRecord) -> bool:
        """Whether an item ended without its purpose, so a new request is a new attempt."""
        status = self._business_status(kind, business_id, record.status)
        if status == FIRST_STATUS[kind]:
            # No outcome recorded: only the engine can say whether the instance still runs.
            status = self.status(kind, business_id)["status"]
        return status in OVER_FOR_GOOD[kind]

    def status(self, kind: str, business_id: str) -> dict[str, Any]:
        """The item's business status from the store, with the engine's view of its instance."""
        record = self._require(kind, business_id)
        instance_key = (record.details or {}).get("process_instance_key")
        engine: dict[str, Any] = {"processInstanceKey": instance_key, "state": None, "reachable": True}
        if instance_key:
            try:
                instance = self.gateway.instance_state(instance_key)
            except (EngineUnavailable, EngineRejected) as exc:  # the store answers without the engine
                log.warning("engine state of %s %s unavailable: %s", kind, business_id, exc)
                engine["reachable"] = False
            else:
                if instance:
                    engine["state"] = instance.get("state")
                    engine["hasIncident"] = bool(instance.get("hasIncident", False))
                    if engine["state"] == "ACTIVE":
                        waiting_at = self._waiting_at(instance_key, instance.get("processDefinitionId"))
                        if waiting_at is not None:
                            engine["waitingAt"] = waiting_at
                            self._add_failures(instance_key, waiting_at)
                    if engine["hasIncident"]:
                        incidents = self._open_incidents(instance_key)
                        if incidents is not None:
                            engine["incidents"] = incidents
            # Read the record again, after the engine: a step records its outcome before the
            # instance ends, so an instance seen ended has every outcome in the store by now.
            # The first read may predate both, and would turn "processed" into "ended".
            record = self._require(kind, business_id)
        details = dict(record.details or {})
        status = self._business_status(kind, business_id, record.status)
        if status == FIRST_STATUS[kind] and engine["state"] in ENDED_STATES:
            # The instance ended on a path that records no outcome (e.g. an unlock refunded).
            status = "ended"
        answer = {
            "kind": kind,
            "id": business_id,
            "status": status,
            "final": status in FINAL_STATUSES[kind],
            "updatedAt": record.updated_at.isoformat() + "Z",
            "details": {k: v for k, v in details.items() if k not in INTERNAL_DETAILS},
            "engine": engine,
        }
        if kind == "resume":
            answer["profile"] = self._search_profile(details.get("candidate_id"), business_id)
        if kind == "unlock":
            answer["contact"] = self._unlocked_contact(details) if status == "unlocked" else None
        if kind == "interview":
            answer["booking"] = self._booking(business_id)
        if kind == "application":
            answer["interviews"] = self._interviews_of(business_id)
        return answer

    def _search_profile(self, candidate_id: str | None, resume_id: str) -> dict[str, Any] | None:
        """What search knows of the candidate from this resume, while it is their latest one.

        The skills and experience read from it: what applications are scored on. Contact
        details stay out: those are what an unlock pays for.
        """
        if not candidate_id:
            return None
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id)
            if candidate is None or candidate.resume_id != resume_id:
                return None
            return {"skills": list(candidate.skills), "yearsOfExperience": candidate.years_of_experience}

    def _interviews_of(self, application_id: str) -> list[dict[str, str]]:
        """The application's interviews, oldest first, each with its status as the store says."""
        with self.services.db.sessions() as session:
            records = records_belonging_to(session, ("interview",), application_id)
            found = [
                {
                    "id": r.business_id,
                    "status": business_status(session, "interview", r.business_id, r.status),
                }
                for r in sorted(records, key=lambda r: ((r.details or {}).get("round", 0), r.updated_at))
            ]
        return found

    def _booking(self, interview_id: str) -> dict[str, Any] | None:
        """When the interview is, and with whom: its booking, booked or cancelled; None before one."""
        with self.services.db.sessions() as session:
            booking = session.get(CalendarBooking, interview_id)
        if booking is None:
            return None
        return {
            **Slot(booking.start, booking.end).as_variable(),
            "interviewers": list(booking.interviewer_ids),
            "status": booking.status,
        }

    def _unlocked_contact(self, details: dict[str, Any]) -> dict[str, str | None] | None:
        """What the unlock paid for: the candidate's name and email, while the employer has access.

        None once the candidate was erased (their access goes with them).
        """
        employer_id, candidate_id = details.get("employer_id"), details.get("candidate_id")
        if not employer_id or not candidate_id:  # recorded by a step before the webapp's request
            return None
        with self.services.db.sessions() as session:
            if session.get(ContactAccess, (employer_id, candidate_id)) is None:
                return None
            candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            return None
        return {"name": candidate.name, "email": candidate.email}

    def retry_incident(self, kind: str, business_id: str, incident_key: str) -> None:
        """Retry the step an incident stopped, as Operate's retry does: one more try, then resolve.

        The incident must be one of this item's instance; the failure policy's message in it
        says what to fix first.
        """
        record = self._require(kind, business_id)
        instance_key = (record.details or {}).get("process_instance_key")
        incidents = self._open_incidents(instance_key) if instance_key else []
        if incidents is None:
            raise engine_unavailable("reading the incidents failed")
        found = [i for i in incidents if i["incidentKey"] == incident_key]
        if not found:
            raise Problem(
                404, "No such incident", f"{kind} {business_id} has no open incident {incident_key}"
            )
        retry_incident(self.gateway.client, incident_key, found[0].get("jobKey"))
        log.info("incident %s of %s %s retried from the console", incident_key, kind, business_id)

    def _open_incidents(self, instance_key: str) -> list[dict[str, str]] | None:
        """The instance's unresolved incidents, as an operator reads them; None when the engine cannot say."""
        try:
            found = call_engine(
                "reading an instance's incidents",
                self.gateway.client.search_incidents,
                processInstanceKey=instance_key,
                state="ACTIVE",
            )
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("incidents of instance %s unavailable: %s", instance_key, exc)
            return None
        return [
            {
                "incidentKey": str(i["incidentKey"]),
                "elementId": i.get("elementId", ""),
                "errorType": i.get("errorType", ""),
                "errorMessage": i.get("errorMessage", ""),
                "jobKey": str(i["jobKey"]) if i.get("jobKey") is not None else "",
            }
            for i in found
        ]

    def item_of_instance(self, instance_key: str) -> tuple[str, str] | None:
        """``(kind, business id)`` of the item whose process instance this is, if hireflow started it."""
        with self.services.db.sessions() as session:
            found = record_of_instance(session, tuple(KINDS), str(instance_key))
        return (found.kind, found.business_id) if found else None

    def _waiting_at(self, instance_key: str, process_id: str | None) -> list[dict[str, str]] | None:
        """Where the instance is now (a task, a wait for a message or a timer), by the model's names.

        None when the engine cannot say right now: the status answers without it.
        """
        try:
            elements = self.gateway.active_elements(instance_key)
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("active elements of instance %s unavailable: %s", instance_key, exc)
            return None
        names = bundled_element_names()
        waiting_at: dict[str, dict[str, str]] = {}
        for e in elements:  # a multi-instance task is active once per instance: named once
            waiting_at.setdefault(
                e["elementId"],
                {
                    "elementId": e["elementId"],
                    # The cluster names elements itself; the embedded engine's records do not.
                    "name": e.get("elementName")
                    or names.get((e.get("processDefinitionId") or process_id, e["elementId"]))
                    or e["elementId"],
                    "type": e.get("type", ""),
                },
            )
        return list(waiting_at.values())

    def _add_failures(self, instance_key: str, waiting_at: list[dict[str, Any]]) -> None:
        """Mark the steps whose job failed and waits out its backoff before the next try.

        Until its retries run out such a step is no incident, yet the item may sit there for
        minutes: ``failing`` says why (the failure policy's message) and how many tries are
        left. Left out when the engine cannot say: the status answers without it.
        """
        if all(element["type"] in WAITING_ELEMENT_TYPES for element in waiting_at):
            return  # no step runs a job: nothing can be failing
        try:
            failing = self.gateway.failing_jobs(instance_key)
        except (EngineUnavailable, EngineRejected) as exc:
            log.warning("failing jobs of instance %s unavailable: %s", instance_key, exc)
            return
        by_element = {job.get("elementId"): job for job in failing}
        for element in waiting_at:
            job = by_element.get(element["elementId"])
            if job is not None:
                element["failing"] = {
                    "retriesLeft": int(job.get("retries") or 0),
                    "errorMessage": job.get("errorMessage") or "",
                }

    def _contact_on_file(self, candidate_id: str | None) -> dict[str, str | None]:
        """A candidate's name and email as their latest resume gave them (None where it gave none)."""
        with self.services.db.sessions() as session:
            candidate = session.get(Candidate, candidate_id) if candidate_id else None
        if candidate is None:
            return {}
        return {"candidate_name": candidate.name, "candidate_email": candidate.email}

    def _accepted(self, kind: str, business_id: str, started, details: dict) -> Accepted:
        """Record the item and its first status; a status a process step wrote already stays."""
        details = {**details, "process_instance_key": started.process_instance_key}
        for _ in range(2):  # a worker may insert the same row between our read and write
            try:
                with self.services.db.sessions.begin() as session:
                    record = locked_record(session, kind, business_id)
                    if record is None:
                        session.add(
                            BusinessRecord(
                                kind=kind,
                                business_id=business_id,
                                status=FIRST_STATUS[kind],
                                details=details,
                                updated_at=utcnow(),
                            )
                        )
                    elif record.status == ERASED:  # the candidate asked again after an erasure
                        record.status = FIRST_STATUS[kind]
                        record.details = details
                        record.updated_at = utcnow()
                    else:
                        record.details = {**details, **(record.details or {})}
                break
            except IntegrityError:
                continue
        return Accepted(kind, business_id, started.process_instance_key, started.created)

    def _business_status(self, kind: str, business_id: str, recorded: str) -> str:
        """The recorded status, refined by facts the processes keep outside ``business_records``."""
        with self.services.db.sessions() as session:
            return business_status(session, kind, business_id, recorded)

    def _change_status(self, kind: str, business_id: str, expected: str, status: str) -> bool:
        """Set an item's status, for an outcome no process records, if it is still ``expected``.

        One conditional update, so of two requests at once exactly one changes it (True).
        """
        with self.services.db.sessions.begin() as session:
            changed = session.execute(
                update(BusinessRecord)
                .where(
                    BusinessRecord.kind == kind,
                    BusinessRecord.business_id == business_id,
                    BusinessRecord.status == expected,
                )
                .values(status=status, updated_at=utcnow())
            )
            return changed.rowcount == 1

    def _record(self, kind: str, business_id: str) -> BusinessRecord | None:
        if not IDENTIFIER_PATTERN.fullmatch(business_id):
            # No item has such an id, and PostgreSQL refuses to look one up with a NUL in it.
            return None
        with self.services.db.sessions() as session:
            return session.get(BusinessRecord, (kind, business_id))

    def _require(self, kind: str, business_id: str, *, field: str | None = None, status: int = 404):
        record = self._record(kind, business_id)
        if record is None:
            if field:
                raise invalid_field(field, f"no {kind} {business_id}", status=status)
            raise Problem(404, f"No such {kind}", f"there is no {kind} {business_id}")
        return record
