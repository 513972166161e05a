"""The webapp's one engine client, and the once-only starts and messages built on it.

One ``CamundaRestClient`` (REST v2; one pooled ``requests.Session``) serves every thread
of the server. When ``make run`` fell back to the embedded Zeebe engine, the same calls go
to its control port through ``EmbeddedEngineClient``.

Engine failures become two exceptions: ``EngineUnavailable`` (answer 503, retry later)
and ``EngineRejected`` (the engine refused the request itself: a 4xx).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from hireflow.camunda_connection import ConnectionSettings, TokenUnavailable, configure_session
from hireflow.camunda_rest import CamundaApiError, CamundaRestClient, UnreadableAnswer
from hireflow.constants import ITEM_KEY_VARIABLE
from hireflow.engine.embedded import EmbeddedEngineClient
from hireflow.store import start_claim_scope
from webapp.claims import RequestClaims

log = logging.getLogger(__name__)


class EngineUnavailable(Exception):
    """The engine could not be asked. ``certainly_not_applied`` is False when it may have acted."""

    def __init__(self, reason: str, *, certainly_not_applied: bool):
        super().__init__(reason)
        self.certainly_not_applied = certainly_not_applied


class EngineRejected(Exception):
    """The engine refused the request (unknown process, invalid model, ...)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail

    @property
    def reason(self) -> str:
        """The engine's own words: its problem's ``detail``, else all it answered."""
        detail = self.detail.get("detail", self.detail) if isinstance(self.detail, dict) else self.detail
        return str(detail)


class KeyReused(Exception):
    """A business key or message id was used before with different content."""

    def __init__(self, key: str):
        super().__init__(f"{key} was asked for before with other details")
        self.key = key  # the business id of the item asked for, or the message id


class ItemAskedForBefore(KeyReused):
    """One of hireflow's items asked for again with other details: the key is the item's id."""

    def __init__(self, key: str, process_id: str):
        super().__init__(key)
        self.process_id = process_id


class RequestInProgress(Exception):
    """Another request with the same key is being handled right now."""


