"""A small client for the Camunda 8 Orchestration Cluster REST API (v2).

One ``requests.Session`` per client; safe to share across threads for these calls.
Errors come back as ``CamundaApiError`` carrying the RFC 7807 problem detail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from hireflow.json_kinds import kind_name


class CamundaApiError(RuntimeError):
    """The REST API answered with an error status."""

    def __init__(self, method: str, url: str, status: int, detail: Any):
        self.status = status
        self.detail = detail
        super().__init__(f"{method} {url} -> {status}: {detail}")


# What an answer the engine never gives means, for whoever reads it.
NOT_THE_ENGINE = "so not the engine's; check that the engine's REST address names the cluster"


class UnreadableAnswer(CamundaApiError):
    """An answer with a success status that the engine never gives (not JSON, a search
    without items, or without the fields hireflow reads: see ``AnswerShape``): whatever
    answered is not the engine's REST API, such as another server at a mistaken address or
    a proxy's sign-in page. Its message names the URL asked."""


def _is_key(value: Any) -> bool:
    """An engine key: REST v2 gives it as a string of digits, the embedded engine as an integer."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


@dataclass(frozen=True)
class AnswerShape:
    """What hireflow reads of one kind of answer (or search item), as the engine gives it:
    the fields it must have, and those it may have, each with the check its value passes.

    An answer that fails is not the engine's (``UnreadableAnswer``): reading it on would
    fail further in, as a KeyError or TypeError far from the call that brought it.
    """

    required: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)
    optional: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)

    def problem(self, answer: Any) -> str | None:
        """What is wrong with ``answer``, or None when hireflow can read it."""
        if not isinstance(answer, dict):
            return f"it is {kind_name(answer)}, not an object"
        missing = next((name for name in self.required if answer.get(name) is None), None)
        if missing is not None:
            return f"it has no {missing}"
        for name, check in {**self.required, **self.optional}.items():
            value = answer.get(name)
            if value is not None and not check(value):
                return f"its {name} is {kind_name(value)} {json.dumps(value)[:40]}"
        return None


ANY_OBJECT = AnswerShape()
INSTANCE_CREATED = AnswerShape({"processInstanceKey": _is_key})
INSTANCE = AnswerShape(
    {"processInstanceKey": _is_key, "state": _is_text},
    {"hasIncident": _is_boolean, "processDefinitionId": _is_text},
)
DEPLOYMENT = AnswerShape(optional={"deploymentKey": _is_key})
MESSAGE_PUBLISHED = AnswerShape(optional={"messageKey": _is_key})
DEFINITION = AnswerShape(
    {"processDefinitionId": _is_text, "version": _is_whole}, {"processDefinitionKey": _is_key}
)
ELEMENT_INSTANCE = AnswerShape(
    {"elementId": _is_text},
    {"elementName": _is_text, "processDefinitionId": _is_text, "type": _is_text, "state": _is_text},
)
VARIABLE = AnswerShape({"processInstanceKey": _is_key}, {"name": _is_text, "value": _is_text})
INCIDENT = AnswerShape(
    {"incidentKey": _is_key},
    {
        "jobKey": _is_key,
        "processInstanceKey": _is_key,
        "elementId": _is_text,
        "errorType": _is_text,
        "errorMessage": _is_text,
    },
)
JOB = AnswerShape(
    {"jobKey": _is_key, "type": _is_text, "processInstanceKey": _is_key, "elementInstanceKey": _is_key},
    {
        # Camunda 8.9 documents it as "may be missing on job failure".
        "elementId": _is_text,
        "state": _is_text,
        "retries": _is_whole,
        "errorMessage": _is_text,
        "recurringTime": _is_whole,
        "lastUpdateTime": _is_text,
        "customHeaders": _is_object,
    },
)


class CamundaRestClient:
    """Deploy, start, search, complete user tasks, repair incidents and move the clock."""

    def __init__(
        self,
        rest_url: str,
        management_url: str | None = None,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ):
        self.rest_url = rest_url.rstrip("/")
        self.management_url = management_url.rstrip("/") if management_url else None
        self.session = session or requests.Session()
        self.timeout = timeout

    def with_timeout(self, timeout: float) -> CamundaRestClient:
        """This client (same session, same engine) with its own request timeout, e.g. for probes."""
        client = copy.copy(self)
        client.timeout = timeout
        return client

    # -- plumbing --

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json()
            except ValueError:
                detail = response.text
            raise CamundaApiError(method, url, response.status_code, detail)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            media_type = response.headers.get("Content-Type") or "no Content-Type"
            detail = f"the answer is not JSON ({media_type}, {len(response.content)} bytes), {NOT_THE_ENGINE}"
            raise UnreadableAnswer(method, url, response.status_code, detail) from None

    def _v2(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.rest_url}/v2{path}", **kwargs)

    def _v2_object(self, method: str, path: str, shape: AnswerShape, **kwargs: Any) -> dict[str, Any]:
        """The engine's answer, an object of ``shape``; else ``UnreadableAnswer``."""
        answer = self._v2(method, path, **kwargs)
        if (problem := shape.problem(answer)) is not None:
            raise UnreadableAnswer(method, f"{self.rest_url}/v2{path}", 200, f"{problem}, {NOT_THE_ENGINE}")
        return answer

    def _search_page(self, path: str, body: dict[str, Any], shape: AnswerShape) -> list[dict[str, Any]]:
        """One page of a search's items, each of ``shape``; else ``UnreadableAnswer``."""
        answer = self._v2("POST", f"{path}/search", json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            problem = "the answer has no list of items"
        else:
            problems = (shape.problem(item) for item in answer["items"])
            problem = next((f"an item: {p}" for p in problems if p is not None), None)
        if problem is not None:
            url = f"{self.rest_url}/v2{path}/search"
            raise UnreadableAnswer("POST", url, 200, f"{problem}, {NOT_THE_ENGINE}")
        return answer["items"]

    def _search(
        self, path: str, filter_: dict[str, Any], limit: int = 100, *, shape: AnswerShape = ANY_OBJECT
    ) -> list[dict[str, Any]]:
        return self._search_page(path, {"filter": filter_, "page": {"limit": limit}}, shape)

    # -- cluster --

    def topology(self) -> dict[str, Any]:
        return self._v2("GET", "/topology")

    # -- deployments and instances --

    def deploy(self, paths: Iterable[Path]) -> dict[str, Any]:
        """Deploy BPMN, DMN and form files as one deployment."""
        return self.deploy_resources([(p.name, p.read_bytes()) for p in paths])

    def deploy_resources(self, resources: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        """Deploy named model contents (``(file name, bytes)``) as one deployment."""
        files = [("resources", (name, content, "application/octet-stream")) for name, content in resources]
        return self._v2_object("POST", "/deployments", DEPLOYMENT, files=files)

    def search_process_definitions(self, **filter_: Any) -> list[dict[str, Any]]:
        """Deployed process definitions (every version), e.g. ``processDefinitionId=...``."""
        return self._search("/process-definitions", filter_, shape=DEFINITION)

    def create_process_instance(
        self, process_id: str, variables: dict[str, Any] | None = None, *, business_id: str | None = None
    ) -> dict[str, Any]:
        """Start the latest version of ``process_id``; returns the created instance.

        ``business_id`` names the business item the instance is for (Camunda 8.9). Where the
        cluster enforces business-id uniqueness (hireflow's configs turn it on), a second
        start for an item whose instance is still active is refused with 409, even when
        the first start's answer was lost and it is processed only after the second.
        """
        body: dict[str, Any] = {"processDefinitionId": process_id, "variables": variables or {}}
        if business_id is not None:
            body["businessId"] = business_id
        return self._v2_object("POST", "/process-instances", INSTANCE_CREATED, json=body)

    def get_process_instance(self, key: int | str) -> dict[str, Any]:
        return self._v2_object("GET", f"/process-instances/{key}", INSTANCE)

    def cancel_process_instance(self, key: int | str) -> None:
        self._v2("POST", f"/process-instances/{key}/cancellation", json={})

    def restart_element(
        self, process_instance_key: int | str, element_instance_key: int | str, element_id: str
    ) -> None:
        """Modify the instance: end one element instance and enter its element afresh (Operate's
        "modify instance"). A task entered again gets a new job; its boundary timers start over."""
        body = {
            # Activated first, then terminated: the scope never runs empty, so it does not end.
            "activateInstructions": [{"elementId": element_id}],
            "terminateInstructions": [{"elementInstanceKey": str(element_instance_key)}],
        }
        self._v2("POST", f"/process-instances/{process_instance_key}/modification", json=body)

    def search_process_instances(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("/process-instances", filter_)

    def search_element_instances(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("/element-instances", filter_, shape=ELEMENT_INSTANCE)

    def element_id_of(self, element_instance_key: int | str) -> str | None:
        """The model's id of the element an element instance is of (a job's task), or None.

        A failed job's search result may leave its ``elementId`` out (Camunda 8.9's
        reference: "may be missing on job failure"); its element instance still says.
        """
        found = self.search_element_instances(elementInstanceKey=str(element_instance_key))
        return found[0].get("elementId") if found else None

    def search_variables(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("/variables", filter_, shape=VARIABLE)

    def publish_message(
        self,
        name: str,
        correlation_key: str,
        *,
        message_id: str | None = None,
        variables: dict[str, Any] | None = None,
        ttl_ms: int = 60_000,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "correlationKey": correlation_key,
            "timeToLive": ttl_ms,
            "variables": variables or {},
        }
        if message_id:
            body["messageId"] = message_id
        return self._v2_object("POST", "/messages/publication", MESSAGE_PUBLISHED, json=body)

    # -- user tasks --

    def search_user_tasks(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("/user-tasks", filter_)

    def get_user_task_form(self, key: int | str) -> dict[str, Any] | None:
        """The form the engine linked to the user task (the version its binding chose), or None.

        As REST v2 answers it: ``formKey``, ``formId``, ``version`` and ``schema``, here
        always the form's JSON as a dict (REST v2 gives it as text). None when the task has
        no linked form (REST v2's 204).
        """
        form = self._v2("GET", f"/user-tasks/{key}/form")
        if not form:
            return None
        schema = form.get("schema")
        return {**form, "schema": json.loads(schema) if isinstance(schema, str) else schema}

    def assign_user_task(self, key: int | str, assignee: str) -> None:
        self._v2("POST", f"/user-tasks/{key}/assignment", json={"assignee": assignee})

    def complete_user_task(self, key: int | str, variables: dict[str, Any] | None = None) -> None:
        self._v2("POST", f"/user-tasks/{key}/completion", json={"variables": variables or {}})

    # -- jobs and incidents --

    def search_incidents(self, **filter_: Any) -> list[dict[str, Any]]:
        # Every one, not the first page: after an outage an operator retries them all.
        return self._search_every("/incidents", filter_, shape=INCIDENT)

    def search_jobs(self, **filter_: Any) -> list[dict[str, Any]]:
        # Every one: after an outage the failed jobs can be many more than a page.
        return self._search_every("/jobs", filter_, shape=JOB)

    def update_job_retries(self, job_key: int | str, retries: int) -> None:
        self._v2("PATCH", f"/jobs/{job_key}", json={"changeset": {"retries": retries}})

    def resolve_incident(self, incident_key: int | str) -> None:
        self._v2("POST", f"/incidents/{incident_key}/resolution", json={})

    def activate_jobs(
        self,
        job_type: str,
        *,
        max_jobs: int = 1,
        timeout_ms: int = 60_000,
        worker: str = "hireflow",
        request_timeout_ms: int = -1,
    ) -> list[dict[str, Any]]:
        """Activate up to ``max_jobs`` jobs of ``job_type``.

        As REST v2 defines ``requestTimeout``: a negative ``request_timeout_ms`` (the
        default) answers at once, even with no job; otherwise the call is held until a job
        is ready or that time has passed (0: the gateway's default long poll), as a polling
        worker's call is.
        """
        body: dict[str, Any] = {
            "type": job_type,
            "maxJobsToActivate": max_jobs,
            "timeout": timeout_ms,
            "worker": worker,
            "requestTimeout": request_timeout_ms,
        }
        return self._v2("POST", "/jobs/activation", json=body)["jobs"]

    def complete_job(self, job_key: int | str, variables: dict[str, Any] | None = None) -> None:
        self._v2("POST", f"/jobs/{job_key}/completion", json={"variables": variables or {}})

    def throw_job_error(self, job_key: int | str, error_code: str, error_message: str = "") -> None:
        """Throw a BPMN error from the job, for an error boundary event to catch."""
        body = {"errorCode": error_code, "errorMessage": error_message}
        self._v2("POST", f"/jobs/{job_key}/error", json=body)

    def fail_job(
        self, job_key: int | str, *, retries: int, error_message: str, retry_back_off_ms: int = 0
    ) -> None:
        body = {"retries": retries, "errorMessage": error_message, "retryBackOff": retry_back_off_ms}
        self._v2("POST", f"/jobs/{job_key}/failure", json=body)

    # -- history, for BPMN coverage --

    def _search_every(
        self, path: str, filter_: dict[str, Any], page_size: int = 100, *, shape: AnswerShape = ANY_OBJECT
    ) -> list[dict[str, Any]]:
        """Every match of a search, page by page (offset pagination)."""
        found: list[dict[str, Any]] = []
        while True:
            body = {"filter": filter_, "page": {"from": len(found), "limit": page_size}}
            items = self._search_page(path, body, shape)
            found += items
            if len(items) < page_size:
                return found

    def visited_flow_nodes(self, process_id: str) -> set[str]:
        """Ids of the flow nodes that any instance of any version of ``process_id`` entered."""
        visited: set[str] = set()
        for definition in self._search_every("/process-definitions", {"processDefinitionId": process_id}):
            key = definition["processDefinitionKey"]
            stats = self._v2("POST", f"/process-definitions/{key}/statistics/element-instances", json={})
            counts = ("active", "completed", "canceled", "incidents")
            visited |= {item["elementId"] for item in stats["items"] if any(item.get(c) for c in counts)}
        return visited

    def taken_sequence_flows(self, process_id: str) -> set[str]:
        """Ids of the sequence flows that any instance of ``process_id`` took."""
        taken: set[str] = set()
        for instance in self._search_every("/process-instances", {"processDefinitionId": process_id}):
            key = instance["processInstanceKey"]
            flows = self._v2("GET", f"/process-instances/{key}/sequence-flows")["items"]
            taken |= {flow.get("elementId") or flow["sequenceFlowId"] for flow in flows}
        return taken

    # -- controlled clock (test engine only) --

    def _management(self) -> str:
        if not self.management_url:
            raise ValueError("This client was built without a management URL")
        return self.management_url

    def clock_now_ms(self) -> int:
        return int(self._call("GET", f"{self._management()}/actuator/clock")["epochMilli"])

    def advance_clock(self, milliseconds: int) -> None:
        """Move the engine's controlled clock forward; timers due by then fire."""
        self._call("POST", f"{self._management()}/actuator/clock/add", json={"offsetMilli": milliseconds})

    def reset_clock(self) -> None:
        self._call("DELETE", f"{self._management()}/actuator/clock")
