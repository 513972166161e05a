"""Jobs the engine never offered again after their retry backoff (webapp/stalled_jobs.py).

The rule that finds them is checked on job records as the engines report them; the repair,
a modification that enters the task again, on the engine itself.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from bench.models import bench_process
from tests.engine_helpers import (
    activate_jobs_of_instance,
    cancel_if_running,
    describe_instance,
    wait_for,
    wait_until_completed,
)
from tests.web_helpers import ADMIN, csrf_token
from webapp.stalled_jobs import STALL_GRACE_MS, StalledJobs, due_ms, engine_now_ms

ONE_HOUR_MS = 3_600_000
JOB_TYPE = "test.stalled-job"
PROCESS_ID = "stalled-job-test"


def failed_job(job_key: str = "1", **fields) -> dict:
    """A job as a job search reports it, failed with retries left."""
    return {
        "jobKey": job_key,
        "type": "submission.score-match",
        "state": "FAILED",
        "retries": 4,
        "recurringTime": -1,
        "lastUpdateTime": None,
        "customHeaders": {},
        "elementId": "ScoreMatch",
        "elementInstanceKey": "20",
        "processInstanceKey": "10",
        "errorMessage": "the database was locked",
        **fields,
    }


class JobSearch:
    """Answers a search for failed jobs with the given ones, and names the task of each
    element instance in ``element_ids`` (by its key)."""

    def __init__(self, jobs: list[dict], element_ids: dict[str, str] | None = None):
        self.jobs = jobs
        self.element_ids = element_ids or {}

    def search_jobs(self, **filter_) -> list[dict]:
        assert filter_ == {"state": "FAILED"}
        return self.jobs

    def element_id_of(self, element_instance_key) -> str | None:
        return self.element_ids.get(str(element_instance_key))


def test_a_job_is_due_when_the_engine_says_it_is():
    assert due_ms(failed_job(recurringTime=1_000_000, lastUpdateTime="2026-12-03T07:00:00.000Z")) == 1_000_000


def test_without_a_due_time_the_last_update_and_the_longest_backoff_stand_in():
    updated = "2026-12-03T07:00:00.000Z"
    at_update = due_ms(failed_job(lastUpdateTime=updated, customHeaders={"retryBackoffCapSeconds": "0"}))
    assert due_ms(failed_job(lastUpdateTime=updated)) == at_update  # the pool's default cap: 300 s
    with_cap = failed_job(lastUpdateTime=updated, customHeaders={"retryBackoffCapSeconds": "600"})
    assert due_ms(with_cap) == at_update + 300_000  # a task's longer cap counts
    for odd in ("soon", "inf", "nan"):  # float() reads the last two, as no time at all
        unreadable = failed_job(lastUpdateTime=updated, customHeaders={"retryBackoffCapSeconds": odd})
        assert due_ms(unreadable) == at_update, odd
    assert due_ms(failed_job()) is None  # an engine that says neither


def test_only_jobs_with_retries_left_long_past_their_due_time_are_stalled():
    now = 10_000_000
    jobs = [
        failed_job("1", recurringTime=now - STALL_GRACE_MS - 1),  # stalled
        failed_job("2", recurringTime=now - STALL_GRACE_MS + 1000),  # the engine may still be on it
        failed_job("3", recurringTime=now + 5000),  # still in its backoff
        failed_job("4", recurringTime=now - 10 * STALL_GRACE_MS, retries=0),  # an incident's
        failed_job("5", recurringTime=now - 5 * STALL_GRACE_MS),  # stalled longer
    ]
    stalled = StalledJobs(JobSearch(jobs)).find(now)
    assert [job.job_key for job in stalled] == ["5", "1"]
    assert stalled[1].as_json() == {
        "jobKey": "1",
        "type": "submission.score-match",
        "processInstanceKey": "10",
        "elementId": "ScoreMatch",
        "retries": 4,
        "dueSince": "1970-01-01T02:44:39.999Z",
        "errorMessage": "the database was locked",
    }


def test_a_failed_job_without_its_element_id_is_found_by_its_element_instance(caplog):
    # Camunda 8.9 documents a job search result's elementId as "may be missing on job failure";
    # the stalled job was a KeyError (a 500), and without its task it cannot be entered again.
    now = 10_000_000
    overdue = now - 2 * STALL_GRACE_MS
    left_out = failed_job("2", recurringTime=overdue, elementInstanceKey="21")
    del left_out["elementId"]
    jobs = [failed_job("1", recurringTime=overdue, elementId=None, elementInstanceKey="20"), left_out]
    search = JobSearch(jobs, element_ids={"20": "ScoreMatch"})
    [stalled] = StalledJobs(search).find(now)
    assert (stalled.job_key, stalled.element_id) == ("1", "ScoreMatch")
    assert "job 2 of process instance 10 is overdue, but the engine names no task" in caplog.text


def start_an_instance_whose_job_waits_an_hour(process_engine) -> tuple[str, str]:
    """An instance whose one job failed with an hour's backoff: the instance and the job key."""
    camunda = process_engine.client
    camunda.deploy_resources([(f"{PROCESS_ID}.bpmn", bench_process(1, job_type=JOB_TYPE, pid=PROCESS_ID))])
    instance = str(camunda.create_process_instance(PROCESS_ID)["processInstanceKey"])
    [job] = asyncio.run(activate(process_engine.grpc_address, instance))
    camunda.fail_job(job.key, retries=2, error_message="the provider is down", retry_back_off_ms=ONE_HOUR_MS)
    return instance, str(job.key)


