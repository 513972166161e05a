"""Deliver a job's completion again when the gateway was gone as the worker reported it.

A task function may finish just as the engine or its gateway goes away (a crash, a
restart, a network fault). pyzeebe then logs "Error in job executor" and drops the
completion: the work is done, its side effects have happened, but the engine still
counts the job as running and offers it again only when its timeout runs out (up to two
minutes for a calendar booking). The instance waits that long for nothing, and the job
is done twice (harmlessly, since every worker is idempotent, but for nothing).

``keep_completions`` wraps every task's job handler: when the completion itself fails
because the engine could not be reached, it sends the same completion again on a short
schedule while the job is still the worker's (its deadline has not passed). Only a
completion is repeated: a failure or a BPMN error names a retry count and backoff the
policy chose at the time, and the engine offering the job again after its timeout is
the safe answer there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence

from pyzeebe import Job, JobController, JobStatus, ZeebeWorker
from pyzeebe.errors import (
    JobAlreadyDeactivatedError,
    JobNotFoundError,
    ZeebeBackPressureError,
    ZeebeGatewayUnavailableError,
    ZeebeInternalError,
)
from pyzeebe.task.types import JobHandler

log = logging.getLogger(__name__)

# Seconds to wait before each new try: about a minute in all, the time an engine
# restart takes here. The job's deadline ends it sooner.
COMPLETION_RETRY_DELAYS: tuple[float, ...] = (0.5, 1, 2, 4, 8, 15, 15, 15)
# What says the engine did not take the completion, so sending it again is safe.
ENGINE_UNREACHABLE = (ZeebeGatewayUnavailableError, ZeebeInternalError, ZeebeBackPressureError)


def keep_completions(worker: ZeebeWorker, delays: Sequence[float] = COMPLETION_RETRY_DELAYS) -> None:
    """Make every task of ``worker`` deliver its completion again after a gateway outage."""
    for task in worker.tasks:
        task.job_handler = completion_kept(task.job_handler, delays)


def completion_kept(
    handler: JobHandler,
    delays: Sequence[float] = COMPLETION_RETRY_DELAYS,
    now_ms: Callable[[], float] = lambda: time.time() * 1000,
) -> JobHandler:
    """``handler``, with its completion sent again while the engine cannot be reached."""

    @functools.wraps(handler)
    async def job_handler(job: Job, job_controller: JobController) -> Job:
        try:
            return await handler(job, job_controller)
        except ENGINE_UNREACHABLE as lost:
            if job.status is not JobStatus.Completed:
                raise  # a failure or BPMN error: the job's timeout brings it back
            await _complete_again(job, job_controller, lost, delays, now_ms)
            return job

    return job_handler


async def _complete_again(
    job: Job,
    job_controller: JobController,
    lost: Exception,
    delays: Sequence[float],
    now_ms: Callable[[], float],
) -> None:
    what = f"job {job.key} ({job.type}, process instance {job.process_instance_key})"
    log.warning(
        "%s: its completion did not reach the engine (%s); sending it again", what, type(lost).__name__
    )
    for attempt, delay in enumerate(delays, start=1):
        if job.deadline and now_ms() + delay * 1000 >= job.deadline:
            break  # no longer ours: the engine offers it again, and the work is idempotent
        await asyncio.sleep(delay)
        try:
            # pyzeebe 4.7's controller refuses a second status change; its adapter does not.
            await job_controller._zeebe_adapter.complete_job(job_key=job.key, variables=job.task_result or {})
        except ENGINE_UNREACHABLE:
            continue
        except (JobNotFoundError, JobAlreadyDeactivatedError):
            log.info("%s: completed or handed out again meanwhile; nothing more to send", what)
            return
        log.info("%s: completed on try %d after the engine came back", what, attempt + 1)
        return
    log.warning("%s: the engine is still unreachable; it offers the job again after its timeout", what)
