"""The real engine does what every hireflow process relies on (issue 2, acceptance 1-3)."""

from __future__ import annotations

import pytest

from hireflow.engine import fetch, find_java, start, stop
from tests.engine_helpers import (
    describe_instance,
    running_worker,
    unique_key,
    wait_for,
    wait_for_incident,
    wait_for_user_task,
    wait_until_completed,
    wait_until_element,
)

pytestmark = pytest.mark.engine

ONE_DAY_MS = 24 * 60 * 60 * 1000


def prepare_request(request_id: str) -> dict:
    """Worker for `engine-smoke.prepare`: marks the request as prepared."""
    return {"prepared": True, "preparedFor": request_id}


def start_smoke_instance(camunda, request_id: str) -> str:
    created = camunda.create_process_instance("engine-smoke", {"request_id": request_id})
    return created["processInstanceKey"]


def test_worker_then_user_task_completes_the_instance(engine, camunda, smoke_models):
    request_id = unique_key("smoke")
    with running_worker(engine.grpc_address, {"engine-smoke.prepare": prepare_request}):
        instance = start_smoke_instance(camunda, request_id)
        task = wait_for_user_task(camunda, instance, "review-request")

    deployed_forms = [d["form"] for d in smoke_models["deployments"] if "form" in d]
    assert [f["formId"] for f in deployed_forms] == ["engine-smoke-review"]
    assert str(task["formKey"]) == str(deployed_forms[0]["formKey"])
    assert task["candidateGroups"] == ["recruiters"]
    prepared = {v["name"]: v["value"] for v in camunda.search_variables(processInstanceKey=instance)}
    assert prepared["prepared"] == "true"
    assert prepared["preparedFor"] == f'"{request_id}"'

    camunda.complete_user_task(task["userTaskKey"], {"approved": True})

    wait_until_completed(camunda, instance)
    wait_until_element(camunda, instance, "request-approved", state="COMPLETED")


def test_advancing_the_clock_past_the_timer_takes_the_timer_path(engine, camunda, smoke_models):
    with running_worker(engine.grpc_address, {"engine-smoke.prepare": prepare_request}):
        instance = start_smoke_instance(camunda, unique_key("timer"))
        wait_for_user_task(camunda, instance, "review-request")

    camunda.advance_clock(ONE_DAY_MS + 60_000)

    wait_until_completed(camunda, instance)
    wait_until_element(camunda, instance, "request-escalated", state="COMPLETED")
    assert not camunda.search_element_instances(processInstanceKey=instance, elementId="request-approved")


def test_exhausted_retries_raise_an_incident_that_resolves_after_a_retry(engine, camunda, smoke_models):
    instance = camunda.create_process_instance("engine-fragile", {"call_id": unique_key("fragile")})[
        "processInstanceKey"
    ]
    jobs = wait_for(
        lambda: [
            j
            for j in camunda.activate_jobs("engine-fragile.call", max_jobs=10)
            if j["processInstanceKey"] == instance
        ],
        what=f"the job of instance {instance} to be activated",
        seen=lambda: describe_instance(camunda, instance),
    )
    camunda.fail_job(jobs[0]["jobKey"], retries=0, error_message="Outside service unreachable")

    incident = wait_for_incident(camunda, instance)
    assert incident["errorType"] == "JOB_NO_RETRIES"
    assert "Outside service unreachable" in incident["errorMessage"]

    camunda.update_job_retries(incident["jobKey"], 1)
    camunda.resolve_incident(incident["incidentKey"])
    with running_worker(engine.grpc_address, {"engine-fragile.call": lambda: {"called": True}}):
        wait_until_completed(camunda, instance)
    assert not camunda.search_incidents(processInstanceKey=instance, state="ACTIVE")


def test_an_instance_waiting_at_a_user_task_survives_an_engine_restart(engine, camunda, smoke_models):
    with running_worker(engine.grpc_address, {"engine-smoke.prepare": prepare_request}):
        instance = start_smoke_instance(camunda, unique_key("restart"))
        before = wait_for_user_task(camunda, instance, "review-request")

    stop(engine)
    start(engine, fetch(), find_java())

    after = wait_for_user_task(camunda, instance, "review-request")
    assert after["userTaskKey"] == before["userTaskKey"]
    camunda.complete_user_task(after["userTaskKey"], {"approved": True})
    wait_until_completed(camunda, instance)