async def activate(address: str, instance: str, complete: bool = False) -> list:
    """The instance's job of JOB_TYPE, activated (and completed, if asked)."""
    adapter, ours = await activate_jobs_of_instance(
        address, JOB_TYPE, instance, worker="stalled-jobs-test", timeout_ms=60_000
    )
    if complete:
        for job in ours:
            await adapter.complete_job(job_key=job.key, variables={})
    return ours


@pytest.mark.engine
def test_a_stalled_job_is_entered_again_and_its_instance_finishes(process_engine):
    camunda = process_engine.client
    instance, job_key = start_an_instance_whose_job_waits_an_hour(process_engine)
    watchdog = StalledJobs(camunda)
    now = engine_now_ms(camunda)
    assert job_key not in [job.job_key for job in watchdog.find(now)]  # in its backoff

    # An hour and the grace later, the engine has not offered it again (it cannot, on this
    # clock): the job counts as stalled, and the task is entered afresh.
    later = now + ONE_HOUR_MS + STALL_GRACE_MS + 1000
    stalled = watchdog.restart_one(job_key, now_ms=later)

    assert stalled is not None and stalled.element_id == "Task1" and stalled.retries == 2
    assert camunda.search_jobs(jobKey=job_key)[0]["state"] == "CANCELED"
    done = wait_for(
        lambda: asyncio.run(activate(process_engine.grpc_address, instance, complete=True)),
        what="a new job for the task entered again",
        seen=lambda: describe_instance(camunda, instance),
    )
    assert str(done[0].key) != job_key
    wait_until_completed(camunda, instance)
    assert job_key not in [job.job_key for job in watchdog.find(later)]


@pytest.mark.engine
def test_the_operator_lists_stalled_jobs_and_restarts_one(web, process_engine, monkeypatch):
    camunda = process_engine.client
    instance, job_key = start_an_instance_whose_job_waits_an_hour(process_engine)
    # As if the hour had passed: the job counts as stalled from now on.
    watchdog = web.application.extensions["stalled_jobs"]
    monkeypatch.setattr(watchdog, "grace_ms", -(ONE_HOUR_MS + 60_000))
    try:
        listed = web.get("/api/admin/stalled-jobs", headers=ADMIN)
        assert listed.status_code == 200, listed.json
        [ours] = [job for job in listed.json["jobs"] if job["jobKey"] == job_key]
        assert ours["processInstanceKey"] == instance and ours["elementId"] == "Task1"
        assert ours["errorMessage"] == "the provider is down"

        assert web.post(f"/api/admin/stalled-jobs/{job_key}/restart").status_code == 401
        assert web.post("/api/admin/stalled-jobs/12x/restart", headers=ADMIN).status_code == 400
        restarted = web.post(f"/api/admin/stalled-jobs/{job_key}/restart", headers=ADMIN)
        assert restarted.status_code == 200, restarted.json
        assert restarted.json["restarted"] == [job_key]
        again = web.post(f"/api/admin/stalled-jobs/{job_key}/restart", headers=ADMIN)
        assert again.status_code == 404  # no longer stalled: safe to ask twice

        assert (
            web.post("/api/admin/stalled-jobs/restart", json={"limit": 0}, headers=ADMIN).status_code == 400
        )
    finally:
        cancel_if_running(camunda, instance)


@pytest.mark.engine
def test_the_tasks_page_shows_a_stalled_job_and_restarts_it(web, process_engine, monkeypatch):
    if not web.application.config.get("ENGINE_CONTROL_URL"):
        pytest.skip("the Tasks page is the embedded engine's; a cluster has Operate")
    camunda = process_engine.client
    instance, job_key = start_an_instance_whose_job_waits_an_hour(process_engine)
    monkeypatch.setattr(web.application.extensions["stalled_jobs"], "grace_ms", -(ONE_HOUR_MS + 60_000))
    try:
        page = web.get(f"/tasks?instance={instance}").text
        assert 'data-testid="stalled-jobs"' in page and job_key in page and "the provider is down" in page
        [restart] = re.findall(r'<form method="post" action="([^"]+/stalled-jobs/[0-9]+/restart)">', page)
        done = web.post(restart, data={"csrf_token": csrf_token(page)})
        assert done.status_code == 303
        assert f"restarted={job_key}" in done.headers["Location"]
        assert camunda.search_jobs(jobKey=job_key)[0]["state"] == "CANCELED"
        again = web.post(restart, data={"csrf_token": csrf_token(page)})
        assert again.status_code == 404
    finally:
        cancel_if_running(camunda, instance)
