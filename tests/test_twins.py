"""A twin instance is cancelled before it works (job_workers/twins.py).

A start the engine wrote down but processed only after restarting, when the webapp had
already started and recorded another instance for the same item, makes an older twin.
Checked on the rule itself, on the start claims the webapp writes, and on the engine
with the product's worker: of three instances for one item, the one older than the
recorded instance is cancelled and its job never runs; the recorded one and a newer one
(started on purpose) complete; and a job of an instance the engine processed while the
webapp's retry of the start was under way waits until the retry records its own
instance, then is cancelled.

No ``from __future__ import annotations`` here: pyzeebe injects the Job only when the
parameter's annotation is the real ``Job`` class.
"""

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from pyzeebe import Job, ZeebeTaskRouter

from bench.models import bench_process
from hireflow.camunda_connection import ConnectionSettings
from hireflow.constants import ITEM_KEY_VARIABLE, ProcessId, Var
from hireflow.store import Database, start_claim_scope
from job_workers.metrics import PoolMetrics
from job_workers.services import Services
from job_workers.twins import PARTITION_SHIFT, ItemStart, RecordedStarts, is_older_twin
from job_workers.worker import ROUTER_BUILDERS, WorkerSettings, build_worker
from tests.engine_helpers import (
    describe_instance,
    running_pyzeebe_worker,
    unique_key,
    wait_for,
    wait_until_completed,
)
from webapp.claims import RequestClaims

TWIN_PROCESS = "twin-test"
TWIN_JOB_TYPE = "test.twin-touch"


def on_partition(partition: int, counter: int) -> int:
    return (partition << PARTITION_SHIFT) + counter


def test_only_an_instance_older_than_the_recorded_one_on_its_partition_is_a_twin():
    recorded = on_partition(1, 500)
    assert is_older_twin(on_partition(1, 499), recorded)
    assert not is_older_twin(recorded, recorded)
    assert not is_older_twin(on_partition(1, 501), recorded)  # started after it, on purpose
    assert not is_older_twin(on_partition(2, 1), recorded)  # other partitions cannot be ordered


def test_every_process_names_its_item_variable():
    processes = {v for k, v in vars(ProcessId).items() if not k.startswith("_")}
    assert set(ITEM_KEY_VARIABLE) == processes
    assert set(ITEM_KEY_VARIABLE.values()) <= {v for k, v in vars(Var).items() if not k.startswith("_")}


