"""A job whose variables Python cannot read, on the engine with the product's worker."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from hireflow.constants import Header, JobType
from tests.engine_helpers import unique_key, wait_for, wait_for_incident, wait_until_completed

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

PROCESS_ID = "unreadable-variables-probe"
# One send-email task: its worker reads every variable of the instance.
PROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_probe"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{PROCESS_ID}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>ToMail</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="Mail">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{JobType.SEND_EMAIL}" />
        <zeebe:taskHeaders>
          <zeebe:header key="{Header.EMAIL_TEMPLATE}" value="resume-received" />
          <zeebe:header key="{Header.EMAIL_RECIPIENT_VARIABLE}" value="candidate_email" />
          <zeebe:header key="{Header.EMAIL_BUSINESS_ID_VARIABLE}" value="resume_id" />
        </zeebe:taskHeaders>
      </bpmn:extensionElements>
      <bpmn:incoming>ToMail</bpmn:incoming><bpmn:outgoing>ToEnd</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End"><bpmn:incoming>ToEnd</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="ToMail" sourceRef="Start" targetRef="Mail" />
    <bpmn:sequenceFlow id="ToEnd" sourceRef="Mail" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>
"""


def start_with(client, extra_variable: str) -> tuple[str, str]:
    """Start the probe; ``extra_variable`` is the raw JSON of one more variable, ``extra``.

    Raw, because Python's own encoder cannot write what its parser cannot read.
    """
    email = f"{unique_key('cand')}@example.com"
    known = {
        "resume_id": unique_key("resume"),
        "candidate_email": email,
        "candidate_name": "Ada",
        "skills": [],
    }
    members = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in known.items()]
    variables = "{" + ", ".join([*members, f'"extra": {extra_variable}']) + "}"
    body = f'{{"processDefinitionId": "{PROCESS_ID}", "variables": {variables}}}'
    answer = client.session.post(
        f"{client.rest_url}/v2/process-instances",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["processInstanceKey"], email


def test_a_job_whose_variables_python_cannot_read_is_an_incident_and_the_worker_goes_on(
    process_engine, local_world
):
    client = process_engine.client
    client.deploy_resources([(f"{PROCESS_ID}.bpmn", PROCESS.encode())])
    incidents = {"job_type": JobType.SEND_EMAIL, "outcome": "incident"}
    counted_before = REGISTRY.get_sample_value("hireflow_jobs_finished_total", incidents) or 0
    # The engine takes JSON nested up to 1000 levels; Python's parser gives up before that.
    # Before, pyzeebe's reading of this job ended the worker, and every worker after it.
    unreadable, _ = start_with(client, "[" * 995 + "0" + "]" * 995)

    incident = wait_for_incident(client, unreadable)
    assert incident["elementId"] == "Mail"
    assert "cannot read this job's variables" in incident["errorMessage"]
    assert "nested deeper than Python's JSON reader follows" in incident["errorMessage"]
    # Counted as the incident it is, as a task's own hooks count one (just after it is sent).
    wait_for(
        lambda: REGISTRY.get_sample_value("hireflow_jobs_finished_total", incidents) == counted_before + 1,
        what="the pool's metrics to count the incident",
        seen=lambda: REGISTRY.get_sample_value("hireflow_jobs_finished_total", incidents),
        timeout=5,
    )

    # The same worker takes the next job.
    readable, email = start_with(client, "[[0]]")
    wait_until_completed(client, readable)
    assert len(local_world.mails_to(email)) == 1
