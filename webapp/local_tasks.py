"""People's tasks on the embedded engine, which has no Tasklist.

On a cluster, recruiters and interviewers work in Camunda Tasklist. The embedded engine
(``make run``'s fallback when the pinned distribution cannot be fetched) has none, so a
walk through the processes would stop for good at the first user task (screening, the
interview feedback). ``LocalTasks`` lists its open user tasks and completes one with the
values of its Camunda Form (``webapp.local_forms``), through the engine, as Tasklist would.
The form is the one the engine linked to the task, as Tasklist shows it: with the models'
``bindingType="deployment"``, the version deployed with the task's process, so a form
changed since an instance started does not change that instance's tasks. It is no
replacement for Tasklist: no users, groups or assignment.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from webapp.domain import Hireflow, bundled_element_names
from webapp.engine import EngineUnavailable, call_engine
from webapp.local_forms import (
    FormField,
    completable,
    form_fields,
    submitted_variables,
    user_task_form_ids,
)
from webapp.problems import Problem, invalid_fields
from webapp.schemas import is_engine_key

log = logging.getLogger(__name__)

# How long a completion waits for the engine's reads to catch up (they take tens of ms).
CLOSE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class PersonsTask:
    """An open user task, with the form and the business item it belongs to."""

    key: str
    element_id: str
    element_instance_key: str
    name: str
    process_instance_key: str
    process_id: str
    item: tuple[str, str] | None  # (kind, business id)
    form_id: str | None
    candidate_groups: list[str]
    assignee: str | None
    due_date: str | None = None  # ISO date-time, as the model's task schedule sets it


@dataclass(frozen=True)
class OpenIncident:
    """A step an incident stopped, with the business item it belongs to."""

    key: str
    element_name: str
    error_message: str
    process_instance_key: str
    item: tuple[str, str] | None  # (kind, business id)


class LocalTasks:
    """Lists and completes the embedded engine's user tasks (the webapp's stand-in for Tasklist)."""

    def __init__(self, domain: Hireflow):
        self.domain = domain
        self.gateway = domain.gateway

    def open_tasks(self, process_instance_key: str | None = None) -> list[PersonsTask]:
        """The user tasks waiting for a person, oldest first (of one instance, if given)."""
        filter_: dict[str, Any] = {"state": "CREATED"}
        if process_instance_key:
            filter_["processInstanceKey"] = process_instance_key
        found = call_engine("listing people's tasks", self.gateway.client.search_user_tasks, **filter_)
        return [self._describe(task) for task in sorted(found, key=lambda t: int(t["userTaskKey"]))]

    def open_incidents(self, process_instance_key: str | None = None) -> list[OpenIncident]:
        """The steps stopped for an operator, oldest first (of one instance, if given).

        Operate's incident list, for the embedded engine that has none: each leads to its
        item's page, which shows the whole message and the Retry button.
        """
        filter_: dict[str, Any] = {"state": "ACTIVE"}
        if process_instance_key:
            filter_["processInstanceKey"] = process_instance_key
        found = call_engine("listing incidents", self.gateway.client.search_incidents, **filter_)
        names = bundled_element_names()
        return [
            OpenIncident(
                key=str(incident["incidentKey"]),
                element_name=names.get(
                    (incident.get("processDefinitionId"), incident["elementId"]), incident["elementId"]
                ),
                error_message=incident.get("errorMessage") or "",
                process_instance_key=str(incident["processInstanceKey"]),
                item=self.domain.item_of_instance(str(incident["processInstanceKey"])),
            )
            for incident in sorted(found, key=lambda i: int(i["incidentKey"]))
        ]

    def task(self, key: str) -> PersonsTask:
        """One open task; 404 when there is none (completed, or never was)."""
        if not is_engine_key(key):
            raise Problem(404, "No such task", f"{key!r} is not a task key")
        found = call_engine(
            "reading a task", self.gateway.client.search_user_tasks, userTaskKey=key, state="CREATED"
        )
        if not found:
            raise Problem(404, "No such task", f"task {key} is not open: it was completed, or never was")
        return self._describe(found[0])

    def fields(self, task: PersonsTask, submitted: dict[str, str] | None = None) -> list[FormField]:
        """The task's form, filled from its instance's variables."""
        form = self._linked_form(task)
        if form is None:
            return []
        return form_fields(form, self._variables(task), submitted)

    def _linked_form(self, task: PersonsTask) -> dict[str, Any] | None:
        """The form the engine linked to ``task`` (None: the task has none)."""
        linked = call_engine("reading a task's form", self.gateway.client.get_user_task_form, task.key)
        return linked["schema"] if linked is not None else None

    def complete(self, task: PersonsTask, submitted: dict[str, str]) -> dict[str, Any]:
        """Complete ``task`` with its form's values; a 400 names each field that is wrong."""
        fields = self.fields(task, submitted)
        if not completable(fields):
            raise Problem(
                409, "Form not supported here", f"the form {task.form_id} uses fields only Tasklist shows"
            )
        variables, errors = submitted_variables(fields, submitted)
        if errors:
            raise invalid_fields([{"name": name, "reason": reason} for name, reason in errors.items()])
        call_engine("completing a task", self.gateway.client.complete_user_task, task.key, variables)
        log.info(
            "task %s (%s) completed in the console with %s", task.key, task.element_id, sorted(variables)
        )
        self._wait_until_closed(task)
        return variables

    def _wait_until_closed(self, task: PersonsTask) -> None:
        """Wait, briefly, until the engine's reads no longer list ``task`` as open.

        They follow the completion by a few tens of milliseconds, and the person is sent on
        to the item's page, which would otherwise still show the task they just did as
        waiting for them. Past the wait the page is shown anyway; it refreshes itself.
        """
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                still_open = call_engine(
                    "reading a task",
                    self.gateway.client.search_user_tasks,
                    userTaskKey=task.key,
                    state="CREATED",
                )
            except EngineUnavailable:
                return  # the task is completed all the same; the page says what the engine can
            if not still_open:
                return
            time.sleep(0.05)

    def _describe(self, task: dict[str, Any]) -> PersonsTask:
        instance_key = str(task["processInstanceKey"])
        instance = self.gateway.instance_state(instance_key) or {}
        process_id = instance.get("processDefinitionId", "")
        element_id = task["elementId"]
        return PersonsTask(
            key=str(task["userTaskKey"]),
            element_id=element_id,
            element_instance_key=str(task.get("elementInstanceKey", "")),
            name=task.get("name") or bundled_element_names().get((process_id, element_id), element_id),
            process_instance_key=instance_key,
            process_id=process_id,
            item=self.domain.item_of_instance(instance_key),
            form_id=user_task_form_ids().get((process_id, element_id)),
            candidate_groups=list(task.get("candidateGroups") or []),
            assignee=task.get("assignee"),
            due_date=task.get("dueDate"),
        )

    def _variables(self, task: PersonsTask) -> dict[str, Any]:
        """The variables the task sees: the instance's, and its own (a panelist's, in a multi-instance).

        Not every scope's: two panelists' feedback tasks each have their own ``panelist``
        and answers, and one must not be shown the other's.
        """
        found = call_engine(
            "reading a task's variables",
            self.gateway.client.search_variables,
            processInstanceKey=task.process_instance_key,
        )
        scopes = [task.process_instance_key, task.element_instance_key]  # the task's own win
        variables = {}
        for scope in scopes:
            for variable in found:
                if str(variable.get("scopeKey")) != scope:
                    continue
                try:
                    variables[variable["name"]] = json.loads(variable["value"])
                except (TypeError, ValueError, RecursionError):
                    # A value set by hand may be nested deeper than Python's reader follows
                    # (the engine takes 1000 levels): the form shows its text instead.
                    variables[variable["name"]] = variable["value"]
        return variables
