"""A killed worker process's jobs go back to the engine at once (job_workers/held_jobs.py).

The file and the hand-back rule are checked alone, and the product's worker writes a job
down from the moment it takes it up; the whole of it with real worker processes, a SIGKILL
and the engine.

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

import asyncio
import dataclasses
import logging
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from pyzeebe import Job, JobController, ZeebeTaskRouter, create_insecure_channel
from pyzeebe.errors import JobNotFoundError
from pyzeebe.grpc_internals.zeebe_adapter import ZeebeAdapter

from bench.models import bench_process
from hireflow.camunda_connection import ConnectionSettings
from hireflow.errors import BusinessOutcome
from hireflow.store import Database, start_claim_scope
from job_workers.__main__ import worker_command
from job_workers.failure_policy import FailurePolicy
from job_workers.held_jobs import DEADLINE_MARGIN_MS, HeldJob, HeldJobs, hand_back, jobs_in
from job_workers.metrics import PoolMetrics
from job_workers.services import Services
from job_workers.worker import WorkerSettings, build_worker
from tests.engine_helpers import activate_jobs_of_instance, describe_instance, wait_for, wait_until_completed
from tests.jobs import RecordingZeebeAdapter, make_job
from tests.stand_in.holds_jobs import HELD_JOB_TIMEOUT_MS, HELD_JOB_TYPE
from webapp.claims import RequestClaims

NOW_MS = 1_800_000_000_000


def job(key: int, deadline_ms: int = NOW_MS + 60_000):
    return dataclasses.replace(make_job("unlock.charge-card"), key=key, deadline=deadline_ms)


def test_a_successor_finds_the_jobs_held_when_the_process_died(tmp_path):
    path = tmp_path / "worker-0.held-jobs"
    dead = HeldJobs(path)  # never closed: a SIGKILL closes nothing
    for key in (11, 12, 13):
        dead.hold(job(key))
    dead.let_go(job(12))  # completed before the kill
    dead.let_go(job(12))  # a second call does nothing

    successor = HeldJobs(path)
    left = successor.take_over()
    assert left == [HeldJob(11, NOW_MS + 60_000), HeldJob(13, NOW_MS + 60_000)]
    successor.hold(job(14))  # written beside them, never over them
    assert successor.held_keys() == [14]
    assert sorted(j.key for j in jobs_in(path)) == [11, 13, 14]
    for each in left:
        successor.forget(each)
        successor.forget(each)  # a second call does nothing
    assert jobs_in(path) == [HeldJob(14, NOW_MS + 60_000)]
    assert HeldJobs(path).take_over() == [HeldJob(14, NOW_MS + 60_000)]


def test_a_successor_killed_while_handing_back_leaves_the_jobs_not_yet_tried(tmp_path):
    path = tmp_path / "worker-0.held-jobs"
    dead = HeldJobs(path)
    for key in (11, 13, 15):
        dead.hold(job(key))
    successor = HeldJobs(path)
    calls = []

    async def set_timeout(key: int, timeout_ms: int) -> None:
        calls.append(key)
        if key == 13:
            raise asyncio.CancelledError  # killed while this call was on its way

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(hand_back(successor.take_over(), set_timeout, lambda: NOW_MS, forget=successor.forget))
    assert calls == [11, 13]
    # 11 went back and may be another worker's by now, 13 may have: neither may be cut short
    # again. 15 was never tried: the next process in the slot hands it back.
    assert HeldJobs(path).take_over() == [HeldJob(15, NOW_MS + 60_000)]


def test_records_are_reused_and_a_full_file_only_loses_the_quick_hand_back(tmp_path):
    held = HeldJobs(tmp_path / "w.held-jobs", capacity=2)
    held.hold(job(1))
    held.hold(job(2))
    held.hold(job(3))  # no free record: this one waits for its timeout, as before
    assert (held.held_keys(), held.overflowed) == ([1, 2], 1)
    held.let_go(job(1))
    held.hold(job(4))
    successor = HeldJobs(tmp_path / "w.held-jobs", capacity=2)
    assert sorted(j.key for j in successor.take_over()) == [2, 4]
    successor.hold(job(5))  # both records still hold what the predecessor left
    assert (successor.held_keys(), successor.overflowed) == ([], 1)
    successor.forget(HeldJob(2, NOW_MS + 60_000))
    successor.hold(job(6))
    assert successor.held_keys() == [6]


def test_the_failure_policy_clears_a_job_before_it_sends_the_outcome(tmp_path):
    held = HeldJobs(tmp_path / "w.held-jobs")
    seen_in_file = []

    class Adapter(RecordingZeebeAdapter):
        async def throw_error(self, **kwargs):
            seen_in_file.append(held.held_keys())
            await super().throw_error(**kwargs)

    failing = job(21)
    held.hold(failing)
    declined = BusinessOutcome("CARD_DECLINED", "the card was declined")
    asyncio.run(FailurePolicy(held_jobs=held)(declined, failing, JobController(failing, Adapter())))
    assert seen_in_file == [[]]


class SnapshotAdapter(RecordingZeebeAdapter):
    """Records each outcome sent with the keys the file held at that moment."""

    def __init__(self, held: HeldJobs):
        super().__init__()
        self.held = held

    async def complete_job(self, **kwargs):
        self.calls.append(("complete_job", self.held.held_keys()))

    async def cancel_process_instance(self, process_instance_key):
        self.calls.append(("cancel_process_instance", self.held.held_keys()))


ITEM_JOB_TYPE = "test.held-item"


def item_worker(tmp_path, held: HeldJobs):
    """The product's worker (twin check included) with one task for an item of ``test-process``."""
    db = Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    db.create_schema()
    router = ZeebeTaskRouter()

    @router.task(ITEM_JOB_TYPE)
    def touch(item_id: str, job: Job) -> dict:
        return {}

    settings = WorkerSettings(name="held-test", connection=ConnectionSettings(grpc_address="127.0.0.1:9"))
    worker = build_worker(
        settings,
        Services(files=None, db=db),
        PoolMetrics(),
        (lambda services: router,),
        item_key_variables={"test-process": "item_id"},
        held_jobs=held,
    )
    return worker, db


