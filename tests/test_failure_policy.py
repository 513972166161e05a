"""The failure policy's decisions, checked on pyzeebe's own Job and JobController.

Only the gRPC adapter underneath is replaced, by one that records the calls that would
go to Zeebe. Retries and backoff as the engine sees them are checked in the process
tests; the last test here checks, on the engine, that a wait keeps the job's retries.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest
from prometheus_client import REGISTRY
from pyzeebe import Job, JobController, create_insecure_channel
from pyzeebe.grpc_internals.zeebe_adapter import ZeebeAdapter
from sqlalchemy.exc import DataError

from bench.models import JOB_TYPE, bench_resources, process_id
from hireflow.adapters.email import EmailRejected
from hireflow.adapters.file_store import LocalFileStore
from hireflow.adapters.payments import PaymentDeclined, PaymentGatewayUnavailable
from hireflow.errors import RetryLater
from hireflow.resume_intake import InvalidResume
from hireflow.store import Database
from job_workers.failure_policy import FailurePolicy
from job_workers.metrics import PoolMetrics
from job_workers.services import Services
from job_workers.upload import ResumeUploadTasks
from tests.engine_helpers import describe_instance, wait_for
from tests.jobs import RecordingZeebeAdapter
from tests.postgres import fresh_database


def make_job(retries: int, headers: dict | None = None, variables: dict | None = None) -> Job:
    return Job(
        key=11,
        type="unlock.charge-card",
        process_instance_key=22,
        bpmn_process_id="resume-unlock",
        process_definition_version=1,
        process_definition_key=33,
        element_id="charge-card",
        element_instance_key=44,
        custom_headers=headers or {},
        worker="test",
        retries=retries,
        deadline=0,
        variables=variables if variables is not None else {"unlock_id": "u-42"},
    )


def apply(exc: Exception, job: Job, seed: int = 1) -> tuple[str, dict]:
    adapter = RecordingZeebeAdapter()
    asyncio.run(FailurePolicy(rng=random.Random(seed))(exc, job, JobController(job, adapter)))
    [call] = adapter.calls
    return call


def test_a_technical_error_fails_with_jittered_backoff_that_grows_as_retries_shrink():
    ceilings = []
    for retries in (5, 4, 3, 2):
        name, call = apply(PaymentGatewayUnavailable("gateway down"), make_job(retries), seed=retries)
        assert name == "fail_job"
        assert call["retries"] == retries - 1
        ceiling = 5000 * 2 ** (5 - retries)
        assert 0 <= call["retry_back_off_ms"] <= ceiling
        left = {5: "4 retries", 4: "3 retries", 3: "2 retries", 2: "1 retry"}[retries]
        assert f"for unlock u-42 ({left} left): gateway down" in call["message"]
        ceilings.append(ceiling)
    assert ceilings == [5000, 10000, 20000, 40000]


def test_the_last_try_raises_an_incident_with_a_message_for_the_operator():
    name, call = apply(PaymentGatewayUnavailable("HTTP 503: maintenance"), make_job(1))
    assert (name, call["retries"], call["retry_back_off_ms"]) == ("fail_job", 0, 0)
    assert call["message"] == (
        "Payment gateway unreachable after 5 tries, at charge-card (unlock.charge-card, job 11) "
        "for unlock u-42. Check the payment gateway (status page, API key, network), then retry "
        "the incident. Detail: HTTP 503: maintenance"
    )


def test_a_known_outage_logs_one_line_per_retry_and_a_possible_bug_its_traceback(caplog):
    caplog.set_level("WARNING", logger="job_workers.failure_policy")
    apply(PaymentGatewayUnavailable("HTTP 503: maintenance"), make_job(4))
    apply(KeyError("unlock_price"), make_job(4))
    outage, bug = caplog.records
    assert "HTTP 503: maintenance" in outage.getMessage() and outage.exc_info is None
    assert bug.exc_info is not None and bug.exc_info[0] is KeyError
    caplog.clear()
    apply(PaymentGatewayUnavailable("HTTP 503: maintenance"), make_job(1))  # the incident keeps it
    [incident] = caplog.records
    assert incident.levelname == "ERROR" and incident.exc_info is not None


def test_task_headers_tune_the_base_and_the_cap():
    headers = {"retryBackoffBaseSeconds": "1", "retryBackoffCapSeconds": "3", "retryAttempts": "10"}
    delays = [
        apply(RuntimeError("x"), make_job(r, headers), seed=s)[1]["retry_back_off_ms"]
        for r in (2, 3)
        for s in range(20)
    ]
    assert max(delays) <= 3000
    assert max(delays) > 1000, "with a 3 s cap and late attempts, some delays exceed the 1 s base"


@pytest.mark.parametrize("bad", ["-1", "zero", "0", "nan", "inf", "1e999"])
@pytest.mark.parametrize("header", ["retryBackoffBaseSeconds", "retryBackoffCapSeconds", "retryAttempts"])
def test_a_bad_header_falls_back_to_the_default(header, bad):
    # "nan" and "inf" are numbers to float(): the failure policy itself failed on them (no
    # delay can be computed), and the job was neither retried nor raised as an incident.
    _, call = apply(RuntimeError("x"), make_job(5, {header: bad}))
    assert 0 <= call["retry_back_off_ms"] <= 300_000


def test_a_business_outcome_throws_its_bpmn_error_with_small_variables():
    name, call = apply(PaymentDeclined("Your card was declined.", "generic_decline", "pi_1"), make_job(5))
    assert name == "throw_error"
    assert call["error_code"] == "PAYMENT_DECLINED"
    assert call["variables"] == {"decline_code": "generic_decline"}


def test_an_invalid_resume_throws_resume_invalid_with_the_reason():
    name, call = apply(InvalidResume("corrupt", "The PDF is incomplete."), make_job(5))
    assert (name, call["error_code"]) == ("throw_error", "RESUME_INVALID")
    assert call["variables"]["rejection_reason"] == "corrupt"


def test_a_business_outcomes_diagnostic_reaches_operate_but_not_the_variables():
    outcome = InvalidResume("corrupt", diagnostic="PdfReadError: startxref not found")
    name, call = apply(outcome, make_job(5))
    assert call["message"] == "The file is damaged and cannot be read. [PdfReadError: startxref not found]"
    assert "PdfReadError" not in repr(call["variables"])


def test_a_permanent_failure_ends_the_retries_at_once():
    name, call = apply(EmailRejected("SendGrid refused it with 401"), make_job(5))
    assert (name, call["retries"]) == ("fail_job", 0)
    assert call["message"].startswith("Mail provider refused the email, at charge-card (unlock.charge-card")
    assert "for unlock u-42. Check the recipient address" in call["message"]


def test_a_value_the_database_cannot_store_is_bad_data_not_an_outage(postgres_server, tmp_path):
    # PostgreSQL refuses a NUL in text (an admin start can give one): the sqlalchemy DataError
    # was retried five times as "hireflow database unavailable. Check the database".
    db = Database(fresh_database(postgres_server))
    db.create_schema()
    tasks = ResumeUploadTasks(Services(files=LocalFileStore(tmp_path / "files"), db=db))
    with pytest.raises(DataError) as refused:
        tasks.index_candidate("res_1", "cand-1", ["python"], 3, candidate_name="Ada\x00Lovelace")
    name, call = apply(refused.value, make_job(5))
    assert (name, call["retries"]) == ("fail_job", 0)
    assert call["message"].startswith("Cannot succeed with this data, at charge-card")
    assert call["message"].endswith(
        "Detail: the database cannot store a value of this job's variables (PostgreSQL text fields"
        " cannot contain NUL (0x00) bytes); set the variable right on the instance"
    )


def test_a_wait_that_ends_by_itself_keeps_the_jobs_retries():
    # e.g. a provider's records that lag behind: waiting is not failing.
    name, call = apply(RetryLater("SendGrid's activity lags behind", after_seconds=240), make_job(2))
    assert (name, call["retries"], call["retry_back_off_ms"]) == ("fail_job", 2, 240_000)
    assert "waits for unlock u-42: SendGrid's activity lags behind" in call["message"]


@pytest.mark.parametrize(
    ("exc", "retries", "outcome"),
    [
        (PaymentGatewayUnavailable("503"), 3, "failed"),
        (PaymentGatewayUnavailable("503"), 1, "incident"),
        (EmailRejected("401"), 3, "incident"),
        (PaymentDeclined("declined", "card_declined", "pi_1"), 3, "bpmn_error"),
        # A wait was counted as completed: it inflated throughput and hid the waits.
        (RetryLater("SendGrid's activity lags behind", after_seconds=60), 3, "waiting"),
    ],
)
def test_the_pools_metrics_count_each_job_by_what_the_policy_decided(exc, retries, outcome):
    job = replace(make_job(retries), type=f"metrics-test.{outcome}.{retries}.{type(exc).__name__}")
    metrics = PoolMetrics()

    async def run_job() -> None:
        await metrics.before(job)
        await FailurePolicy(metrics)(exc, job, JobController(job, RecordingZeebeAdapter()))
        await metrics.after(job)

    asyncio.run(run_job())
    counted = {
        name: REGISTRY.get_sample_value(
            "hireflow_jobs_finished_total", {"job_type": job.type, "outcome": name}
        )
        for name in ("completed", "failed", "incident", "bpmn_error", "waiting")
    }
    assert {name: value for name, value in counted.items() if value} == {outcome: 1.0}


async def wait_once_on_the_engine(address: str) -> int:
    """Activate one bench job and apply RetryLater to it through pyzeebe's real adapter."""
    adapter = ZeebeAdapter(create_insecure_channel(grpc_address=address))
    jobs = adapter.activate_jobs(
        task_type=JOB_TYPE,
        worker="wait-test",
        timeout=30_000,
        max_jobs_to_activate=1,
        variables_to_fetch=[],
        request_timeout=5_000,
    )
    job = await anext(jobs)
    await FailurePolicy()(
        RetryLater("looking again later", after_seconds=60), job, JobController(job, adapter)
    )
    return job.key


@pytest.mark.engine
def test_on_the_engine_a_wait_keeps_the_retries_and_comes_back_after_its_backoff(process_engine):
    camunda = process_engine.client
    camunda.deploy_resources(bench_resources((1,)))
    instance = camunda.create_process_instance(process_id(1))["processInstanceKey"]
    job_key = asyncio.run(wait_once_on_the_engine(process_engine.grpc_address))

    [waiting] = wait_for(
        lambda: camunda.search_jobs(jobKey=str(job_key), state="FAILED"),
        what="the job to wait out its backoff",
        seen=lambda: describe_instance(camunda, instance),
    )
    assert waiting["retries"] == 3  # as the model sets them: waiting used none
    assert not camunda.search_incidents(processInstanceKey=instance)
    camunda.advance_clock(61_000)
    assert wait_for(
        lambda: [j for j in camunda.search_jobs(jobKey=str(job_key)) if j["state"] != "FAILED"],
        what="the job to be offered again after its backoff",
        seen=lambda: camunda.search_jobs(jobKey=str(job_key)),
    )
