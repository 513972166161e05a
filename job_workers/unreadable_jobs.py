"""A job whose variables Python cannot read becomes an incident, not a dead worker process.

The engine takes JSON nested up to 1000 levels deep (Jackson's limit), and Python's
``json`` parser, which recurses, gives up a little short of that. pyzeebe reads each job
the engine hands it inside its job stream, and an error there ends the worker's task
group: the process exits, the engine offers the job again after its timeout, and the
next process dies on it in turn. The whole pool fails, again and again, while the
instance waits with no incident. (Seen on the embedded engine on 2026-12-07, with one
variable nested 995 levels deep, set by hand.)

So each job is read with a guard (``read_jobs_safely``): a job whose variables cannot be
read comes through without them, noted with the reason, and the outermost handler hands
it to the failure policy as a ``PermanentFailure``: an incident now, whose message says
to set the variable right. Custom headers come from the model, so they are always flat.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from pyzeebe import Job, JobController, ZeebeWorker
from pyzeebe.proto.gateway_pb2 import ActivatedJob
from pyzeebe.task.types import JobHandler

from hireflow.errors import PermanentFailure
from job_workers.metrics import PoolMetrics

log = logging.getLogger(__name__)

FailureHandler = Callable[[Exception, Job, JobController], Awaitable[None]]


class UnreadableVariables(PermanentFailure):
    """The job's variables are JSON that Python's parser cannot read: a retry reads the same."""

    def __init__(self, reason: str):
        super().__init__(
            f"the worker cannot read this job's variables ({reason}); a variable is nested too deep"
            " or otherwise unreadable: set it right on the instance"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested deeper than Python's JSON reader follows"
    return f"{type(exc).__name__}: {exc}"


def read_jobs_safely(worker: ZeebeWorker, unreadable: dict[int, str]) -> None:
    """Make ``worker`` read each activated job with a guard: a job whose variables fail to
    parse is read with none, and its key and the reason are put in ``unreadable``.

    pyzeebe has no hook for this: its adapter's reader is replaced on this worker alone.
    pyzeebe is pinned, and tests/test_unreadable_jobs.py runs this on the engine.
    """
    adapter = worker.zeebe_adapter
    read = adapter._create_job_from_raw_job

    @functools.wraps(read)
    def read_guarded(raw_job: ActivatedJob) -> Job:
        try:
            return read(raw_job)
        except (RecursionError, ValueError) as exc:
            reason = _reason(exc)
            log.error(
                "job %s (%s) of process instance %s: its variables cannot be read (%s)",
                raw_job.key,
                raw_job.type,
                raw_job.processInstanceKey,
                reason,
            )
            unreadable[raw_job.key] = reason
            without_variables = ActivatedJob()
            without_variables.CopyFrom(raw_job)
            without_variables.variables = "{}"
            return read(without_variables)

    adapter._create_job_from_raw_job = read_guarded


def fail_unreadable_jobs(
    worker: ZeebeWorker,
    unreadable: dict[int, str],
    fail: FailureHandler,
    metrics: PoolMetrics | None = None,
) -> None:
    """Make every task of ``worker`` hand a job ``read_jobs_safely`` could not read to
    ``fail`` (the failure policy) instead of running it; wrap the job handlers last.

    ``metrics`` counts such a job as its task's hooks would have: activated, then an incident.
    """
    for task in worker.tasks:
        task.job_handler = _failing_unreadable(task.job_handler, unreadable, fail, metrics)


def _failing_unreadable(
    handler: JobHandler, unreadable: dict[int, str], fail: FailureHandler, metrics: PoolMetrics | None
) -> JobHandler:
    @functools.wraps(handler)
    async def job_handler(job: Job, job_controller: JobController) -> Job:
        reason = unreadable.pop(job.key, None)
        if reason is None:
            return await handler(job, job_controller)
        if metrics:
            await metrics.before(job)
        await fail(UnreadableVariables(reason), job, job_controller)
        if metrics:
            await metrics.after(job)
        return job

    return job_handler
