"""One worker process: a pyzeebe worker with every router, until SIGTERM.

Run by the pool supervisor as ``python -m job_workers.worker --name worker-0``.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from pyzeebe import ZeebeTaskRouter, ZeebeWorker

from hireflow.camunda_connection import ConnectionSettings, grpc_channel
from hireflow.constants import ITEM_KEY_VARIABLE
from hireflow.lifetime import end_with_parent
from hireflow.logs import configure_logging
from hireflow.settings import SettingError, whole_number
from hireflow.store import DatabaseUnavailable
from job_workers import interview, notifications, submission, unlock, upload
from job_workers.completion import keep_completions
from job_workers.failure_policy import FailurePolicy
from job_workers.held_jobs import HeldJob, HeldJobs, hand_back, hold_from_the_start
from job_workers.metrics import PoolMetrics
from job_workers.services import Services, services_from_environment
from job_workers.supervisor import EXIT_BAD_SETTINGS
from job_workers.twins import RecordedStarts, cancel_twins
from job_workers.unreadable_jobs import fail_unreadable_jobs, read_jobs_safely

log = logging.getLogger(__name__)

RouterBuilder = Callable[[Services], ZeebeTaskRouter]
# Every domain's router; a new process model's workers are added here.
ROUTER_BUILDERS: tuple[RouterBuilder, ...] = (
    upload.build_router,
    submission.build_router,
    unlock.build_router,
    interview.build_router,
    notifications.build_router,
)


@dataclass(frozen=True)
class WorkerSettings:
    """How one worker process connects and behaves."""

    name: str
    connection: ConnectionSettings = ConnectionSettings()
    max_concurrent_jobs: int = 8
    heartbeat_file: Path | None = None
    heartbeat_seconds: float = 5.0
    # Where the process writes the jobs it holds, for the next process in its slot to hand
    # back if this one is killed (job_workers.held_jobs); None keeps no such file.
    held_jobs_file: Path | None = None
    shutdown_grace_seconds: float = 30.0

    @classmethod
    def from_environment(
        cls,
        name: str,
        heartbeat_file: Path | None = None,
        env: Mapping[str, str] = os.environ,
        held_jobs_file: Path | None = None,
    ) -> "WorkerSettings":
        return cls(
            name=name,
            connection=ConnectionSettings.from_environment(env),
            max_concurrent_jobs=whole_number(
                env, "HIREFLOW_WORKER_MAX_JOBS", cls.max_concurrent_jobs, minimum=1
            ),
            heartbeat_file=heartbeat_file,
            held_jobs_file=held_jobs_file,
        )


async def _beat(path: Path, every: float) -> None:
    """Touch ``path`` while the event loop runs; the supervisor restarts a process that stops."""
    while True:
        path.touch()
        await asyncio.sleep(every)


# The exit code of a worker whose job loop failed for good (e.g. refused credentials).
EXIT_CANNOT_WORK = 3


def root_cause(exc: BaseException) -> str:
    """What really failed, in one line, out of pyzeebe's task groups and wrapped gRPC errors."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    exc = getattr(exc, "grpc_error", None) or exc  # pyzeebe wraps gRPC errors without chaining them
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"the gateway answered {exc.code().name}: {exc.details()}"
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}".strip()


def build_worker(
    settings: WorkerSettings,
    services: Services,
    metrics: PoolMetrics,
    router_builders: tuple[RouterBuilder, ...] = ROUTER_BUILDERS,
    item_key_variables: Mapping[str, str] = ITEM_KEY_VARIABLE,
    held_jobs: HeldJobs | None = None,
) -> ZeebeWorker:
    """A pyzeebe worker with hireflow's policy, metrics and every router (``bench/`` adds one).

    ``item_key_variables`` names, per process id, the variable of the item the webapp starts
    it for; a twin instance of such an item is cancelled (``job_workers.twins``).
    ``held_jobs`` writes down the jobs the worker holds (``job_workers.held_jobs``).
    """
    # pyzeebe runs `after` before it sends a completion; the failure policy clears a job
    # before it sends a failure or a BPMN error.
    after = [held_jobs.after, metrics.after] if held_jobs else [metrics.after]
    policy = FailurePolicy(metrics, held_jobs=held_jobs)
    worker = ZeebeWorker(
        grpc_channel(settings.connection),
        name=settings.name,
        # Never give up reconnecting (pyzeebe 4.7 hangs once its limit is reached).
        max_connection_retries=-1,
        # Jobs pushed as soon as they exist, instead of waiting for the next poll.
        stream_enabled=True,
        exception_handler=policy,
        before=[metrics.before],
        after=after,
    )
    for build_router in router_builders:
        worker.include_router(build_router(services))
    # A completion the engine never got would keep its instance waiting for the job's timeout.
    keep_completions(worker)
    # An instance the engine started late beside the one the webapp recorded would do it all twice.
    let_go = held_jobs.let_go if held_jobs else lambda job: None
    cancel_twins(worker, RecordedStarts(services.db), item_key_variables, metrics, before_outcome=let_go)
    if held_jobs:
        # Outside the twin check: a job is written down before it waits for a task thread.
        hold_from_the_start(worker, held_jobs)
    # A job whose variables cannot be read would end the worker process, and the next one
    # after it: outermost, such a job goes to the failure policy before anything reads it.
    unreadable: dict[int, str] = {}
    read_jobs_safely(worker, unreadable)
    fail_unreadable_jobs(worker, unreadable, policy, metrics)
    return worker


