"""Every user task is designed for the person who does it in Tasklist (issue 6).

A readable name, a Camunda user task with a linked form, a candidate group, a priority,
and a due date and a follow-up date that the task's timers agree with: a boundary timer
fires at the follow-up date (a reminder) or at the due date (an escalation), never at
some third moment a recruiter cannot see in Tasklist.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from hireflow.model_checks import MODELS_DIR, NS

GROUPS = {"recruiters", "lead-recruiters", "interviewers"}
SCHEDULE = re.compile(r'^=now\(\) \+ duration\("(?P<duration>P[^"]+)"\)$')
DURATION = re.compile(r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$")


def duration(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours and minutes, as the models use them."""
    match = DURATION.match(text.strip())
    assert match and text.strip() != "P", f"unsupported duration {text!r}"
    return timedelta(**{unit: int(value) for unit, value in match.groupdict().items() if value})


def user_tasks() -> list[tuple[ET.Element, ET.Element]]:
    """``(user task, its process)`` for every user task in bpmn/."""
    found = []
    for path in sorted(MODELS_DIR.glob("*.bpmn")):
        for process in ET.parse(path).getroot().iterfind("bpmn:process", NS):
            found += [(task, process) for task in process.iter(f"{{{NS['bpmn']}}}userTask")]
    return found


USER_TASKS = user_tasks()
TASK_IDS = [task.get("id") for task, _ in USER_TASKS]
FORM_IDS = {json.loads(p.read_text())["id"] for p in MODELS_DIR.glob("*.form")}


def test_the_four_processes_have_their_user_tasks():
    assert set(TASK_IDS) == {
        "ScreenApplication",
        "ReviewOverdueApplication",
        "FollowUpWithCandidate",
        "GiveFeedback",
    }


@pytest.mark.parametrize(("task", "process"), USER_TASKS, ids=TASK_IDS)
def test_a_user_task_has_what_tasklist_needs(task, process):
    name = task.get("name") or ""
    assert " " in name and name[0].isupper(), f"{task.get('id')}: give it a readable name, not {name!r}"
    extensions = task.find("bpmn:extensionElements", NS)
    assert extensions.find("zeebe:userTask", NS) is not None, "a Camunda user task, so Tasklist shows it"
    form = extensions.find("zeebe:formDefinition", NS)
    assert form.get("formId") in FORM_IDS
    # The form deployed with the diagram, not the newest: see tests/test_user_task_forms.py.
    assert form.get("bindingType") == "deployment", "bind the form by deployment"
    groups = set(extensions.find("zeebe:assignmentDefinition", NS).get("candidateGroups").split(","))
    assert groups and groups <= GROUPS
    priority = int(extensions.find("zeebe:priorityDefinition", NS).get("priority"))
    assert 0 <= priority <= 100


@pytest.mark.parametrize(("task", "process"), USER_TASKS, ids=TASK_IDS)
def test_due_and_follow_up_dates_agree_with_the_timers(task, process):
    schedule = task.find("bpmn:extensionElements/zeebe:taskSchedule", NS)
    due = duration(SCHEDULE.match(schedule.get("dueDate"))["duration"])
    follow_up = duration(SCHEDULE.match(schedule.get("followUpDate"))["duration"])
    assert follow_up < due, "the follow-up comes before the due date"

    for boundary in process.iterfind("bpmn:boundaryEvent", NS):
        if boundary.get("attachedToRef") != task.get("id"):
            continue
        timer = boundary.find("bpmn:timerEventDefinition/bpmn:timeDuration", NS)
        if timer is None:
            continue
        fires_after = duration(timer.text)
        interrupting = boundary.get("cancelActivity", "true") != "false"
        expected = {due} if interrupting else {due, follow_up}
        assert fires_after in expected, (
            f"{boundary.get('id')} fires after {fires_after}, but the task is due after {due} "
            f"and followed up after {follow_up}"
        )
