"""A pyzeebe worker as its README writes one: defaults throughout (polling, no tuning).

``python -m bench.peers.pyzeebe_default GRPC_ADDRESS``
"""

import asyncio
import sys

from pyzeebe import ZeebeWorker, create_insecure_channel

from bench.models import JOB_TYPE


async def work(address: str) -> None:
    worker = ZeebeWorker(create_insecure_channel(grpc_address=address))

    @worker.task(task_type=JOB_TYPE)
    async def do_nothing() -> dict:
        return {}

    await worker.work()


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1]))
