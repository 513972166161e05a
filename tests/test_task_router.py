"""A job without the variables its task needs (absent, or of the wrong kind) is an incident at once.

No ``from __future__ import annotations`` here: pyzeebe passes the Job to a parameter only
when its annotation is the real ``Job`` class.
"""

import asyncio
import re

import pytest
from pydantic import TypeAdapter, ValidationError
from pyzeebe import Job, JobController

from hireflow.constants import JobType
from job_workers.metrics import PoolMetrics
from job_workers.task_router import (
    BUSINESS_ID_FORM,
    EMAIL_FORM,
    PERSON_NAME_FORM,
    SKILL_FORM,
    BusinessId,
    TaskRouter,
    form_of,
    is_of_kind,
    kinds_of,
)
from job_workers.worker import WorkerSettings, build_worker
from tests.jobs import RecordingZeebeAdapter, make_job
from tests.offline_webapp import empty_services
from webapp.schemas import Email, Name, Skill

# The one task that takes only the Job: it reads what it needs from the Job's variables.
TAKES_ONLY_THE_JOB = {JobType.SEND_EMAIL}


def product_tasks(folder) -> list:
    """The tasks of the pool's worker, as ``python -m job_workers`` builds it."""

    async def build():  # pyzeebe makes its gRPC channel on a running event loop
        return build_worker(WorkerSettings(name="test"), empty_services(folder), PoolMetrics()).tasks

    return asyncio.run(build())


def run_job(handler, job: Job) -> list[tuple[str, dict]]:
    """Run one job through ``handler``; what it sent to the engine."""
    adapter = RecordingZeebeAdapter()
    asyncio.run(handler(job, JobController(job, adapter)))
    return adapter.calls


def test_every_task_fails_a_job_without_its_variables_at_once_and_names_them(tmp_path):
    tasks = product_tasks(tmp_path)
    for task in tasks:
        if task.type in TAKES_ONLY_THE_JOB:
            continue
        [(call, sent)] = run_job(task.job_handler, make_job(task.type))
        # Before: a TypeError inside pyzeebe, retried with backoff as a probable bug.
        assert (call, sent["retries"]) == ("fail_job", 0), (task.type, sent)
        assert sent["message"].startswith("Cannot succeed with this data, at task"), sent["message"]
        named = re.search(r"the process instance has no variables? (.+?), which", sent["message"])
        assert named, sent["message"]
        # It names variables the task reads, each missing here: the job has none.
        assert set(named[1].split(", ")) <= set(task.config.variables_to_fetch), sent["message"]

    validate = next(task for task in tasks if task.type == JobType.VALIDATE_RESUME_FILE)
    [(_, sent)] = run_job(validate.job_handler, make_job(validate.type, variables={"resume_id": "r-1"}))
    assert sent["message"] == (
        "Cannot succeed with this data, at task (resume.validate-file, job 501) for resume r-1. Fix"
        " what the detail says, then retry the incident. Detail: the process instance has no"
        " variable file_ref, which validate_file needs. Set it right on the instance, or mend the"
        " model's mappings that should set it before this task"
    )


def test_a_variable_of_the_wrong_kind_is_named_with_the_kind_the_task_needs(tmp_path):
    find_slots = next(task for task in product_tasks(tmp_path) if task.type == JobType.FIND_INTERVIEW_SLOTS)
    variables = {"interview_id": "i-1", "panel": "grace@example.com", "search_from": 20261205}
    [(call, sent)] = run_job(find_slots.job_handler, make_job(find_slots.type, variables=variables))
    # Before: "'str' object has no attribute ...", retried five times as a probable bug.
    assert (call, sent["retries"]) == ("fail_job", 0)
    assert sent["message"].endswith(
        "Detail: the variable panel is text, where find_slots needs a list; the variable"
        " search_from is a number, where find_slots needs text or null. Set them right on the"
        " instance, or mend the model's mappings that should set them before this task"
    )
    assert "grace@example.com" not in sent["message"]  # a kind is named, never the value


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        (str, ["", "x"], [None, 1, [], {}]),
        (int | None, [0, -3, 2.0, None], [True, 2.5, "2", []]),
        (list | None, [[], [1], None], ["x", {}, 1]),
        (dict, [{}, {"a": 1}], [[], "x", None]),
    ],
)
def test_each_json_kind_takes_its_own_values_only(annotation, good, bad):
    kinds = kinds_of(annotation)
    assert all(any(is_of_kind(value, kind) for kind in kinds) for value in good)
    assert not any(any(is_of_kind(value, kind) for kind in kinds) for value in bad)


