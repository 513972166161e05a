"""How the embedded engine's records become the answers REST v2 would give (no engine needed)."""

from __future__ import annotations

from hireflow.engine.embedded import EMBEDDED_DIR, LAUNCHER, _Projection, embedded_version

PROCESS = {"bpmnProcessId": "resume-upload", "version": 3, "processInstanceKey": 10}


def event(
    value_type: str, intent: str, key: int, value: dict, record_type: str = "EVENT", timestamp: int = 0
) -> dict:
    return {
        "recordType": record_type,
        "valueType": value_type,
        "intent": intent,
        "key": key,
        "value": value,
        "timestamp": timestamp,
    }


def element(intent: str, key: int, element_id: str, element_type: str) -> dict:
    value = {**PROCESS, "elementId": element_id, "bpmnElementType": element_type}
    return event("PROCESS_INSTANCE", intent, key, value)


def test_an_instance_and_its_elements_follow_their_events():
    projection = _Projection()
    for record in [
        element("ACTIVATE_ELEMENT", 10, "resume-upload", "PROCESS") | {"recordType": "COMMAND"},
        element("ELEMENT_ACTIVATED", 10, "resume-upload", "PROCESS"),
        element("ELEMENT_ACTIVATED", 11, "CheckResumeFile", "SERVICE_TASK"),
        element("ELEMENT_COMPLETED", 11, "CheckResumeFile", "SERVICE_TASK"),
    ]:
        projection.apply(record)

    assert projection.instances["10"] == {
        "processInstanceKey": "10",
        "processDefinitionId": "resume-upload",
        "processDefinitionVersion": 3,
        "state": "ACTIVE",
    }
    assert projection.elements["11"]["state"] == "COMPLETED"
    assert projection.elements["11"]["processInstanceKey"] == "10"

    projection.apply(element("ELEMENT_COMPLETED", 10, "resume-upload", "PROCESS"))
    assert projection.instances["10"]["state"] == "COMPLETED"


def test_elements_carry_start_and_end_dates_as_rest_v2_writes_them():
    projection = _Projection()
    activated = element("ELEMENT_ACTIVATED", 11, "CheckResumeFile", "SERVICE_TASK") | {
        "timestamp": 1_700_000_000_000
    }
    completed = element("ELEMENT_COMPLETED", 11, "CheckResumeFile", "SERVICE_TASK") | {
        "timestamp": 1_700_000_000_250
    }
    projection.apply(activated)
    assert projection.elements["11"]["startDate"] == "2023-11-14T22:13:20.000Z"
    assert "endDate" not in projection.elements["11"]
    projection.apply(completed)
    assert projection.elements["11"]["endDate"] == "2023-11-14T22:13:20.250Z"


def test_user_tasks_incidents_and_variables_read_as_rest_v2_shows_them():
    projection = _Projection()
    task = {
        "elementId": "ScreenApplication",
        "processInstanceKey": 10,
        "elementInstanceKey": 12,
        "formKey": 99,
        "candidateGroupsList": ["recruiters"],
    }
    projection.apply(event("USER_TASK", "CREATED", 20, task))
    incident = {
        "errorType": "JOB_NO_RETRIES",
        "errorMessage": "posting p-1 does not exist",
        "elementId": "ScoreMatch",
        "processInstanceKey": 10,
        "jobKey": 30,
    }
    projection.apply(event("INCIDENT", "CREATED", 40, incident))
    projection.apply(
        event(
            "VARIABLE",
            "CREATED",
            50,
            {"name": "route", "value": '"screen"', "scopeKey": 10, "processInstanceKey": 10},
        )
    )
    projection.apply(
        event(
            "VARIABLE",
            "UPDATED",
            50,
            {"name": "route", "value": '"forward"', "scopeKey": 10, "processInstanceKey": 10},
        )
    )

    assert projection.user_tasks["20"]["candidateGroups"] == ["recruiters"]
    assert projection.user_tasks["20"]["state"] == "CREATED"
    assert projection.incidents["40"]["state"] == "ACTIVE"
    assert projection.incidents["40"]["jobKey"] == "30"
    assert [v["value"] for v in projection.variables.values()] == ['"forward"']

    projection.apply(event("USER_TASK", "CANCELED", 20, task))
    projection.apply(event("INCIDENT", "RESOLVED", 40, incident))
    assert projection.user_tasks["20"]["state"] == "CANCELED"
    assert projection.incidents["40"]["state"] == "RESOLVED"


def test_the_embedded_engine_is_pinned_once_and_its_launcher_ships_with_it():
    assert embedded_version().count(".") == 2
    assert "${zeebe.version}" in (EMBEDDED_DIR / "pom.xml").read_text()
    assert LAUNCHER.is_file()
