"""Cancel a twin: an older instance for an item whose start the engine processed late.

The webapp starts one instance per item and records it in the item's start claim
(``webapp/engine.py``). A start can still make two: the engine writes the create command
to its log and goes down before it answers; the webapp's retry finds no instance (the
first is not processed yet), starts another, and records that one; on restarting, the
engine processes the first command as well. The two twins then run side by side: each
sends its own emails, waits for its own messages (a message reaches one of them only),
and the other is stuck at the wait or escalates it. A cluster with business-id
uniqueness (Camunda 8.9, on in hireflow's cluster configs) refuses the second start; the
embedded engine and older clusters do not.

``cancel_twins`` wraps every task's job handler: before a job of one of hireflow's
processes runs, it looks up the instance recorded for the job's item. When the job's
instance is older than that one, it is the twin the webapp gave up on: the worker cancels
it instead of doing the work. Only older instances are cancelled. An instance started
after the recorded one was started on purpose (by an operator, or a test), and an
instance with no recorded start is left alone.

While a retry of the item's start is under way (the webapp took the stale claim over and
is looking for the first instance or starting another), the job waits: it is offered
again in a few seconds, its retries kept, so a twin is not let through to a user task
before the retry records which instance is the item's. A start that is simply pending
(the first request, still waiting for its answer) does not hold jobs up, and nor does a
take-over older than ``RETRIED_START_WAIT`` (its retry died; the next one marks it again).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter
from pyzeebe import Job, JobController, ZeebeWorker
from pyzeebe.errors import ProcessInstanceNotFoundError
from pyzeebe.task.types import JobHandler

from hireflow.constants import ITEM_KEY_VARIABLE
from hireflow.store import TAKEN_OVER, Database, RequestClaim, start_claim_scope, utcnow
from job_workers.completion import ENGINE_UNREACHABLE
from job_workers.failure_policy import fail_with_retries
from job_workers.metrics import PoolMetrics

log = logging.getLogger(__name__)

TWINS_CANCELLED = Counter(
    "hireflow_twin_instances_cancelled_total",
    "Instances cancelled as the older twin of the instance the webapp recorded for their item",
    ["process_id"],
)
# A Zeebe key holds its partition's id above its 51 low bits; keys grow within a partition.
PARTITION_SHIFT = 51


# Longer than a retried start takes (a search and a start, each bounded by the webapp's
# engine timeout); a take-over older than this was abandoned.
RETRIED_START_WAIT = timedelta(seconds=60)
# How soon a job held up by a retried start is offered again.
RETRIED_START_RECHECK_MS = 2_000


@dataclass(frozen=True)
class ItemStart:
    """What an item's start claim says: the instance recorded for it, or that a retry is under way."""

    instance_key: int | None = None
    being_retried: bool = False


class RecordedStarts:
    """The instance the webapp recorded for an item's start, read from its start claim."""

    def __init__(self, db: Database, retried_start_wait: timedelta = RETRIED_START_WAIT):
        self.db = db
        self.retried_start_wait = retried_start_wait

    def start_of(self, process_id: str, item_id: str) -> ItemStart:
        """The recorded instance's key; or that a recent take-over is finding or making it."""
        with self.db.sessions() as session:
            claim = session.get(RequestClaim, (start_claim_scope(process_id), item_id))
            if claim is None:
                return ItemStart()
            result = claim.result or {}
            if claim.status == "done":
                recorded = result.get("processInstanceKey")
                return ItemStart(int(recorded) if recorded else None)
            recent = utcnow() - claim.claimed_at < self.retried_start_wait
            return ItemStart(being_retried=bool(result.get(TAKEN_OVER)) and recent)


def is_older_twin(instance_key: int, recorded_key: int) -> bool:
    """Whether ``instance_key`` was created before ``recorded_key`` on the same partition.

    Keys on different partitions cannot be ordered; a cluster with more than one partition
    should refuse twins at the start (business-id uniqueness) instead.
    """
    same_partition = instance_key >> PARTITION_SHIFT == recorded_key >> PARTITION_SHIFT
    return same_partition and instance_key < recorded_key


