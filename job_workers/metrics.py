"""Prometheus metrics of the worker pool, aggregated across its processes.

Each worker process writes to ``PROMETHEUS_MULTIPROC_DIR`` (set by the supervisor before
it starts them); the supervisor serves the sum at ``/metrics``.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from pyzeebe import Job

JOBS_ACTIVATED = Counter("hireflow_jobs_activated_total", "Jobs handed to this pool", ["job_type"])
JOBS_FINISHED = Counter(
    "hireflow_jobs_finished_total",
    "Jobs finished, by outcome: completed, failed (will retry), incident, bpmn_error, "
    "waiting (offered again later, retries kept), twin_cancelled (its instance was cancelled)",
    ["job_type", "outcome"],
)
BPMN_ERRORS = Counter("hireflow_bpmn_errors_total", "BPMN errors thrown", ["job_type", "error_code"])
JOBS_HANDED_BACK = Counter(
    "hireflow_jobs_handed_back_total",
    "Jobs a killed worker process held, handed back to the engine by the process started in its place",
)
JOB_DURATION = Histogram(
    "hireflow_job_duration_seconds",
    "Time from activation in this pool to the job's outcome",
    ["job_type", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


class PoolMetrics:
    """Counts jobs through their life: ``before`` and ``after`` hooks plus the failure policy's reports."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self._outcome: dict[int, str] = {}

    async def before(self, job: Job) -> Job:
        JOBS_ACTIVATED.labels(job.type).inc()
        self._started[job.key] = time.monotonic()
        return job

    def jobs_handed_back(self, count: int) -> None:
        JOBS_HANDED_BACK.inc(count)

    def job_failed(self, job: Job, final: bool) -> None:
        self._outcome[job.key] = "incident" if final else "failed"

    def job_waiting(self, job: Job) -> None:
        self._outcome[job.key] = "waiting"

    def bpmn_error(self, job: Job, error_code: str) -> None:
        BPMN_ERRORS.labels(job.type, error_code).inc()
        self._outcome[job.key] = "bpmn_error"

    def job_set_aside(self, job: Job, outcome: str) -> None:
        """Count a job the twin check answered without running its task (``job_workers.twins``).

        ``outcome`` is ``waiting`` (held for a retried start) or ``twin_cancelled``; the
        ``before`` and ``after`` hooks run only around the task, so they never see such a job.
        """
        JOBS_ACTIVATED.labels(job.type).inc()
        JOBS_FINISHED.labels(job.type, outcome).inc()

    async def after(self, job: Job) -> Job:
        # pyzeebe runs `after` for failed jobs too; the failure policy has reported those.
        outcome = self._outcome.pop(job.key, "completed")
        started = self._started.pop(job.key, None)
        JOBS_FINISHED.labels(job.type, outcome).inc()
        if started is not None:
            JOB_DURATION.labels(job.type, outcome).observe(time.monotonic() - started)
        return job