def test_an_annotation_that_names_no_json_kind_is_not_checked():
    assert kinds_of(Job) == kinds_of(float) == kinds_of(list[str]) == ()


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
    [(call, sent)] = run_job(task.job_handler, make_job("greet", variables={"name": None}))
    assert call == "fail_job"  # pyzeebe's own handler here; the pool's fails it for good
    assert "the variable name is null, where greet needs text" in sent["message"]


@pytest.mark.parametrize(
    ("variables", "detail"),
    [
        # Each was recorded and indexed as it was, or reached an email for "resume ".
        ({"resume_id": "", "candidate_id": "cand-1"}, "the variable resume_id is not a business id"),
        ({"resume_id": "res_1", "candidate_id": " "}, "the variable candidate_id is not a business id"),
        ({"resume_id": "../../etc/passwd", "candidate_id": "c"}, "the variable resume_id is not"),
        ({"resume_id": "res_1", "candidate_id": "x" * 101}, "the variable candidate_id is not"),
    ],
)
def test_a_business_id_that_is_no_id_fails_the_job_at_once(tmp_path, variables, detail):
    index = next(task for task in product_tasks(tmp_path) if task.type == JobType.INDEX_CANDIDATE)
    job = make_job(index.type, variables={**variables, "skills": ["python"], "years_of_experience": 3})
    [(call, sent)] = run_job(index.job_handler, job)
    assert (call, sent["retries"]) == ("fail_job", 0)
    assert detail in sent["message"]
    assert "(1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit)" in sent["message"]
    assert "etc/passwd" not in sent["message"].split("Detail:")[1]  # the form is named, never the value


def test_business_ids_take_what_the_webapp_gives_and_may_be_optional():
    assert kinds_of(BusinessId) == (str,) and kinds_of(BusinessId | None) == (str, type(None))
    assert form_of(BusinessId) is form_of(BusinessId | None) is BUSINESS_ID_FORM
    assert form_of(str) is None and form_of(str | None) is None
    for given in ["res_4c810d9ca84b60c9f14e", "demo-python-engineer", "cand-1", "a.b_c", "7"]:
        assert BUSINESS_ID_FORM.fits(given)
    for odd in ["", " ", "-lead", "a b", "naïve", "nul\x00", "a\n", "x" * 101]:
        assert not BUSINESS_ID_FORM.fits(odd)


@pytest.mark.parametrize(
    ("variables", "detail"),
    [
        # SQLite kept a 3,000-character name in the candidate's profile, where PostgreSQL's 200
        # characters refuse it: the same start completed on one database and failed on the other.
        ({"candidate_name": "A" * 3000}, "the variable candidate_name is not a name (1 to 200 characters"),
        ({"candidate_name": "Ada\x00"}, "the variable candidate_name is not a name"),
        ({"candidate_name": ""}, "the variable candidate_name is not a name"),
        ({"candidate_email": "a" * 300 + "@example.com"}, "the variable candidate_email is not an email"),
        ({"candidate_email": "Ada <ada@example.com>"}, "the variable candidate_email is not an email"),
    ],
)
def test_a_name_or_email_the_store_would_refuse_fails_the_job_at_once(tmp_path, variables, detail):
    index = next(task for task in product_tasks(tmp_path) if task.type == JobType.INDEX_CANDIDATE)
    given = {"resume_id": "res_1", "candidate_id": "cand-1", "skills": ["python"], "years_of_experience": 3}
    [(call, sent)] = run_job(index.job_handler, make_job(index.type, variables={**given, **variables}))
    assert (call, sent["retries"]) == ("fail_job", 0)
    assert detail in sent["message"]


NAMES = [
    "Ada Lovelace",
    "Zoë O'Brien-Łukasiewicz",
    "李雷",
    "A" * 200,
    "A" * 201,
    "",
    "Ada\nLovelace",
    "Ada\x00",
]
EMAILS = ["ada@example.com", "a.b+c@mail.example.co.uk", "a" * 64 + "@example.com", "a" * 65 + "@example.com"]
EMAILS += ["x@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 63 + ".com", "ada@localhost", ""]
EMAILS += ["x@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 63 + "." + "g" * 63 + ".com"]  # 261 characters
SKILLS = ["python", "C++", "machine learning", "x" * 50, "x" * 51, "", "a\tb"]


@pytest.mark.parametrize(
    ("form", "webapp_type", "samples"),
    [(PERSON_NAME_FORM, Name, NAMES), (EMAIL_FORM, Email, EMAILS), (SKILL_FORM, Skill, SKILLS)],
)
def test_workers_take_the_names_emails_and_skills_the_webapp_takes(form, webapp_type, samples):
    checked = TypeAdapter(webapp_type)
    for sample in samples:
        try:
            checked.validate_python(sample)
        except ValidationError:
            assert not form.fits(sample), sample
        else:
            assert form.fits(sample), sample
