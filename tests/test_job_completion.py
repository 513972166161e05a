"""A completion lost with the gateway is sent again (job_workers/completion.py).

Checked on pyzeebe's own Job and JobController, and once on the engine: a job whose
first completion met an unreachable gateway is completed by the second, instead of
waiting out its timeout.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from pyzeebe import Job, JobController
from pyzeebe.errors import JobNotFoundError, ZeebeGatewayUnavailableError

from bench.models import JOB_TYPE, bench_resources, process_id
from job_workers.completion import completion_kept
from tests.engine_helpers import activate_jobs_of_instance, describe_instance, wait_for, wait_until_completed
from tests.jobs import make_job

NO_WAIT = (0, 0, 0)


def gateway_gone() -> ZeebeGatewayUnavailableError:
    """What pyzeebe raises when the gateway cannot be reached."""
    return ZeebeGatewayUnavailableError(
        grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "gone")
    )


class GatewayGoneFor:
    """An adapter whose first ``outages`` completions meet an unreachable gateway."""

    def __init__(self, outages: int, then=None, after: Exception | None = None):
        self.outages, self.then, self.after = outages, then, after
        self.completions: list[dict] = []

    async def complete_job(self, job_key: int, variables: dict):
        self.completions.append({"job_key": job_key, "variables": variables})
        if len(self.completions) <= self.outages:
            raise gateway_gone()
        if self.after is not None:
            raise self.after
        if self.then is not None:
            return await self.then.complete_job(job_key=job_key, variables=variables)

    async def fail_job(self, **kwargs):
        raise gateway_gone()


async def finish(job: Job, controller: JobController) -> Job:
    """What pyzeebe's job handler does once the task function returned."""
    job.set_task_result({"done": True})
    await controller.set_success_status(variables={"done": True})
    return job


async def fail(job: Job, controller: JobController) -> Job:
    await controller.set_failure_status("it broke", retry_back_off_ms=1000)
    return job


def run(handler, job: Job, adapter, now_ms=lambda: 0.0) -> Job:
    wrapped = completion_kept(handler, NO_WAIT, now_ms=now_ms)
    return asyncio.run(wrapped(job, JobController(job, adapter)))


def test_a_completion_lost_with_the_gateway_is_sent_again_with_the_same_variables():
    adapter = GatewayGoneFor(outages=2)
    job = make_job("unlock.charge-card")
    assert run(finish, job, adapter) is job
    assert adapter.completions == [{"job_key": job.key, "variables": {"done": True}}] * 3


def test_a_job_handed_out_again_meanwhile_is_left_to_its_new_worker():
    adapter = GatewayGoneFor(outages=1, after=JobNotFoundError(job_key=501))
    run(finish, make_job("unlock.charge-card"), adapter)
    assert len(adapter.completions) == 2  # one more try, then it stops


def test_no_more_tries_once_the_job_is_past_its_deadline():
    job = make_job("unlock.charge-card")  # deadline 0 means unknown: the tries are bounded
    object.__setattr__(job, "deadline", 1_000)
    adapter = GatewayGoneFor(outages=5)
    run(finish, job, adapter, now_ms=lambda: 2_000.0)
    assert len(adapter.completions) == 1  # the engine offers it again after its timeout


def test_the_tries_end_when_the_gateway_stays_away():
    adapter = GatewayGoneFor(outages=10)
    run(finish, make_job("unlock.charge-card"), adapter)
    assert len(adapter.completions) == 1 + len(NO_WAIT)


def test_a_failure_lost_with_the_gateway_is_not_repeated():
    # Its retries and backoff were chosen for that moment; the job's timeout brings it back.
    with pytest.raises(ZeebeGatewayUnavailableError):
        run(fail, make_job("unlock.charge-card"), GatewayGoneFor(outages=0))


async def complete_through_an_outage(address: str, instance: int) -> int:
    """Activate the instance's bench job; its first completion meets an unreachable gateway."""
    # Ten minutes: only the second completion can end it in time.
    adapter, [job] = await activate_jobs_of_instance(
        address, JOB_TYPE, instance, worker="completion-test", timeout_ms=600_000
    )
    flaky = GatewayGoneFor(outages=1, then=adapter)
    await completion_kept(finish, NO_WAIT)(job, JobController(job, flaky))
    return job.key


@pytest.mark.engine
def test_on_the_engine_the_second_completion_ends_the_job(process_engine):
    camunda = process_engine.client
    camunda.deploy_resources(bench_resources((1,)))
    instance = camunda.create_process_instance(process_id(1))["processInstanceKey"]
    job_key = asyncio.run(complete_through_an_outage(process_engine.grpc_address, int(instance)))

    wait_for(
        lambda: camunda.search_jobs(jobKey=str(job_key), state="COMPLETED"),
        what="the job to be completed by the second completion",
        seen=lambda: describe_instance(camunda, instance),
    )
    wait_until_completed(camunda, instance)