def test_every_task_fetches_the_id_the_twin_check_looks_up(tmp_path):
    """A task that fetched neither all variables nor its item's id would pass twins unchecked."""
    services = Services(files=None, db=Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    item_ids = set(ITEM_KEY_VARIABLE.values())
    unchecked = [
        task.type
        for build_router in ROUTER_BUILDERS
        for task in build_router(services).tasks
        if task.config.variables_to_fetch and not item_ids & set(task.config.variables_to_fetch)
    ]
    assert unchecked == []


@pytest.fixture
def store(store_url) -> Database:
    db = Database(store_url)
    db.create_schema()
    return db


def record_start(db: Database, process_id: str, item_id: str, instance_key: str | None) -> None:
    """Claim the start as the webapp does; complete it with ``instance_key`` unless None."""
    claims = RequestClaims(db)
    claim = claims.claim(start_claim_scope(process_id), item_id, {"item_id": item_id})
    if instance_key is not None:
        claims.complete(claim, {"processInstanceKey": instance_key})


def retry_start(db: Database, process_id: str, item_id: str):
    """Take the item's pending start claim over, as the webapp's retry of a lost start does."""
    claims = RequestClaims(db, stale_after=timedelta(0))
    claim = claims.claim(start_claim_scope(process_id), item_id, {"item_id": item_id})
    assert claim.taken_over
    return claims, claim


def test_the_recorded_instance_is_read_from_a_finished_start_claim(store):
    starts = RecordedStarts(store)
    record_start(store, ProcessId.RESUME_UNLOCK, "unl_done", "2251799813685300")
    record_start(store, ProcessId.RESUME_UNLOCK, "unl_pending", None)
    assert starts.start_of(ProcessId.RESUME_UNLOCK, "unl_done") == ItemStart(2251799813685300)
    assert starts.start_of(ProcessId.RESUME_UNLOCK, "unl_pending") == ItemStart()  # first try, unanswered
    assert starts.start_of(ProcessId.RESUME_UNLOCK, "unl_unknown") == ItemStart()
    assert starts.start_of(ProcessId.RESUME_UPLOAD, "unl_done") == ItemStart()  # another process


def test_a_start_being_retried_holds_jobs_up_until_its_retry_is_abandoned(store):
    record_start(store, ProcessId.RESUME_UNLOCK, "unl_retried", None)
    retry_start(store, ProcessId.RESUME_UNLOCK, "unl_retried")
    retrying = ItemStart(being_retried=True)
    assert RecordedStarts(store).start_of(ProcessId.RESUME_UNLOCK, "unl_retried") == retrying
    abandoned = RecordedStarts(store, retried_start_wait=timedelta(0))
    assert abandoned.start_of(ProcessId.RESUME_UNLOCK, "unl_retried") == ItemStart()


def create(camunda, item: str) -> str:
    return camunda.create_process_instance(TWIN_PROCESS, {"item_id": item})["processInstanceKey"]


@pytest.mark.engine
def test_on_the_engine_the_older_twin_is_cancelled_before_its_job_runs(process_engine, store):
    camunda = process_engine.client
    camunda.deploy_resources(
        [(f"{TWIN_PROCESS}.bpmn", bench_process(1, job_type=TWIN_JOB_TYPE, pid=TWIN_PROCESS))]
    )
    # Item 1, in the engine's order: the start the webapp gave up on, the one it recorded,
    # and one an operator started afterwards.
    item = unique_key("item")
    older, recorded, newer = (create(camunda, item) for _ in range(3))
    record_start(store, TWIN_PROCESS, item, recorded)
    # Item 2: the engine processed the lost start while the webapp's retry was under way.
    retried_item = unique_key("item")
    record_start(store, TWIN_PROCESS, retried_item, None)
    claims, retry = retry_start(store, TWIN_PROCESS, retried_item)
    processed_late = create(camunda, retried_item)
    worked: list[int] = []
    twins = {"process_id": TWIN_PROCESS}
    # The registry is the process's: it counts the run on the other database too.
    cancelled_before = REGISTRY.get_sample_value("hireflow_twin_instances_cancelled_total", twins) or 0

    def twin_test_router(services: Services) -> ZeebeTaskRouter:
        router = ZeebeTaskRouter()

        @router.task(TWIN_JOB_TYPE)
        def touch(item_id: str, job: Job) -> dict:
            worked.append(job.process_instance_key)
            return {}

        return router

    settings = WorkerSettings(
        name="twin-test-worker", connection=ConnectionSettings(grpc_address=process_engine.grpc_address)
    )
    services = Services(files=None, db=store)
    items = {TWIN_PROCESS: "item_id"}
    with running_pyzeebe_worker(
        lambda: build_worker(settings, services, PoolMetrics(), (twin_test_router,), item_key_variables=items)
    ):
        wait_until_completed(camunda, recorded)
        wait_until_completed(camunda, newer)
        wait_for(
            lambda: camunda.get_process_instance(older).get("state") == "TERMINATED",
            what=f"the older twin {older} to be cancelled",
            seen=lambda: describe_instance(camunda, older),
        )
        wait_for(
            lambda: any(
                j["hasFailedWithRetriesLeft"] for j in camunda.search_jobs(processInstanceKey=processed_late)
            ),
            what=f"the job of {processed_late} to wait for the retried start",
            seen=lambda: describe_instance(camunda, processed_late),
        )
        assert int(processed_late) not in worked
        retried = create(camunda, retried_item)  # the retry's own start, then recorded
        claims.complete(retry, {"processInstanceKey": retried})
        wait_until_completed(camunda, retried)
        wait_for(
            lambda: camunda.get_process_instance(processed_late).get("state") == "TERMINATED",
            what=f"the twin {processed_late} to be cancelled once the retry recorded {retried}",
            seen=lambda: describe_instance(camunda, processed_late),
        )
    assert sorted(worked) == sorted([int(recorded), int(newer), int(retried)])
    assert REGISTRY.get_sample_value("hireflow_twin_instances_cancelled_total", twins) == cancelled_before + 2
    # The jobs the check answered itself show in the pool's job metrics too.
    finished = "hireflow_jobs_finished_total"
    cancelled = {"job_type": TWIN_JOB_TYPE, "outcome": "twin_cancelled"}
    assert REGISTRY.get_sample_value(finished, cancelled) >= 2  # an instance's job may come twice
    assert REGISTRY.get_sample_value(finished, {"job_type": TWIN_JOB_TYPE, "outcome": "waiting"}) >= 1