async def hand_back_left(
    left: list[HeldJob], held_jobs: HeldJobs, worker: ZeebeWorker, metrics: PoolMetrics
) -> None:
    """Hand back the jobs a killed predecessor held, and count them."""
    handed_back = await hand_back(left, worker.zeebe_adapter.update_job_timeout, forget=held_jobs.forget)
    metrics.jobs_handed_back(handed_back)


async def run(
    settings: WorkerSettings, services: Services, router_builders: tuple[RouterBuilder, ...] = ROUTER_BUILDERS
) -> None:
    """Work until SIGTERM, SIGINT or SIGHUP, then stop taking jobs and let running ones finish.

    SIGHUP too: a closed terminal sends it to `make run`'s whole process group, and by
    default it would end the process at once, in the middle of its jobs.
    """
    loop = asyncio.get_running_loop()
    # Task functions are synchronous and run in this pool: its size is the per-process
    # concurrency bound, which also holds for streamed jobs (they bypass max_running_jobs).
    loop.set_default_executor(
        ThreadPoolExecutor(settings.max_concurrent_jobs, thread_name_prefix=settings.name)
    )
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stopping.set)
    held_jobs = HeldJobs(settings.held_jobs_file) if settings.held_jobs_file else None
    # What a killed predecessor in this slot left: read before this process writes its own.
    left = held_jobs.take_over() if held_jobs else []
    metrics = PoolMetrics()
    worker = build_worker(settings, services, metrics, router_builders, held_jobs=held_jobs)
    handing_back = asyncio.create_task(hand_back_left(left, held_jobs, worker, metrics)) if left else None
    heartbeat = (
        asyncio.create_task(_beat(settings.heartbeat_file, settings.heartbeat_seconds))
        if settings.heartbeat_file
        else None
    )
    work = asyncio.create_task(worker.work())
    log.info("worker %s connecting: %s", settings.name, settings.connection.describe(rest=False))
    stop_wait = asyncio.create_task(stopping.wait())
    await asyncio.wait({work, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    failure = work.exception() if work.done() and not work.cancelled() else None
    if failure is not None:
        # pyzeebe gave up (it retries what can pass, such as an unreachable gateway): say
        # why in one line, keep the traceback for debugging, and let the supervisor decide.
        log.error("worker %s cannot work: %s", settings.name, root_cause(failure))
        log.debug("worker %s: the full error", settings.name, exc_info=failure)
        for helper in (heartbeat, handing_back, stop_wait):
            if helper:
                helper.cancel()
        raise SystemExit(EXIT_CANNOT_WORK)
    log.info("worker %s stopping: no new jobs, finishing running ones", settings.name)
    await worker.stop()
    try:
        await asyncio.wait_for(work, settings.shutdown_grace_seconds)
    except TimeoutError:
        log.warning(
            "worker %s: jobs still running after %.0f s; their timeouts hand them to another worker",
            settings.name,
            settings.shutdown_grace_seconds,
        )
    for helper in (heartbeat, handing_back, stop_wait):
        if helper:
            helper.cancel()
    log.info("worker %s stopped", settings.name)


def main(router_builders: tuple[RouterBuilder, ...] = ROUTER_BUILDERS) -> None:
    parser = argparse.ArgumentParser(description="Run one hireflow worker process.")
    parser.add_argument("--name", default="worker-0")
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument("--held-jobs-file", type=Path)
    args = parser.parse_args()
    end_with_parent(args.name)
    try:
        configure_logging(args.name)
        settings = WorkerSettings.from_environment(
            args.name, args.heartbeat_file, held_jobs_file=args.held_jobs_file
        )
        services = services_from_environment()
    except SettingError as exc:
        # The supervisor stops the pool on this code, instead of restarting into the same error.
        print(f"{args.name} not started: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    except DatabaseUnavailable as exc:
        # An ordinary failure: the supervisor starts the process again, waiting longer each time.
        print(f"{args.name} not started: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    asyncio.run(run(settings, services, router_builders))


if __name__ == "__main__":
    main()