def item_job(key: int = 31) -> Job:
    job = make_job(ITEM_JOB_TYPE, variables={"item_id": "it-1"})
    return dataclasses.replace(job, key=key, deadline=NOW_MS + 60_000)


def test_a_job_is_written_down_while_it_waits_for_a_task_thread(tmp_path):
    held = HeldJobs(tmp_path / "w.held-jobs")

    async def scenario():
        worker, _ = item_worker(tmp_path, held)
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        running = threading.Event()
        busy = loop.run_in_executor(None, running.wait)  # the one task thread runs another job
        job = item_job()
        adapter = SnapshotAdapter(held)
        handling = asyncio.create_task(worker.tasks[0].job_handler(job, JobController(job, adapter)))
        await asyncio.sleep(0.2)
        try:
            # The twin check waits for the thread: a kill now must still leave the job to hand back.
            assert not handling.done()
            assert jobs_in(held.path) == [HeldJob(job.key, job.deadline)]
        finally:
            running.set()  # a failed assertion must not leave the thread, and the test, waiting
        await busy
        await handling
        return adapter.calls

    assert asyncio.run(scenario()) == [("complete_job", [])]  # cleared before the completion
    assert jobs_in(held.path) == []


def test_the_twin_check_clears_a_job_before_it_cancels_the_twin(tmp_path):
    held = HeldJobs(tmp_path / "w.held-jobs")

    async def scenario():
        worker, db = item_worker(tmp_path, held)
        claims = RequestClaims(db)
        claim = claims.claim(start_claim_scope("test-process"), "it-1", {"item_id": "it-1"})
        job = item_job()
        claims.complete(claim, {"processInstanceKey": str(job.process_instance_key + 1)})  # a newer one
        adapter = SnapshotAdapter(held)
        await worker.tasks[0].job_handler(job, JobController(job, adapter))
        return adapter.calls

    assert asyncio.run(scenario()) == [("cancel_process_instance", [])]
    assert jobs_in(held.path) == []


