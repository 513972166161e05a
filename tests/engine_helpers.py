"""Helpers for tests that run processes on the real engine.

Every wait polls the REST v2 API until a condition holds, and on timeout fails with
what it last saw, so a failing process test says where the instance got stuck.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import grpc
from pyzeebe import Job, ZeebeWorker, create_insecure_channel
from pyzeebe.grpc_internals.zeebe_adapter import ZeebeAdapter
from pyzeebe.proto.gateway_pb2 import SetVariablesRequest
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from hireflow.camunda_rest import CamundaApiError, CamundaRestClient

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 60.0


class WaitTimeout(AssertionError):
    """A condition on the engine did not hold in time."""


def unique_key(prefix: str) -> str:
    """A business key no other test uses, so tests never see each other's instances."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def advance_engine_clock_past(camunda: CamundaRestClient, moment: str, margin_ms: int = 60_000) -> None:
    """Move the engine's clock just past ``moment`` (ISO 8601), if it is not there yet
    (other tests may have moved it further already)."""
    target_ms = int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000) + margin_ms
    now_ms = camunda.clock_now_ms()
    if target_ms > now_ms:
        camunda.advance_clock(target_ms - now_ms)


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    seen: Callable[[], Any],
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = 0.25,
) -> T:
    """Call ``probe`` until it returns something truthy; on timeout report ``seen()``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except CamundaApiError as exc:
            # Not exported yet: the search side trails the engine a little.
            if exc.status != 404:
                raise
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimeout(f"Timed out after {timeout:.0f} s waiting for {what}. Last seen: {seen()}")
        time.sleep(interval)


def describe_instance(camunda: CamundaRestClient, instance_key: str) -> dict[str, Any]:
    """The instance's state, its active elements and its open incidents."""
    try:
        state = camunda.get_process_instance(instance_key).get("state")
    except CamundaApiError as exc:
        state = f"unknown ({exc.status})"
    active = camunda.search_element_instances(processInstanceKey=instance_key, state="ACTIVE")
    incidents = camunda.search_incidents(processInstanceKey=instance_key, state="ACTIVE")
    return {
        "state": state,
        "active_elements": [e.get("elementId") for e in active],
        "incidents": [f"{i.get('errorType')}: {i.get('errorMessage')}" for i in incidents],
    }


def process_variable(camunda: CamundaRestClient, instance_key: str, name: str) -> Any:
    """The instance's variable ``name`` (any scope), decoded from JSON, once it exists."""
    found = wait_for(
        lambda: [v for v in camunda.search_variables(processInstanceKey=instance_key) if v["name"] == name],
        what=f"variable {name} of instance {instance_key}",
        seen=lambda: describe_instance(camunda, instance_key),
    )
    return json.loads(found[-1]["value"])


def wait_until_completed(
    camunda: CamundaRestClient, instance_key: str, timeout: float = DEFAULT_TIMEOUT_S
) -> dict[str, Any]:
    """Wait until the process instance has completed."""
    return wait_for(
        lambda: (i := camunda.get_process_instance(instance_key)).get("state") == "COMPLETED" and i,
        what=f"process instance {instance_key} to complete",
        seen=lambda: describe_instance(camunda, instance_key),
        timeout=timeout,
    )


