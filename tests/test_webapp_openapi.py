"""The API fuzzed against its own ``/openapi.json`` with schemathesis (issue 5).

A bounded run per operation, valid and invalid requests alike, on the webapp wired to
the real engine: no response may be a 5xx, and every response must match the document
(status code, content type, body schema). Invalid requests must be refused.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.web_helpers import ADMIN
from webapp.openapi import openapi_document

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# Every operation of the document is fuzzed with valid requests. Those with a body or a
# query or header parameter are fuzzed with invalid ones too; path-only operations are
# not, because schemathesis cannot build an invalid path value that stays a URL.
DOCUMENT = openapi_document()
OPERATIONS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]
WITH_INPUT = [
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if operation.get("requestBody") or any(p["in"] != "path" for p in operation.get("parameters", []))
]
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in WITH_INPUT
]


@pytest.fixture(scope="module")
def api_schema(web_app):
    """The document as the running app serves it, with calls going to the app in-process."""
    return schemathesis.openapi.from_wsgi("/openapi.json", web_app)


# schemathesis' own pytest integration (``from_fixture``) does not run on pytest 9, so
# each operation gets a plain hypothesis test built from schemathesis' strategies.
@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_the_api_keeps_its_openapi_document(api_schema, label, mode):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is documented but not served"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(headers=ADMIN, checks=CHECKS)

    fuzz()


def test_the_document_is_valid_openapi(web):
    document = web.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/api/resumes" in document["paths"]
    assert document["components"]["schemas"]["UnlockRequest"]["additionalProperties"] is False