def test_only_jobs_still_within_their_deadline_are_handed_back(caplog):
    calls = []

    async def set_timeout(key: int, timeout_ms: int) -> None:
        calls.append((key, timeout_ms))
        if key == 3:
            raise JobNotFoundError(key)  # done or failed before the kill
        if key == 4:
            raise RuntimeError("gateway away")  # its timeout brings it back, as before

    left = [
        HeldJob(1, NOW_MS + 60_000),
        HeldJob(2, NOW_MS + DEADLINE_MARGIN_MS - 1),  # may be another worker's by now
        HeldJob(3, NOW_MS + 60_000),
        HeldJob(4, NOW_MS + 60_000),
    ]
    caplog.set_level(logging.INFO, logger="job_workers.held_jobs")
    assert asyncio.run(hand_back(left, set_timeout, now_ms=lambda: NOW_MS)) == 1
    assert calls == [(1, 0), (3, 0), (4, 0)]
    assert "job 4 left by the previous process not handed back: gateway away" in caplog.text
    assert "1 of 4 jobs left by the previous process handed back" in caplog.text


PROCESS_ID = "held-job-test"


@pytest.mark.engine
def test_a_job_handed_back_is_offered_again_at_once_not_after_its_timeout(process_engine):
    camunda = process_engine.client
    camunda.deploy_resources(
        [(f"{PROCESS_ID}.bpmn", bench_process(1, job_type=HELD_JOB_TYPE, pid=PROCESS_ID))]
    )
    instance = str(camunda.create_process_instance(PROCESS_ID)["processInstanceKey"])

    async def killed_worker_held_then_successor_hands_back():
        _, [held] = await activate_jobs_of_instance(
            process_engine.grpc_address,
            HELD_JOB_TYPE,
            instance,
            worker="killed",
            timeout_ms=HELD_JOB_TIMEOUT_MS,
        )
        adapter = ZeebeAdapter(create_insecure_channel(grpc_address=process_engine.grpc_address))
        handed = await hand_back([HeldJob(held.key, held.deadline)], adapter.update_job_timeout)
        assert handed == 1
        return held

    held = asyncio.run(killed_worker_held_then_successor_hands_back())
    again = wait_for(
        lambda: asyncio.run(
            activate_jobs_of_instance(
                process_engine.grpc_address, HELD_JOB_TYPE, instance, worker="successor", timeout_ms=60_000
            )
        )[1],
        what="the job offered again long before its 10-minute timeout",
        seen=lambda: describe_instance(camunda, instance),
    )
    assert [j.key for j in again] == [held.key]  # the same job, with its retries untouched
    assert again[0].retries == held.retries


def start_worker(tmp_path: Path, process_engine, *, hold: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "ZEEBE_ADDRESS": process_engine.grpc_address,
        "HIREFLOW_DATA_DIR": str(tmp_path / "var"),
        "HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'domain.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "STAND_IN_HOLD": "1" if hold else "0",
    }
    command = worker_command("worker-0", tmp_path / "worker-0.heartbeat", module="tests.stand_in.holds_jobs")
    log = tmp_path / f"worker-{'holding' if hold else 'successor'}.log"
    with log.open("w") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


@pytest.mark.engine
def test_a_job_of_a_worker_killed_with_sigkill_is_done_by_its_successor_at_once(tmp_path, process_engine):
    camunda = process_engine.client
    camunda.deploy_resources(
        [(f"{PROCESS_ID}.bpmn", bench_process(1, job_type=HELD_JOB_TYPE, pid=PROCESS_ID))]
    )
    holder = start_worker(tmp_path, process_engine, hold=True)
    successor = None
    try:
        instance = str(camunda.create_process_instance(PROCESS_ID)["processInstanceKey"])
        held_file = tmp_path / "worker-0.held-jobs"
        wait_for(
            lambda: held_file.exists() and jobs_in(held_file),
            what="the holding worker to write its job down",
            seen=lambda: describe_instance(camunda, instance),
        )
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        successor = start_worker(tmp_path, process_engine, hold=False)
        # Within the wait's minute, where the job's timeout is ten: the successor handed it back.
        wait_until_completed(camunda, instance)
        assert jobs_in(held_file) == []
    finally:
        for process in (holder, successor):
            if process and process.poll() is None:
                process.kill()
        for log in sorted(tmp_path.glob("worker-*.log")):
            print(f"--- {log.name}\n{log.read_text()}")  # shown when the test fails
    log = (tmp_path / "worker-successor.log").read_text()
    assert "1 of 1 jobs left by the previous process handed back" in log
    pool_metrics = CollectorRegistry()
    multiprocess.MultiProcessCollector(pool_metrics, path=str(tmp_path))  # the processes' sum
    assert pool_metrics.get_sample_value("hireflow_jobs_handed_back_total") == 1