def wait_until_element(
    camunda: CamundaRestClient,
    instance_key: str,
    element_id: str,
    *,
    state: str = "ACTIVE",
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Wait until ``element_id`` of the instance is in ``state`` (ACTIVE or COMPLETED)."""
    found = wait_for(
        lambda: camunda.search_element_instances(
            processInstanceKey=instance_key, elementId=element_id, state=state
        ),
        what=f"element '{element_id}' of instance {instance_key} to be {state}",
        seen=lambda: describe_instance(camunda, instance_key),
        timeout=timeout,
    )
    return found[0]


def wait_for_user_task(
    camunda: CamundaRestClient, instance_key: str, element_id: str, timeout: float = DEFAULT_TIMEOUT_S
) -> dict[str, Any]:
    """Wait until the instance has an open user task at ``element_id``, and return it."""
    found = wait_for(
        lambda: camunda.search_user_tasks(
            processInstanceKey=instance_key, elementId=element_id, state="CREATED"
        ),
        what=f"user task '{element_id}' of instance {instance_key}",
        seen=lambda: describe_instance(camunda, instance_key),
        timeout=timeout,
    )
    return found[0]


def cancel_if_running(camunda: CamundaRestClient, instance_key: str) -> None:
    """Cancel an instance a test leaves behind, unless it ended meanwhile (the engine's 404)."""
    try:
        camunda.cancel_process_instance(instance_key)
    except CamundaApiError as exc:
        if exc.status != 404:
            raise


def set_instance_variables(grpc_address: str, instance_key: str, variables: dict[str, Any]) -> None:
    """Set variables on the instance's own scope, as Operate's Variables panel does (gRPC
    SetVariables: the same call on the embedded engine and a cluster)."""
    with grpc.insecure_channel(grpc_address) as channel:
        request = SetVariablesRequest(
            elementInstanceKey=int(instance_key), variables=json.dumps(variables), local=False
        )
        GatewayStub(channel).SetVariables(request, timeout=DEFAULT_TIMEOUT_S)


def wait_for_incident(
    camunda: CamundaRestClient, instance_key: str, timeout: float = DEFAULT_TIMEOUT_S
) -> dict[str, Any]:
    """Wait until the instance has an active incident, and return it."""
    found = wait_for(
        lambda: camunda.search_incidents(processInstanceKey=instance_key, state="ACTIVE"),
        what=f"an incident on instance {instance_key}",
        seen=lambda: describe_instance(camunda, instance_key),
        timeout=timeout,
    )
    return found[0]


@contextmanager
def running_pyzeebe_worker(
    make_worker: Callable[[], ZeebeWorker], max_threads: int = 8
) -> Iterator[ZeebeWorker]:
    """Run the worker ``make_worker()`` builds in a background thread with its own event loop.

    The worker (and so its channel) is built inside that loop, as pyzeebe requires, and
    its synchronous task functions run in a pool of ``max_threads`` threads.
    """
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_threads, thread_name_prefix="test-worker-task"))
    ready = threading.Event()
    holder: dict[str, ZeebeWorker] = {}

    async def work() -> None:
        holder["worker"] = make_worker()
        ready.set()
        await holder["worker"].work()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(work(),), daemon=True, name="test-zeebe-worker"
    )
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("The test worker did not start")
    try:
        yield holder["worker"]
    finally:
        asyncio.run_coroutine_threadsafe(holder["worker"].stop(), loop).result(30)
        thread.join(30)
        loop.close()


def running_worker(grpc_address: str, handlers: dict[str, Callable[..., Any]]):
    """Run a pyzeebe worker for ``handlers`` (job type -> function) in a background thread."""

    def make_worker() -> ZeebeWorker:
        worker = ZeebeWorker(create_insecure_channel(grpc_address=grpc_address), poll_retry_delay=0)
        for job_type, handler in handlers.items():
            worker.task(task_type=job_type)(handler)
        return worker

    return running_pyzeebe_worker(make_worker)


async def activate_jobs_of_instance(
    address: str, job_type: str, instance_key: str | int, *, worker: str, timeout_ms: int
) -> tuple[ZeebeAdapter, list[Job]]:
    """Activate the instance's jobs of ``job_type`` through pyzeebe's adapter, as a worker
    does; jobs of other instances (another test's) are handed back as they were. Returns the
    adapter too, to complete or fail the jobs with."""
    adapter = ZeebeAdapter(create_insecure_channel(grpc_address=address))
    activated = adapter.activate_jobs(
        task_type=job_type,
        worker=worker,
        timeout=timeout_ms,
        max_jobs_to_activate=32,
        variables_to_fetch=[],
        request_timeout=5_000,
    )
    jobs = [job async for job in activated]
    ours = [job for job in jobs if str(job.process_instance_key) == str(instance_key)]
    for other in jobs:
        if other not in ours:
            await adapter.fail_job(
                job_key=other.key,
                retries=other.retries,
                message="not ours",
                retry_back_off_ms=0,
                variables={},
            )
    return adapter, ours
