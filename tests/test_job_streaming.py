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


async def poll(address: str, request_timeout_ms: int, job_type: str = POLLED_TYPE) -> list:
    """One ActivateJobs call for ``job_type`` (the probe's): the jobs it answered with."""
    async with grpc.aio.insecure_channel(address) as channel:
        request = gateway_pb2.ActivateJobsRequest(
            type=job_type,
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


def polls_written_since(control_url: str, position: int, job_type: str = POLLED_TYPE) -> list[dict]:
    """The job-batch records of ``job_type`` (the probe's) written after log ``position``."""
    found = []
    while True:
        page = requests.get(f"{control_url}/records", params={"from": position}, timeout=30).json()
        found += [
            record
            for record in page["records"]
            if record["valueType"] == "JOB_BATCH" and record["value"].get("type") == job_type
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


def activations_since(control_url: str, position: int, job_type: str) -> list[dict]:
    """The ActivateJobs commands for ``job_type`` that polls passed on to the engine after ``position``."""
    return [
        record
        for record in polls_written_since(control_url, position, job_type)
        if record["recordType"] == "COMMAND" and record["intent"] == "ACTIVATE"
    ]


PUSHED_TYPE = "push-probe"
PUSHED_PROCESS = bench_process(1, job_type=PUSHED_TYPE, pid="push-probe")


def test_a_job_pushed_to_a_stream_does_not_wake_a_held_poll(process_engine):
    # As a cluster's broker: a job it pushes to a stream is not announced to held polls.
    # The launcher once woke them for every job event, so each pool process's poll for the
    # type sent the engine an activation per job that found nothing.
    if not process_engine.control_url:
        pytest.skip("only the embedded engine shows its log; a cluster's gateway long-polls itself")
    process_engine.client.deploy_resources([("push-probe.bpmn", PUSHED_PROCESS)])

    async def push_one_job_while_a_poll_is_held() -> tuple[list, int]:
        async with grpc.aio.insecure_channel(process_engine.grpc_address) as channel:
            stub = GatewayStub(channel)
            stream = stub.StreamActivatedJobs(
                gateway_pb2.StreamActivatedJobsRequest(type=PUSHED_TYPE, worker="stream-test", timeout=30_000)
            )
            pushed = asyncio.ensure_future(stream.read())
            await asyncio.sleep(1.0)  # the stream is registered before the job exists
            assert await poll(process_engine.grpc_address, 500, PUSHED_TYPE) == []  # the next one is held
            read_up_to = EmbeddedEngineClient(process_engine.control_url).refresh().next_index
            held = asyncio.ensure_future(poll(process_engine.grpc_address, 3_000, PUSHED_TYPE))
            await asyncio.sleep(0.5)
            create = gateway_pb2.CreateProcessInstanceRequest(bpmnProcessId="push-probe", version=-1)
            await stub.CreateProcessInstance(create)
            job = await asyncio.wait_for(pushed, PUSH_DEADLINE_S)
            await stub.CompleteJob(gateway_pb2.CompleteJobRequest(jobKey=job.key, variables="{}"))
            stream.cancel()
            return await asyncio.wait_for(held, 30), read_up_to

    polled, read_up_to = asyncio.run(push_one_job_while_a_poll_is_held())

    assert polled == []
    assert activations_since(process_engine.control_url, read_up_to, PUSHED_TYPE) == []


RESOLVED_TYPE = "resolve-probe"
RESOLVED_PROCESS = bench_process(1, job_type=RESOLVED_TYPE, pid="resolve-probe")


@pytest.mark.parametrize("stopped_by", ["no retries left", "an error nothing caught"])
def test_a_held_poll_answers_with_a_job_whose_incident_was_resolved(process_engine, stopped_by):
    # Resolving the incident writes no job event; the launcher once held such a poll until
    # some later job event of the type, and with no stream open the job waited for good.
    # A job whose error was thrown is forgotten by the launcher (most such errors are
    # caught, and end the job): resolving its incident wakes every type's held polls.
    process_engine.client.deploy_resources([("resolve-probe.bpmn", RESOLVED_PROCESS)])
    instance = process_engine.client.create_process_instance("resolve-probe")
    instance_key = instance["processInstanceKey"]

    async def fail_retry_and_resolve() -> list:
        address = process_engine.grpc_address
        async with grpc.aio.insecure_channel(address) as channel:
            stub = GatewayStub(channel)
            (job,) = await poll(address, 10_000, RESOLVED_TYPE)
            if stopped_by == "no retries left":
                failed = gateway_pb2.FailJobRequest(jobKey=job.key, retries=0, errorMessage="probe")
                await stub.FailJob(failed)
                incident_key = await wait_for_incident(instance_key)
                await stub.UpdateJobRetries(gateway_pb2.UpdateJobRetriesRequest(jobKey=job.key, retries=1))
            else:
                await stub.ThrowError(gateway_pb2.ThrowErrorRequest(jobKey=job.key, errorCode="not-caught"))
                incident_key = await wait_for_incident(instance_key)
            assert await poll(address, 500, RESOLVED_TYPE) == []  # the incident is still open
            held = asyncio.ensure_future(poll(address, 20_000, RESOLVED_TYPE))
            await asyncio.sleep(0.5)
            await stub.ResolveIncident(gateway_pb2.ResolveIncidentRequest(incidentKey=int(incident_key)))
            return await asyncio.wait_for(held, 30)

    async def wait_for_incident(key) -> str:
        for _ in range(100):
            found = process_engine.client.search_incidents(processInstanceKey=key, state="ACTIVE")
            if found:
                return found[0]["incidentKey"]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no incident for instance {key}")

    jobs = asyncio.run(fail_retry_and_resolve())

    assert [job.type for job in jobs] == [RESOLVED_TYPE]
    process_engine.client.cancel_process_instance(instance_key)
