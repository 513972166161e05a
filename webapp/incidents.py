"""Open incidents counted by cause, and retrying every incident of one cause at once.

After an outage (the payment gateway down for an hour) many instances stop at their steps
with the same cause. The operator mends the cause once and then retries them all, as
Operate's batch retry does: here through the admin API on any engine, and on the console's
Tasks page on the embedded engine, which has no Operate. The cause is the one the worker
pool's message starts with (``job_workers.incidents``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hireflow.camunda_rest import CamundaRestClient
from job_workers.incidents import EVERY_CAUSE, TECHNICAL_CAUSES, UNEXPECTED, cause_named_in
from webapp.engine import EngineRejected, call_engine

log = logging.getLogger(__name__)

# An incident the engine raised itself, not the pool: an expression that failed, a BPMN
# error that nothing caught, ... It needs the model or the variables mended first.
RAISED_BY_THE_ENGINE = "Raised by the engine"
ENGINE_ACTION = (
    "Read the incident's type and message (Operate shows them with the element), mend the model "
    "or the variable it names, then retry it on its own"
)


@dataclass(frozen=True)
class CauseCount:
    """How many open incidents have one cause, and what to do about them."""

    cause: str
    count: int
    action: str
    # Retried with backoff before it became an incident: an outage, as a rule.
    retried_with_backoff_first: bool
    # Offered to retry all at once: every cause the pool names; the engine's own are each different.
    batch_retry: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "count": self.count,
            "action": self.action,
            "retriedWithBackoffFirst": self.retried_with_backoff_first,
            "batchRetry": self.batch_retry,
        }


def cause_of_incident(incident: dict[str, Any]) -> str:
    """The cause an incident's message names, or ``RAISED_BY_THE_ENGINE`` (its error type)."""
    cause = cause_named_in(incident.get("errorMessage") or "")
    if cause is not None:
        return cause.what
    return f"{RAISED_BY_THE_ENGINE} ({incident.get('errorType') or 'UNKNOWN'})"


def retry_incident(client: CamundaRestClient, incident_key: str, job_key: str | None) -> None:
    """Give the incident's job one more try, then resolve it: Operate's Retry."""
    if job_key and job_key not in ("-1", "None"):
        call_engine("giving the job a try", client.update_job_retries, job_key, 1)
    call_engine("resolving the incident", client.resolve_incident, incident_key)


class Incidents:
    """The engine's open incidents, by cause, for the operator who repairs them."""

    def __init__(self, client: CamundaRestClient):
        self.client = client

    def open(self) -> list[dict[str, Any]]:
        """Every unresolved incident, oldest first."""
        found = call_engine("listing incidents", self.client.search_incidents, state="ACTIVE")
        return sorted(found, key=lambda incident: int(incident["incidentKey"]))

    def by_cause(self) -> list[CauseCount]:
        """The open incidents counted by cause, the most first."""
        counts = Counter(cause_of_incident(incident) for incident in self.open())
        catalogue = {cause.what: cause for cause in EVERY_CAUSE}
        retried_first = {cause.what for cause in (*TECHNICAL_CAUSES, UNEXPECTED)}
        return [
            CauseCount(
                cause=cause,
                count=count,
                action=catalogue[cause].action if cause in catalogue else ENGINE_ACTION,
                retried_with_backoff_first=cause in retried_first,
                batch_retry=cause in catalogue,
            )
            for cause, count in sorted(counts.items(), key=lambda each: (-each[1], each[0]))
        ]

    def retry_every(self, cause: str, limit: int = 500) -> dict[str, Any]:
        """Retry the open incidents the pool raised with ``cause``, oldest first, at most ``limit``;
        what was retried, what the engine refused, and how many are ``left`` for another call.

        Each is retried as Operate's Retry does (one more try, then resolved); one the engine
        refuses (resolved meanwhile, its job gone) is reported and the rest go on. An engine
        that cannot be reached stops the batch with a 503; asking again retries those left,
        since a resolved incident is no longer open.
        """
        of_cause = [incident for incident in self.open() if cause_of_incident(incident) == cause]
        retried, refused = [], []
        for incident in of_cause[:limit]:
            key = str(incident["incidentKey"])
            job_key = str(incident["jobKey"]) if incident.get("jobKey") is not None else None
            try:
                retry_incident(self.client, key, job_key)
            except EngineRejected as exc:
                refused.append({"incidentKey": key, "reason": str(exc)})
                continue
            retried.append(key)
        left = max(0, len(of_cause) - limit)
        tally = (len(retried), cause, len(refused), left)
        log.info("retried %d incident(s) of cause %r (%d refused, %d left)", *tally)
        return {"cause": cause, "retried": retried, "refused": refused, "left": left}