def cancel_twins(
    worker: ZeebeWorker,
    starts: RecordedStarts,
    item_key_variables: Mapping[str, str] = ITEM_KEY_VARIABLE,
    metrics: PoolMetrics | None = None,
    before_outcome: Callable[[Job], None] = lambda job: None,
) -> None:
    """Make every task of ``worker`` cancel a twin instance instead of working on it.

    ``metrics`` counts the jobs held up or cancelled so (outcomes ``waiting`` and
    ``twin_cancelled``), which never reach the task's own hooks. ``before_outcome`` is
    called with the job just before the check sends its own outcome (``HeldJobs.let_go``).
    """
    for task in worker.tasks:
        task.job_handler = twin_cancelling(
            task.job_handler, starts, item_key_variables, metrics, before_outcome
        )


def twin_cancelling(
    handler: JobHandler,
    starts: RecordedStarts,
    item_key_variables: Mapping[str, str] = ITEM_KEY_VARIABLE,
    metrics: PoolMetrics | None = None,
    before_outcome: Callable[[Job], None] = lambda job: None,
) -> JobHandler:
    """``handler``, except for a job of a twin instance, which is cancelled instead."""

    @functools.wraps(handler)
    async def job_handler(job: Job, job_controller: JobController) -> Job:
        key_variable = item_key_variables.get(job.bpmn_process_id)
        item_id = (job.variables or {}).get(key_variable) if key_variable else None
        if item_id is None:  # not one of hireflow's items, or the task does not fetch its id
            return await handler(job, job_controller)
        item = f"{key_variable}={item_id}"
        start = await _item_start(job, starts, str(item_id))
        if start.being_retried:
            before_outcome(job)
            if await _wait_for_the_retried_start(job, job_controller, item) and metrics:
                metrics.job_set_aside(job, "waiting")
            return job
        recorded = start.instance_key
        if recorded is not None and is_older_twin(job.process_instance_key, recorded):
            before_outcome(job)
            if await _cancel_twin(job, job_controller, item, recorded) and metrics:
                metrics.job_set_aside(job, "twin_cancelled")
            return job
        return await handler(job, job_controller)

    return job_handler


async def _item_start(job: Job, starts: RecordedStarts, item_id: str) -> ItemStart:
    try:
        # The lookup blocks, so it runs in the worker's task threads, as task functions do.
        return await asyncio.get_running_loop().run_in_executor(
            None, starts.start_of, job.bpmn_process_id, item_id
        )
    except Exception:  # a safety net must not stop the work: the task itself meets the fault
        log.warning("job %s: could not look up the instance recorded for %s", job.key, item_id, exc_info=True)
        return ItemStart()


async def _wait_for_the_retried_start(job: Job, job_controller: JobController, item: str) -> bool:
    """Hand the job back to be offered again soon; whether the engine took it back."""
    message = (
        f"{job.type} waits for the retried start of {item}: which instance is the item's is not recorded yet"
    )
    log.info("%s (process instance %s)", message, job.process_instance_key)
    try:
        # Offered again soon, its retries kept, as the failure policy does for RetryLater.
        await fail_with_retries(job_controller, job, message, job.retries, RETRIED_START_RECHECK_MS)
    except ENGINE_UNREACHABLE as exc:
        log.warning("job %s: could not hand it back (%s); it comes back after its timeout", job.key, exc)
        return False
    return True


async def _cancel_twin(job: Job, job_controller: JobController, item: str, recorded: int) -> bool:
    """Cancel the job's instance, a twin of ``recorded``; whether it is cancelled now."""
    what = f"process instance {job.process_instance_key} ({job.bpmn_process_id}, {item})"
    try:
        # pyzeebe's worker has no public call for it; its adapter does (pyzeebe is pinned).
        await job_controller._zeebe_adapter.cancel_process_instance(job.process_instance_key)
    except ProcessInstanceNotFoundError:
        log.info("%s: a twin of instance %s, already cancelled", what, recorded)
        return True
    except ENGINE_UNREACHABLE as exc:
        log.warning(
            "%s: a twin of instance %s; cancelling it failed (%s), so its job %s comes back after "
            "its timeout and is checked again",
            what,
            recorded,
            type(exc).__name__,
            job.key,
        )
        return False
    TWINS_CANCELLED.labels(job.bpmn_process_id).inc()
    log.warning(
        "%s cancelled before job %s (%s): a twin of instance %s, which the webapp started for "
        "the same item after the engine had not answered",
        what,
        job.key,
        job.type,
        recorded,
    )
    return True
