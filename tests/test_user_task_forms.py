"""A user task's form is the version deployed with its process (issues 4 and 5).

hireflow's models link their forms with ``bindingType="deployment"``. The engine links a
task's form as it creates the task; with the default binding ("latest") that is the newest
form of that id, also for an instance that started on an older diagram. An analyst's change
to a form (a field renamed, a variable shown instead of another) then reached the tasks of
instances whose variables were set for the old form: after the feedback form began to
show ``interview_start_for_panelist``, an interview booked before showed no start at all.
Bound by deployment, each instance keeps the forms deployed with its diagram. Tasklist
shows the form the engine linked; so does the console's Tasks page on the embedded engine
(which showed the form in ``bpmn/`` before, whatever the engine linked).
"""

from __future__ import annotations

import json

import pytest

from tests.engine_helpers import unique_key, wait_for_user_task

pytestmark = pytest.mark.engine

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="https://hireflow.example/tests">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>ToWait</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="Ready" name="Ready for review">
      <bpmn:incoming>ToWait</bpmn:incoming><bpmn:outgoing>ToReview</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="ReadyMessage" />
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="Review" name="Review the request">
      <bpmn:extensionElements>
        <zeebe:userTask />
        <zeebe:formDefinition formId="{form_id}" bindingType="deployment" />
      </bpmn:extensionElements>
      <bpmn:incoming>ToReview</bpmn:incoming><bpmn:outgoing>ToEnd</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End"><bpmn:incoming>ToEnd</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="ToWait" sourceRef="Start" targetRef="Ready" />
    <bpmn:sequenceFlow id="ToReview" sourceRef="Ready" targetRef="Review" />
    <bpmn:sequenceFlow id="ToEnd" sourceRef="Review" targetRef="End" />
  </bpmn:process>
  <bpmn:message id="ReadyMessage" name="{process_id}-ready">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=request_id" /></bpmn:extensionElements>
  </bpmn:message>
</bpmn:definitions>
"""


def form(form_id: str, label: str) -> bytes:
    components = [{"type": "textfield", "key": "note", "label": label, "id": "Field_note"}]
    return json.dumps(
        {"id": form_id, "type": "default", "schemaVersion": 19, "components": components}
    ).encode()


def deploy(client, process_id: str, form_id: str, label: str) -> None:
    """Deploy the process with this wording of its form."""
    client.deploy_resources(
        [
            (f"{process_id}.bpmn", PROCESS.format(process_id=process_id, form_id=form_id).encode()),
            (f"{form_id}.form", form(form_id, label)),
        ]
    )


def start(client, process_id: str) -> tuple[str, str]:
    """An instance waiting before its task, and the request id that lets it go on."""
    request_id = unique_key("request")
    created = client.create_process_instance(process_id, {"request_id": request_id})
    return created["processInstanceKey"], request_id


def reach_the_task(client, process_id: str, instance: str, request_id: str) -> dict:
    client.publish_message(f"{process_id}-ready", request_id)
    return wait_for_user_task(client, instance, "Review")


def test_a_task_created_after_its_form_changed_shows_the_form_its_process_was_deployed_with(
    process_engine, web
):
    client = process_engine.client
    process_id, form_id = unique_key("form-binding"), unique_key("form-binding-review")
    deploy(client, process_id, form_id, "Note (first wording)")
    older = start(client, process_id)
    deploy(client, process_id, form_id, "Note (second wording)")
    newer = start(client, process_id)
    # Both tasks are created now, after the second wording was deployed.
    tasks = [reach_the_task(client, process_id, *instance) for instance in (older, newer)]

    linked = [client.get_user_task_form(task["userTaskKey"]) for task in tasks]
    assert [form["schema"]["components"][0]["label"] for form in linked] == [
        "Note (first wording)",
        "Note (second wording)",
    ]
    assert [(form["formId"], form["version"]) for form in linked] == [(form_id, 1), (form_id, 2)]

    if not process_engine.control_url:
        return  # on a cluster, Tasklist shows the linked form; the Tasks page is the embedded engine's
    # The console's Tasks page shows each task the form the engine linked to it.
    assert "Note (first wording)" in web.get(f"/tasks/{tasks[0]['userTaskKey']}").text
    assert "Note (second wording)" in web.get(f"/tasks/{tasks[1]['userTaskKey']}").text
