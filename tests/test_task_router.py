"""A job that lacks a variable its task needs is an incident at once, naming the variable.

No ``from __future__ import annotations`` here: pyzeebe passes the Job to a parameter only
when its annotation is the real ``Job`` class.
"""

import asyncio

from pyzeebe import Job, JobController

from hireflow.constants import JobType
from job_workers.metrics import PoolMetrics
from job_workers.task_router import TaskRouter
from job_workers.worker import WorkerSettings, build_worker
from tests.jobs import RecordingZeebeAdapter, make_job
from tests.offline_webapp import empty_services

# The one task that takes only the Job: it reads what it needs from the Job's variables.
TAKES_ONLY_THE_JOB = {JobType.SEND_EMAIL}


def run_job(handler, job: Job) -> list[tuple[str, dict]]:
    """Run one job through ``handler``; what it sent to the engine."""
    adapter = RecordingZeebeAdapter()
    asyncio.run(handler(job, JobController(job, adapter)))
    return adapter.calls


def test_every_task_fails_a_job_without_its_variables_at_once_and_names_them(tmp_path):
    async def product_tasks():
        return build_worker(WorkerSettings(name="test"), empty_services(tmp_path), PoolMetrics()).tasks

    tasks = asyncio.run(product_tasks())
    for task in tasks:
        if task.type in TAKES_ONLY_THE_JOB:
            continue
        [(call, sent)] = run_job(task.job_handler, make_job(task.type))
        # Before: a TypeError inside pyzeebe, retried with backoff as a probable bug.
        assert (call, sent["retries"]) == ("fail_job", 0), (task.type, sent)
        assert sent["message"].startswith("Cannot succeed with this data, at task"), sent["message"]
        assert "the process instance has no variable" in sent["message"], sent["message"]

    validate = next(task for task in tasks if task.type == JobType.VALIDATE_RESUME_FILE)
    [(_, sent)] = run_job(validate.job_handler, make_job(validate.type, variables={"resume_id": "r-1"}))
    assert sent["message"] == (
        "Cannot succeed with this data, at task (resume.validate-file, job 501) for resume r-1. Fix"
        " what the detail says, then retry the incident. Detail: the process instance has no"
        " variable file_ref, which validate_file needs. Set it on the instance, or mend the"
        " model's mappings that should set it before this task"
    )


def test_the_check_keeps_what_pyzeebe_reads_from_the_signature():
    router = TaskRouter()

    def greet(job: Job, name: str, greeting: str = "Hello") -> dict:
        return {"said": f"{greeting}, {name}, at {job.element_id}"}

    assert router.task("greet")(greet) is greet  # registering still hands the function back
    [task] = router.tasks
    assert task.config.variables_to_fetch == ["name", "greeting"]
    assert task.config.job_parameter_name == "job"

    [(call, sent)] = run_job(task.job_handler, make_job("greet", variables={"name": "Ada"}))
    assert (call, sent["variables"]) == ("complete_job", {"said": "Hello, Ada, at task"})
    # A variable given as null is there: whether null will do is the task's to say.
    [(call, sent)] = run_job(task.job_handler, make_job("greet", variables={"name": None}))
    assert (call, sent["variables"]) == ("complete_job", {"said": "Hello, None, at task"})
