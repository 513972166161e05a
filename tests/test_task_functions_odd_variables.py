"""Every task function fed variables of the right kind with odd contents (issue 3's failure policy).

The router refuses a variable of the wrong kind (text where a list belongs) before the task
runs. What is inside a variable of the right kind, a slot without its end or an id with a
line break, is the task's to judge: it must come out as a BPMN error, a wait, a permanent
failure that names the variable, or a known technical fault, never as an exception the
failure policy can only call a probable bug and retry for minutes. Found by this very
run: slot links from a malformed offer, a panel member whose username is a list, ids no
HTTP header could carry.

Derandomized, so every `make test` tries the same cases (tests/fuzzing.py).
"""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET

import jinja2
import jinja2.meta
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyzeebe import Job

from hireflow.adapters.email import EmailTemplates
from hireflow.constants import Header, JobType
from hireflow.errors import BusinessOutcome, PermanentFailure, RetryLater
from hireflow.model_checks import MODELS_DIR, NS
from job_workers.incidents import UNEXPECTED, cause_of
from job_workers.notifications import TEMPLATE_EXTRAS
from job_workers.task_router import kinds_of
from job_workers.worker import ROUTER_BUILDERS
from tests.fuzzing import FUZZ_EXAMPLES, fuzz_settings
from tests.jobs import make_job

# Three per schemathesis example: a task call is cheap, and there is one run per job type.
EXAMPLES_PER_TASK = 3 * FUZZ_EXAMPLES

# Keys the variables' objects have (a panel member, a slot, a price, a score), and values
# that get past a first look: a timestamp, a zone, an email, a card.
KEYS = ["username", "email", "name", "timezone", "working_hours", "days", "start", "end"]
KEYS += ["amount_cents", "currency", "credits", "skills", "score", "matched", "id"]
PLAUSIBLE = ["2026-12-14T09:00:00Z", "Europe/Berlin", "ada", "ada@example.com", "pm_card_visa", "acme", ""]
TEXT = st.one_of(st.text(max_size=24), st.sampled_from(PLAUSIBLE))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False), TEXT)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)
OF_KIND = {
    str: TEXT,
    int: st.integers(-3, 10**6),
    list: st.lists(JSON, max_size=3),
    dict: st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5),
    type(None): st.none(),
}


def headers_in_models() -> dict[str, list[dict[str, str]]]:
    """Each job type's task headers, one dict per service task that uses it."""
    found: dict[str, list[dict[str, str]]] = {}
    for path in sorted(MODELS_DIR.glob("*.bpmn")):
        for task in ET.parse(path).getroot().iter(f"{{{NS['bpmn']}}}serviceTask"):
            definition = task.find("bpmn:extensionElements/zeebe:taskDefinition", NS)
            headers = task.iterfind("bpmn:extensionElements/zeebe:taskHeaders/zeebe:header", NS)
            found.setdefault(definition.get("type"), []).append(
                {h.get("key"): h.get("value") for h in headers}
            )
    return found


HEADERS = headers_in_models()
JOB_TYPES = sorted(HEADERS)


def variables_for(function) -> st.SearchStrategy[dict]:
    """Each parameter's variable, of the kind its annotation names; an optional one may be absent."""
    parameters = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.annotation is not Job and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    fields = {}
    optional = {}
    for p in parameters:
        kinds = kinds_of(p.annotation)
        value = st.one_of([OF_KIND[kind] for kind in kinds]) if kinds else JSON
        (fields if p.default is inspect.Parameter.empty else optional)[p.name] = value
    return st.fixed_dictionaries(fields, optional=optional)


def template_variables(template: str) -> set[str]:
    """The names an email template reads, besides what ``email_for`` adds to every context."""
    env = EmailTemplates().env
    source = env.loader.get_source(env, f"{template}.txt")[0]
    return jinja2.meta.find_undeclared_variables(env.parse(source)) - TEMPLATE_EXTRAS - set(env.globals)


def email_variables(headers: dict[str, str]) -> st.SearchStrategy[dict]:
    """send-email's variables, which its task headers name (it has no parameters): the
    recipient, the business id and what the template reads, each plausible or odd."""
    recipient = st.one_of(st.just("ada@example.com"), JSON)
    business_id = st.one_of(st.just("res_1"), JSON)
    named = {
        headers[Header.EMAIL_RECIPIENT_VARIABLE]: recipient,
        headers[Header.EMAIL_BUSINESS_ID_VARIABLE]: business_id,
    }
    read = {name: JSON for name in template_variables(headers[Header.EMAIL_TEMPLATE]) if name not in named}
    return st.fixed_dictionaries(named, optional=read)


def headers_and_variables(job_type: str, function) -> st.SearchStrategy[tuple[dict, dict]]:
    """A service task's headers, and variables for the task they configure."""
    headers = st.sampled_from(HEADERS[job_type])
    if job_type == JobType.SEND_EMAIL:
        return headers.flatmap(lambda chosen: st.tuples(st.just(chosen), email_variables(chosen)))
    return st.tuples(headers, variables_for(function))


@pytest.mark.parametrize("job_type", JOB_TYPES)
def test_a_task_fails_on_odd_variables_only_as_the_failure_policy_knows(local_world, job_type):
    [task] = [t for build in ROUTER_BUILDERS for t in build(local_world.services).tasks if t.type == job_type]
    function = task.original_function  # the router's check of the variables' kinds, then the task
    parameters = inspect.signature(function).parameters
    takes_job = [p.name for p in parameters.values() if p.annotation is Job]

    @given(headers_and_variables=headers_and_variables(job_type, function), key=st.integers(1, 10**9))
    @fuzz_settings(EXAMPLES_PER_TASK)
    def run(headers_and_variables, key):
        headers, variables = headers_and_variables
        job = make_job(job_type, headers=headers, element_instance_key=key, variables=variables)
        # As pyzeebe calls it: the variables its parameters name (send-email's are in the job).
        taken = {name: value for name, value in variables.items() if name in parameters}
        arguments = {**taken, **{name: job for name in takes_job}}
        try:
            function(**arguments)
        except (BusinessOutcome, RetryLater, PermanentFailure):
            pass
        except Exception as exc:  # noqa: BLE001 - the point: which exceptions come out
            assert cause_of(exc) is not UNEXPECTED, f"{job_type} with {variables!r}: {exc!r}"

    run()
