"""Jobs are pushed to a worker's job stream at once, as pyzeebe opens it (no tenant named).

On a cluster the gateway gives such a stream the default tenant. The embedded engine's
launcher does the same; without it the engine pushed nothing and every job waited for
the next poll (then paced at 500 ms: about 2 jobs a second per worker, found by ``make bench``).
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from pyzeebe.proto import gateway_pb2
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from bench.models import JOB_TYPE, bench_resources, process_id

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
