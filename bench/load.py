"""Load on the engine through its gRPC gateway: instances created and awaited to their end.

Each instance is created with ``CreateProcessInstanceWithResult``, so the time an
answer takes is the instance's life from creation to completion, as the client sees
it; for a process with one service task that contains the job's whole life (created,
pushed or polled, done, completed) plus the engine's own steps around it.

- ``closed_loop``: ``concurrency`` callers, each starting the next instance as soon as
  its last one ended. Its rate is the most the engine and the workers sustain.
- ``open_loop``: instances started at a fixed rate whatever happens, so latency is
  measured at a chosen load without the coordinated omission of a closed loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import grpc
from pyzeebe.proto import gateway_pb2
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

RESULT_TIMEOUT_MS = 30_000


@dataclass
class LoadResult:
    completed: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=1000, method="inclusive")[int(p * 10) - 1]


async def _one(stub: GatewayStub, process_id: str, result: LoadResult, record: bool) -> None:
    request = gateway_pb2.CreateProcessInstanceWithResultRequest(
        request=gateway_pb2.CreateProcessInstanceRequest(
            bpmnProcessId=process_id, version=-1, variables="{}"
        ),
        requestTimeout=RESULT_TIMEOUT_MS,
    )
    began = time.perf_counter()
    try:
        await stub.CreateProcessInstanceWithResult(request, timeout=RESULT_TIMEOUT_MS / 1000 + 5)
    except grpc.aio.AioRpcError as exc:
        result.failed += 1
        result.errors[exc.code().name] = result.errors.get(exc.code().name, 0) + 1
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            await asyncio.sleep(0.05)  # backpressure: the engine asks callers to slow down
        return
    if record:
        result.completed += 1
        result.latencies_ms.append((time.perf_counter() - began) * 1000)


async def closed_loop(
    address: str, process_id: str, *, concurrency: int, warmup_s: float, seconds: float
) -> LoadResult:
    """The sustained rate with ``concurrency`` instances always in flight."""
    result = LoadResult()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = GatewayStub(channel)
        measuring = False
        stop_at = time.monotonic() + warmup_s + seconds

        async def caller() -> None:
            while time.monotonic() < stop_at:
                await _one(stub, process_id, result, measuring)

        callers = [asyncio.create_task(caller()) for _ in range(concurrency)]
        await asyncio.sleep(warmup_s)
        measuring = True
        began = time.monotonic()
        await asyncio.gather(*callers)
        result.seconds = time.monotonic() - began
    return result


async def open_loop(address: str, process_id: str, *, rate: float, seconds: float) -> LoadResult:
    """Start ``rate`` instances per second for ``seconds``; every answer's latency is kept."""
    result = LoadResult()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = GatewayStub(channel)
        interval = 1.0 / rate
        began = time.monotonic()
        in_flight = []
        n = 0
        while (due := began + n * interval) < began + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            in_flight.append(asyncio.create_task(_one(stub, process_id, result, True)))
            n += 1
        await asyncio.gather(*in_flight)
        result.seconds = time.monotonic() - began
    return result
