"""The official Camunda REST Python client's job worker, as its README writes one.

``python -m bench.peers.orchestration_sdk`` with ``CAMUNDA_REST_ADDRESS`` (…/v2) and
``CAMUNDA_AUTH_STRATEGY`` in the environment. It talks to REST v2: the cluster's, or the
embedded engine's control port, which takes REST v2's job calls.
"""

import asyncio

from camunda_orchestration_sdk import CamundaAsyncClient, ConnectedJobContext, WorkerConfig

from bench.models import JOB_TYPE


async def do_nothing(job: ConnectedJobContext) -> dict[str, object]:
    return {}


async def work() -> None:
    async with CamundaAsyncClient() as client:
        client.create_job_worker(
            config=WorkerConfig(job_type=JOB_TYPE, job_timeout_milliseconds=30_000), callback=do_nothing
        )
        await client.run_workers()


if __name__ == "__main__":
    asyncio.run(work())
