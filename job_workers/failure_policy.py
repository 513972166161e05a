"""The one failure policy for every job type (see ``hireflow.errors`` for the three kinds).

Technical errors fail the job with exponential backoff and full jitter. The delay grows
as the retries left shrink. The base and the cap come from the task's headers, so an
analyst can tune them per task in the Modeler:

- ``retryBackoffBaseSeconds`` (default 5): the delay ceiling of the first retry;
- ``retryBackoffCapSeconds`` (default 300): the largest delay;
- ``retryAttempts`` (default 5): the ``retries`` set on the task, so growth starts at the base.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any, Protocol

from pyzeebe import Job, JobController, JobStatus
from sqlalchemy.exc import DataError

from hireflow.backoff import Backoff
from hireflow.constants import Header
from hireflow.errors import BusinessOutcome, PermanentFailure, RetryLater
from hireflow.store import database_says
from job_workers.held_jobs import HeldJobs
from job_workers.incidents import UNEXPECTED, business_reference, cause_of, incident_message

log = logging.getLogger(__name__)

HEADER_BACKOFF_BASE = Header.RETRY_BACKOFF_BASE_SECONDS
HEADER_BACKOFF_CAP = Header.RETRY_BACKOFF_CAP_SECONDS
HEADER_RETRY_ATTEMPTS = Header.RETRY_ATTEMPTS
DEFAULT_BACKOFF = Backoff(base_seconds=5.0, cap_seconds=300.0)
DEFAULT_RETRY_ATTEMPTS = 5


class FailureMetrics(Protocol):
    """Where the policy reports what it decided (the pool's Prometheus metrics)."""

    def job_failed(self, job: Job, final: bool) -> None: ...

    def job_waiting(self, job: Job) -> None: ...

    def bpmn_error(self, job: Job, error_code: str) -> None: ...


def _header_number(job: Job, name: str, default: float) -> float:
    raw = (job.custom_headers or {}).get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    # float() also reads "nan" and "inf", with which no delay can be computed.
    if not math.isfinite(value) or value <= 0:
        log.warning(
            "job type %s: header %s=%r is not a positive number; using %s", job.type, name, raw, default
        )
        return default
    return value


def backoff_for(job: Job) -> tuple[Backoff, int]:
    """The job's backoff and configured attempts, from its task headers or the defaults."""
    backoff = Backoff(
        base_seconds=_header_number(job, HEADER_BACKOFF_BASE, DEFAULT_BACKOFF.base_seconds),
        cap_seconds=_header_number(job, HEADER_BACKOFF_CAP, DEFAULT_BACKOFF.cap_seconds),
    )
    return backoff, int(_header_number(job, HEADER_RETRY_ATTEMPTS, DEFAULT_RETRY_ATTEMPTS))


async def fail_with_retries(
    controller: JobController, job: Job, message: str, retries: int, backoff_ms: int = 0
) -> None:
    """Fail the job leaving it ``retries`` (0: the incident appears now), offered again after ``backoff_ms``.

    pyzeebe 4.7's public ``set_failure_status`` always sends ``retries - 1`` and its Job is
    frozen, so this uses the controller's adapter directly. pyzeebe is pinned, and
    tests/test_failure_policy.py runs this on the real JobController, so an upgrade
    that changes it fails the tests.
    """
    job._set_status(JobStatus.Failed)
    await controller._zeebe_adapter.fail_job(
        job_key=job.key, retries=retries, message=message, retry_back_off_ms=backoff_ms, variables={}
    )


class RefusedByDatabase(PermanentFailure):
    """The database cannot store a value of the job's (PostgreSQL: a text with a NUL
    character, a number out of range): a retry stores the same value."""

    def __init__(self, error: DataError):
        super().__init__(
            f"the database cannot store a value of this job's variables ({database_says(error)});"
            " set the variable right on the instance"
        )


class FailurePolicy:
    """pyzeebe exception handler applying hireflow's failure policy."""

    def __init__(
        self,
        metrics: FailureMetrics | None = None,
        rng: random.Random | None = None,
        held_jobs: HeldJobs | None = None,
    ):
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.held_jobs = held_jobs

    async def __call__(self, exc: Exception, job: Job, controller: JobController) -> None:
        if self.held_jobs:
            # Before the outcome is sent: a job failed with no backoff may be another
            # worker's a moment later, and a successor of this process must not cut it short.
            self.held_jobs.let_go(job)
        context: dict[str, Any] = {
            "job_type": job.type,
            "job_key": job.key,
            "process_instance_key": job.process_instance_key,
            "element_id": job.element_id,
        }
        what = business_reference(job)
        if isinstance(exc, DataError):
            # Not the database's availability (sqlalchemy's DBAPIError, retried), the data's.
            exc = RefusedByDatabase(exc)
        if isinstance(exc, BusinessOutcome):
            # The diagnostic is for operators (log and Operate), the variables for customers.
            message = f"{exc} [{exc.diagnostic}]" if exc.diagnostic else str(exc)
            log.info("BPMN error %s for %s: %s", exc.error_code, what, message, extra=context)
            if self.metrics:
                self.metrics.bpmn_error(job, exc.error_code)
            await controller.set_error_status(message, error_code=exc.error_code, variables=exc.variables())
            return
        if isinstance(exc, RetryLater):
            message = f"{job.type} waits for {what}: {exc}"
            log.info("%s; trying again in %.0f s", message, exc.after_seconds, extra=context)
            if self.metrics:  # neither completed nor failed
                self.metrics.job_waiting(job)
            # A wait is not a failure: the job keeps its retries.
            await fail_with_retries(controller, job, message, job.retries, int(exc.after_seconds * 1000))
            return
        if isinstance(exc, PermanentFailure):
            message = incident_message(job, exc)
            log.error("%s", message, extra=context)
            if self.metrics:
                self.metrics.job_failed(job, final=True)
            await fail_with_retries(controller, job, message, retries=0)
            return
        backoff, attempts = backoff_for(job)
        retries_left = max(0, job.retries - 1)
        if retries_left == 0:
            message = incident_message(job, exc, tries=attempts)
            log.error("%s; incident raised", message, extra=context, exc_info=exc)
            delay_ms = 0
        else:
            attempt = max(1, attempts - job.retries + 1)
            delay_ms = int(backoff.delay(attempt, self.rng) * 1000)
            left = f"{retries_left} {'retry' if retries_left == 1 else 'retries'} left"
            message = f"{job.type} failed for {what} ({left}): {exc}"
            # A known outage (a 429 storm, a gateway down) is one line per retry; the traceback
            # is kept for what may be a bug, and for the incident at the end.
            traceback = exc if cause_of(exc) is UNEXPECTED else None
            log.warning("%s; retrying in %d ms", message, delay_ms, extra=context, exc_info=traceback)
        if self.metrics:
            self.metrics.job_failed(job, final=retries_left == 0)
        await controller.set_failure_status(message, retry_back_off_ms=delay_ms)
