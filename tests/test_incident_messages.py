"""Every incident message the failure policy can raise for resume-unlock (issue 6).

An operator reads these in Operate with no other context. Each must say what failed,
name the unlock, and say what to do. The tasks come from the model, and the causes come
from the one catalogue in ``job_workers.incidents``. Each pair goes through the real
policy, on pyzeebe's own JobController.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest
from pyzeebe import JobController
from sqlalchemy.exc import OperationalError

from hireflow.adapters.calendar import CalendarUnavailable
from hireflow.adapters.email import EmailRejected, EmailTemporarilyUnavailable
from hireflow.adapters.file_store import FileNotFound, FileStoreUnavailable
from hireflow.adapters.payments import PaymentGatewayUnavailable, PaymentRequestRejected
from hireflow.errors import PermanentFailure
from hireflow.model_checks import MODELS_DIR, job_tasks
from hireflow.parser_sandbox import ParserUnavailable
from hireflow.paths import PROJECT_ROOT
from job_workers import incidents
from job_workers.failure_policy import FailurePolicy
from job_workers.interview import NoFreeSlots
from tests.jobs import RecordingZeebeAdapter, make_job

UNLOCK_VARIABLES = {"unlock_id": "unl_42", "candidate_id": "cand_7", "employer_id": "emp_3"}

# One example of every cause the catalogue knows, as the adapters raise them.
EXAMPLES = {
    "Payment gateway unreachable": PaymentGatewayUnavailable(
        "no answer in 4 quick tries with the same idempotency key (last: HTTP 503: maintenance)"
    ),
    "Mail provider unavailable or rate-limiting": EmailTemporarilyUnavailable("SendGrid answered 429"),
    "No common free hour for the interview panel": NoFreeSlots("the panel has no common free hour"),
    "Calendar server unavailable": CalendarUnavailable(
        "CalDAV server failed reading the calendar of ivy (https://dav.example.com/ivy/calendar/): timed out"
    ),
    "hireflow database unavailable": OperationalError("UPDATE credits", {}, Exception("database is locked")),
    "Unexpected error (probably a bug)": KeyError("amount_cents"),
    "Payment gateway refused the request": PaymentRequestRejected("/v1/payment_intents refused with 400"),
    "Mail provider refused the email": EmailRejected("Invalid recipient address 'x' for receipt:unl_42"),
    "File store unavailable": FileStoreUnavailable(
        "S3 bucket 'hireflow-files' failed reading sha256:00: Could not connect to the endpoint URL"
    ),
    "Resume parser gave no answer": ParserUnavailable("the parser gave no answer within 45 s"),
    "Stored file missing": FileNotFound("No file stored as sha256:00"),
    "Cannot succeed with this data": PermanentFailure("Unlock unl_42: price 'amount_cents' must be positive"),
}


def test_the_examples_cover_the_whole_catalogue():
    catalogue = incidents.TECHNICAL_CAUSES + incidents.PERMANENT_CAUSES
    causes = {cause.what for cause in (*catalogue, incidents.UNEXPECTED, incidents.BAD_DATA)}
    assert causes == set(EXAMPLES)
    for what, exc in EXAMPLES.items():
        assert incidents.cause_of(exc).what == what


def raised_incident(task_id: str, job_type: str, exc: Exception) -> str:
    """The message the policy sends when ``exc`` ends the job's last try."""
    # The last try: a technical error becomes an incident now.
    job = replace(make_job(job_type, element_id=task_id, variables=UNLOCK_VARIABLES), retries=1)
    adapter = RecordingZeebeAdapter()
    asyncio.run(FailurePolicy(rng=random.Random(1))(exc, job, JobController(job, adapter)))
    [(call, arguments)] = adapter.calls
    assert (call, arguments["retries"]) == ("fail_job", 0)
    return arguments["message"]


@pytest.mark.parametrize(("task_id", "job_type"), job_tasks(MODELS_DIR / "resume-unlock.bpmn"))
@pytest.mark.parametrize("what", list(EXAMPLES))
def test_every_unlock_incident_names_the_failure_the_unlock_and_the_action(task_id, job_type, what):
    message = raised_incident(task_id, job_type, EXAMPLES[what])

    cause = incidents.cause_of(EXAMPLES[what])
    assert message.startswith(what)
    assert f"at {task_id} ({job_type}, job 501) for unlock unl_42 (candidate cand_7)." in message
    assert f"{cause.action}, then retry the incident." in message
    assert "Detail: " in message and len(message) < 800
    if not isinstance(EXAMPLES[what], PermanentFailure):
        assert message.startswith(f"{what} after 5 tries,")


@pytest.mark.parametrize("what", list(EXAMPLES))
def test_a_message_tells_its_cause_to_those_who_retry_incidents_by_cause(what):
    message = raised_incident("ChargeCard", "payment.charge", EXAMPLES[what])
    assert incidents.cause_named_in(message) == incidents.cause_of(EXAMPLES[what])
    assert incidents.cause_named_in("Expected result of the expression 'price' to be 'NUMBER'") is None


def test_the_gateway_outage_reads_as_an_operator_needs_it():
    message = raised_incident("ChargeCard", "payment.charge", EXAMPLES["Payment gateway unreachable"])
    assert message == (
        "Payment gateway unreachable after 5 tries, at ChargeCard (payment.charge, job 501) for "
        "unlock unl_42 (candidate cand_7). Check the payment gateway (status page, API key, network), "
        "then retry the incident. Detail: no answer in 4 quick tries with the same "
        "idempotency key (last: HTTP 503: maintenance)"
    )


def test_a_long_detail_is_cut_and_the_action_survives():
    job = make_job("payment.charge", element_id="ChargeCard", variables=UNLOCK_VARIABLES)
    message = incidents.incident_message(job, RuntimeError("x" * 5000), tries=5)
    assert len(message) < 800 and message.endswith("…")
    assert "Search the worker log for this job's key" in message


def test_the_operators_table_lists_every_cause_with_its_action():
    """deploy/README.md's *Repairing incidents* table is what an operator reads first."""
    runbook = (PROJECT_ROOT / "deploy" / "README.md").read_text()
    retried = (*incidents.TECHNICAL_CAUSES, incidents.UNEXPECTED)
    for cause in (*retried, *incidents.PERMANENT_CAUSES, incidents.BAD_DATA):
        row = f"| {cause.what} | {'yes' if cause in retried else 'no'} | {cause.action} |"
        assert row in runbook, f"deploy/README.md lacks the row: {row}"
