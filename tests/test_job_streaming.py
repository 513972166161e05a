"""How jobs reach workers: pushed to a job stream at once, and polls held as a gateway holds them.

A stream that names no tenant (pyzeebe opens it so) gets the default tenant on a cluster's
gateway. The embedded engine's launcher does the same; without it the engine pushed
nothing and every job waited for the next poll (about 2 jobs a second per worker, found by
``make bench``).

pyzeebe also polls beside its streams, relying on the gateway's long polling. The
embedded engine's launcher holds a poll that would find nothing until a job of its type
exists, without writing to the log meanwhile.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
import requests
from pyzeebe.proto import gateway_pb2
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from bench.models import JOB_TYPE, bench_process, bench_resources, process_id
from hireflow.engine.embedded import EmbeddedEngineClient

pytestmark = pytest.mark.engine
PUSH_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def bench_models(process_engine):
    return process_engine.client.deploy_resources(bench_resources((1,)))


async def first_streamed_job_after_start(address: str) -> float:
    """Seconds from creating an instance to its job arriving on a tenant-less stream."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = GatewayStub(channel)
        stream = stub.StreamActivatedJobs(
            gateway_pb2.StreamActivatedJobsRequest(type=JOB_TYPE, worker="stream-test", timeout=30_000)
        )
        reader = asyncio.ensure_future(stream.read())
        await asyncio.sleep(1.0)  # the stream is registered before the job exists
        began = time.monotonic()
        await stub.CreateProcessInstance(
            gateway_pb2.CreateProcessInstanceRequest(bpmnProcessId=process_id(1), version=-1, variables="{}")
        )
        job = await asyncio.wait_for(reader, PUSH_DEADLINE_S)
        elapsed = time.monotonic() - began
        await stub.CompleteJob(gateway_pb2.CompleteJobRequest(jobKey=job.key, variables="{}"))
        stream.cancel()
        return elapsed


def test_a_job_is_pushed_to_a_stream_that_names_no_tenant(process_engine, bench_models):
    elapsed = asyncio.run(first_streamed_job_after_start(process_engine.grpc_address))
    assert elapsed < PUSH_DEADLINE_S


POLLED_TYPE = "long-poll-probe"
POLLED_PROCESS = bench_process(1, job_type=POLLED_TYPE, pid="long-poll-probe")


async def poll(address: str, request_timeout_ms: int) -> list:
    """One ActivateJobs call for the probe's job type: the jobs it answered with."""
    async with grpc.aio.insecure_channel(address) as channel:
        request = gateway_pb2.ActivateJobsRequest(
            type=POLLED_TYPE,
            worker="poll-test",
            timeout=30_000,
            maxJobsToActivate=1,
            requestTimeout=request_timeout_ms,
        )
        jobs = []
        async for response in GatewayStub(channel).ActivateJobs(request):
            jobs.extend(response.jobs)
        return jobs


def test_a_poll_with_nothing_to_find_is_held_without_writing_to_the_log(process_engine):
    # Without it, an idle worker pool wrote about 170 records a second to the log.
    if not process_engine.control_url:
        pytest.skip("only the embedded engine shows its log; a cluster's gateway long-polls itself")
    assert asyncio.run(poll(process_engine.grpc_address, 500)) == []
    read_up_to = EmbeddedEngineClient(process_engine.control_url).refresh().next_index

    assert asyncio.run(poll(process_engine.grpc_address, 1_000)) == []

    assert polls_written_since(process_engine.control_url, read_up_to) == []


def polls_written_since(control_url: str, position: int) -> list[dict]:
    """The job-batch records of the probe's type written after log ``position``."""
    found = []
    while True:
        page = requests.get(f"{control_url}/records", params={"from": position}, timeout=30).json()
        found += [
            record
            for record in page["records"]
            if record["valueType"] == "JOB_BATCH" and record["value"].get("type") == POLLED_TYPE
        ]
        position = page["next"]
        if not page["more"]:
            return found


def test_a_held_poll_answers_with_the_job_created_while_it_waits(process_engine):
    process_engine.client.deploy_resources([("long-poll-probe.bpmn", POLLED_PROCESS)])

    async def poll_while_an_instance_starts() -> list:
        assert await poll(process_engine.grpc_address, 500) == []  # the next poll is held
        held = asyncio.ensure_future(poll(process_engine.grpc_address, 60_000))
        await asyncio.sleep(1.0)
        process_engine.client.create_process_instance("long-poll-probe")
        return await asyncio.wait_for(held, 60)

    jobs = asyncio.run(poll_while_an_instance_starts())

    assert [job.type for job in jobs] == [POLLED_TYPE]
    process_engine.client.cancel_process_instance(jobs[0].processInstanceKey)
