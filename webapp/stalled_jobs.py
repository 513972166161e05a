"""Jobs the engine never offered again after their retry backoff, and their repair.

A job that fails with retries left waits out its backoff; then the engine offers it to a
worker again. Sometimes it never does. The chaos run of 2026-12-03 saw it: a job failed
just before the engine was killed, the engine processed that failure only after its
restart, with the backoff already over, and never scheduled the job again. Camunda's
open issue camunda/camunda#16884 describes the same on clusters. Such an instance has no
incident, so Operate shows nothing wrong, and it waits for ever.

``StalledJobs.find`` lists those jobs: failed with retries left, and due again more than
``STALL_GRACE_MS`` ago. The embedded engine says when a job is due (its ``recurringTime``);
REST v2 does not, so there the job's last update plus the longest backoff its task allows
(the ``retryBackoffCapSeconds`` header, or the pool's default) stands in.

``restart`` repairs one as an operator does in Operate: it modifies the instance to enter
the task again and end the stalled one. The new job goes to a worker at once, and the work
is idempotent, so nothing is done twice. Boundary timers on that task start over.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hireflow.camunda_rest import CamundaRestClient
from hireflow.constants import Header
from hireflow.engine.embedded import EmbeddedEngineClient, rest_v2_date
from job_workers.failure_policy import DEFAULT_BACKOFF
from webapp.engine import EngineRejected, call_engine, element_id_of_job

log = logging.getLogger(__name__)

# How long past its due time a job may wait for the engine before it counts as stalled:
# the engine looks for due jobs every 100 ms, and a busy one is late by seconds, not minutes.
STALL_GRACE_MS = 120_000


@dataclass(frozen=True)
class StalledJob:
    """A failed job with retries left, due again since ``due_ms`` and never offered since."""

    job_key: str
    job_type: str
    process_instance_key: str
    element_id: str
    element_instance_key: str
    retries: int
    due_ms: int
    error_message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "jobKey": self.job_key,
            "type": self.job_type,
            "processInstanceKey": self.process_instance_key,
            "elementId": self.element_id,
            "retries": self.retries,
            "dueSince": rest_v2_date(self.due_ms),
            "errorMessage": self.error_message,
        }


def due_ms(job: dict[str, Any]) -> int | None:
    """When a failed job is due again: the engine's own time for it, or the latest it can be."""
    recurring = int(job.get("recurringTime") or -1)
    if recurring > 0:
        return recurring
    updated = job.get("lastUpdateTime")
    if not updated:
        return None  # an engine that says neither: nothing to judge by
    # The task's cap, or the pool's default if that is longer (or the header unreadable):
    # a stall is better noticed a few minutes late than a job in its backoff restarted.
    cap_seconds = DEFAULT_BACKOFF.cap_seconds
    header = (job.get("customHeaders") or {}).get(Header.RETRY_BACKOFF_CAP_SECONDS)
    with contextlib.suppress(TypeError, ValueError):
        given = float(header)
        if math.isfinite(given):  # "inf" would be no time at all to compare with
            cap_seconds = max(cap_seconds, given)
    return int(datetime.fromisoformat(updated).timestamp() * 1000 + cap_seconds * 1000)


def engine_now_ms(client: CamundaRestClient) -> int:
    """The engine's clock where it can be asked (tests move the embedded engine's), else this machine's."""
    if isinstance(client, EmbeddedEngineClient):
        return client.clock_now_ms()
    return int(time.time() * 1000)


class StalledJobs:
    """Finds the jobs the engine lost after their backoff, and enters their tasks again."""

    def __init__(self, client: CamundaRestClient, grace_ms: int = STALL_GRACE_MS):
        self.client = client
        self.grace_ms = grace_ms

    def find(self, now_ms: int | None = None) -> list[StalledJob]:
        """Every stalled job, the longest overdue first."""
        failed = call_engine("listing failed jobs", self.client.search_jobs, state="FAILED")
        if now_ms is None:
            now_ms = call_engine("reading the engine's clock", engine_now_ms, self.client)
        stalled = []
        for job in failed:
            due = due_ms(job)
            if int(job.get("retries") or 0) <= 0 or due is None or due > now_ms - self.grace_ms:
                continue  # an incident (no retries left), or still within its backoff
            element_id = element_id_of_job(self.client, job)
            if element_id is None:
                log.warning(
                    "job %s of process instance %s is overdue, but the engine names no task to enter"
                    " again; retry it in Operate",
                    job["jobKey"],
                    job["processInstanceKey"],
                )
                continue
            stalled.append(
                StalledJob(
                    job_key=str(job["jobKey"]),
                    job_type=job["type"],
                    process_instance_key=str(job["processInstanceKey"]),
                    element_id=element_id,
                    element_instance_key=str(job["elementInstanceKey"]),
                    retries=int(job["retries"]),
                    due_ms=due,
                    error_message=job.get("errorMessage") or "",
                )
            )
        return sorted(stalled, key=lambda job: job.due_ms)

    def restart(self, job: StalledJob) -> None:
        """Enter the job's task again in its instance, and end the stalled one."""
        call_engine(
            f"entering {job.element_id} again",
            self.client.restart_element,
            job.process_instance_key,
            job.element_instance_key,
            job.element_id,
        )
        log.warning(
            "job %s (%s) of process instance %s was due since %s and never offered again; entered %s afresh",
            job.job_key,
            job.job_type,
            job.process_instance_key,
            rest_v2_date(job.due_ms),
            job.element_id,
        )

    def restart_one(self, job_key: str, now_ms: int | None = None) -> StalledJob | None:
        """Restart the stalled job ``job_key``; None when it is not stalled (any more)."""
        job = next((job for job in self.find(now_ms) if job.job_key == job_key), None)
        if job is not None:
            self.restart(job)
        return job

    def restart_every(self, limit: int = 500, now_ms: int | None = None) -> dict[str, Any]:
        """Restart the stalled jobs, longest overdue first, at most ``limit``; what was restarted,
        what the engine refused (the instance ended or moved on meanwhile), and how many are
        ``left`` for another call. Safe to repeat: a restarted job is no longer failed."""
        stalled = self.find(now_ms)
        restarted, refused = [], []
        for job in stalled[:limit]:
            try:
                self.restart(job)
            except EngineRejected as exc:
                refused.append({"jobKey": job.job_key, "reason": str(exc)})
                continue
            restarted.append(job.job_key)
        return {"restarted": restarted, "refused": refused, "left": max(0, len(stalled) - limit)}