def client_from_settings(settings: dict[str, Any], pool_size: int = 16) -> CamundaRestClient:
    """The client for the configured engine: the cluster's REST v2, or the embedded engine."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    timeout = float(settings["ENGINE_TIMEOUT_SECONDS"])
    configure_session(session, settings.get("ENGINE_CONNECTION") or ConnectionSettings())
    if settings.get("ENGINE_CONTROL_URL"):
        client = EmbeddedEngineClient(settings["ENGINE_CONTROL_URL"], timeout=timeout)
        client.session = session
        return client
    return CamundaRestClient(settings["ENGINE_REST_URL"], session=session, timeout=timeout)


# Active while anything inside them is; the elements inside say where the instance is.
CONTAINER_ELEMENT_TYPES = {
    "PROCESS",
    "SUB_PROCESS",
    "EVENT_SUB_PROCESS",
    "AD_HOC_SUB_PROCESS",
    "MULTI_INSTANCE_BODY",
}
# Where an instance waits for a person, a message or a timer (hours or days, as a rule); no
# job runs there.
WAITING_ELEMENT_TYPES = {"USER_TASK", "RECEIVE_TASK", "INTERMEDIATE_CATCH_EVENT", "EVENT_BASED_GATEWAY"}
# A job's states once it is over: it may have failed before, but is no longer retried.
ENDED_JOB_STATES = {"COMPLETED", "CANCELED", "ERROR_THROWN"}


def call_engine(what: str, call, *args: Any, **kwargs: Any) -> Any:
    """Run one engine call, translating its failures into EngineUnavailable or EngineRejected."""
    try:
        return call(*args, **kwargs)
    except TokenUnavailable as exc:
        # No token, so no request was sent: the engine certainly did nothing.
        raise EngineUnavailable(f"{what}: no access token ({exc})", certainly_not_applied=True) from exc
    except requests.ConnectionError as exc:
        # A connection that never opened sent nothing; a reset one may have been acted on.
        text = str(exc)
        certain = "Failed to establish a new connection" in text or "refused" in text.lower()
        raise EngineUnavailable(f"{what}: the engine is unreachable", certainly_not_applied=certain) from exc
    except requests.Timeout as exc:
        raise EngineUnavailable(
            f"{what}: the engine did not answer in time", certainly_not_applied=False
        ) from exc
    except UnreadableAnswer as exc:
        # Not the engine at all, most likely; what it did with the request is unknown. The
        # URL goes to the log only: a client need not learn where the engine is.
        log.warning("%s: %s", what, exc)
        raise EngineUnavailable(f"{what}: {exc.detail}", certainly_not_applied=False) from exc
    except CamundaApiError as exc:
        if exc.status in (429, 503):  # backpressure: the engine refused it, nothing happened
            raise EngineUnavailable(f"{what}: the engine is overloaded", certainly_not_applied=True) from exc
        if exc.status >= 500:
            raise EngineUnavailable(
                f"{what}: the engine failed ({exc.status})", certainly_not_applied=False
            ) from exc
        raise EngineRejected(exc.status, exc.detail) from exc


def element_id_of_job(client: Any, job: dict[str, Any]) -> str | None:
    """The model's id of a job's task: the job's own ``elementId``, which a failed job's
    search result may leave out (Camunda 8.9's reference), else its element instance's."""
    return job.get("elementId") or call_engine(
        "reading a job's task", client.element_id_of, job["elementInstanceKey"]
    )


@dataclass(frozen=True)
class Started:
    """A process instance for a business key: ``created`` is False when it existed already."""

    process_instance_key: str
    created: bool


@dataclass(frozen=True)
class Published:
    """A message for a message id: ``published`` is False when it was published before."""

    message_key: str | None
    published: bool


class ProcessGateway:
    """Starts instances and publishes messages at most once per business key or message id."""

    def __init__(self, client: CamundaRestClient, claims: RequestClaims, *, message_ttl_ms: int):
        self.client = client
        self.claims = claims
        self.message_ttl_ms = message_ttl_ms

    def start_item(
        self, process_id: str, variables: dict[str, Any], *, asked: dict[str, Any] | None = None
    ) -> Started:
        """Start one of hireflow's processes once for its item (``ITEM_KEY_VARIABLE``).

        ``asked``: the request as the client sent it, before the webapp filled in what it left
        out from the file. A repeat is the same request sent again, or one that fills in to
        the same variables (what the file gave, written out): a change on file since the
        first (a newer resume, the employer's new card) does not make a repeat a 409.
        """
        try:
            return self.start_once(process_id, ITEM_KEY_VARIABLE[process_id], variables, asked=asked)
        except KeyReused as reused:
            raise ItemAskedForBefore(reused.key, process_id) from None

    def start_once(
        self,
        process_id: str,
        key_variable: str,
        variables: dict[str, Any],
        *,
        asked: dict[str, Any] | None = None,
    ) -> Started:
        """Start ``process_id`` unless an instance for ``variables[key_variable]`` exists.

        The key is stored as a process variable too, so a retry after an unknown outcome
        (a timeout) can find the instance the first attempt may have started. A repeat
        matches the variables, or ``asked`` (see ``start_item``).
        """
        key = str(variables[key_variable])
        claim = self.claims.claim(start_claim_scope(process_id), key, variables, asked=asked)
        if not claim.acquired:
            return Started(self._settled(claim)["processInstanceKey"], created=False)
        if claim.taken_over:
            found = self._instance_with(key_variable, key)
            if found:
                self.claims.complete(claim, {"processInstanceKey": found})
                return Started(found, created=False)
        try:
            created = call_engine(
                f"starting {process_id}",
                self.client.create_process_instance,
                process_id,
                variables,
                business_id=key,
            )
        except EngineUnavailable as exc:
            if exc.certainly_not_applied:
                self.claims.release(claim)
            raise
        except EngineRejected as exc:
            if exc.status == 409:
                return self._started_before(claim, process_id, key_variable, key)
            self.claims.release(claim)
            raise
        instance_key = str(created["processInstanceKey"])
        self.claims.complete(claim, {"processInstanceKey": instance_key})
        log.info("started %s instance %s for %s=%s", process_id, instance_key, key_variable, key)
        return Started(instance_key, created=True)

    def publish_once(
        self,
        name: str,
        correlation_key: str,
        message_id: str,
        variables: dict[str, Any] | None = None,
        *,
        ttl_ms: int | None = None,
        same_whoever_asks: bool = False,
    ) -> Published:
        """Publish ``name`` once for ``message_id``; a repeat is reported, not published again.

        A repeat carries the same variables; with ``same_whoever_asks``, the variables say
        who asked, and a request from someone else for the same ``message_id`` is a repeat
        too (a panelist asking to move a booking the candidate asked to move a moment ago).

        The engine also refuses a message id it still buffers, which covers a repeat whose
        first attempt timed out after the engine took it. So when the engine may or may not
        have taken a buffered message, a repeat may publish again at once; only a message with
        no time to live must wait until its claim is stale.
        """
        content = {"correlationKey": correlation_key, "variables": variables or {}}
        asked = {"correlationKey": correlation_key} if same_whoever_asks else None
        claim = self.claims.claim(f"message:{name}", message_id, content, asked=asked)
        if not claim.acquired:
            return Published(self._settled(claim).get("messageKey"), published=False)
        try:
            result = call_engine(
                f"publishing {name}",
                self.client.publish_message,
                name,
                correlation_key,
                message_id=message_id,
                variables=variables or {},
                ttl_ms=self.message_ttl_ms if ttl_ms is None else ttl_ms,
            )
        except EngineUnavailable as exc:
            buffered = (self.message_ttl_ms if ttl_ms is None else ttl_ms) > 0
            if exc.certainly_not_applied or buffered:
                self.claims.release(claim)
            raise
        except EngineRejected as exc:
            if exc.status == 409:  # the engine still holds this message id: it was published
                self.claims.complete(claim, {"messageKey": None})
                return Published(None, published=False)
            self.claims.release(claim)
            raise
        message_key = str(result.get("messageKey")) if result else None
        self.claims.complete(claim, {"messageKey": message_key})
        log.info("published %s for %s (message id %s)", name, correlation_key, message_id)
        return Published(message_key, published=True)

    def published_before(self, name: str, message_id: str) -> bool:
        """Whether ``name`` was published (or is being published) under ``message_id``."""
        return self.claims.exists(f"message:{name}", message_id)

    def _started_before(self, claim, process_id: str, key_variable: str, key: str) -> Started:
        """The instance the cluster refused a second of (409: its business id is active).

        An earlier start took effect though its caller never heard: its answer was lost, or
        the engine went down with the command written and processed it on restarting,
        after this request had looked for it in vain. The search lags the engine, so until
        it shows the instance the claim stays pending, and the client is asked to come back.
        """
        found = self._instance_with(key_variable, key)
        if found is None:
            raise RequestInProgress(f"{process_id} for {key} was started before and is not yet searchable")
        self.claims.complete(claim, {"processInstanceKey": found})
        log.info("%s for %s=%s was started before: instance %s", process_id, key_variable, key, found)
        return Started(found, created=False)

    def _settled(self, claim) -> dict:
        if not claim.same_content:
            raise KeyReused(claim.key)
        if claim.status != "done":
            raise RequestInProgress(f"a request for {claim.key} is being handled right now")
        return claim.result

    def _instance_with(self, key_variable: str, key: str) -> str | None:
        matches = call_engine(
            "looking up an earlier start",
            self.client.search_variables,
            name=key_variable,
            value=json.dumps(key),
        )
        return str(matches[0]["processInstanceKey"]) if matches else None

    def active_elements(self, process_instance_key: str) -> list[dict[str, Any]]:
        """The instance's elements active now: where it waits or works (not the process or a sub-process)."""
        elements = call_engine(
            "reading where an instance is",
            self.client.search_element_instances,
            processInstanceKey=process_instance_key,
            state="ACTIVE",
        )
        return [e for e in elements if e.get("type") not in CONTAINER_ELEMENT_TYPES]

    def waits_in(self, process_instance_key: str, element_id: str) -> bool:
        """Whether the instance is inside ``element_id`` now: a task, a wait or a sub-process."""
        elements = call_engine(
            "reading where an instance is",
            self.client.search_element_instances,
            processInstanceKey=process_instance_key,
            elementId=element_id,
            state="ACTIVE",
        )
        return any(element.get("elementId") == element_id for element in elements)

    def failing_jobs(self, process_instance_key: str) -> list[dict[str, Any]]:
        """The instance's jobs that failed and wait to be tried again: retries left, not ended.

        Each keeps the failure policy's message of its last failure (``errorMessage``).
        """
        jobs = call_engine(
            "reading an instance's failing jobs",
            self.client.search_jobs,
            processInstanceKey=process_instance_key,
            hasFailedWithRetriesLeft=True,
        )
        failing = [j for j in jobs if j.get("state") not in ENDED_JOB_STATES]
        for job in failing:
            job["elementId"] = element_id_of_job(self.client, job)
        return failing

    def instance_state(self, process_instance_key: str) -> dict[str, Any] | None:
        """The instance as the engine reports it, or None if it does not know it (yet)."""
        try:
            return call_engine("reading an instance", self.client.get_process_instance, process_instance_key)
        except EngineRejected as exc:
            if exc.status == 404:  # REST v2 reads lag the engine by a moment
                return None
            raise
