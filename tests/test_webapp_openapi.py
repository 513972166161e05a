"""The API fuzzed against its own ``/openapi.json`` with schemathesis (issue 5).

A bounded run per operation, valid and invalid requests alike, on the webapp wired to
the real engine: no response may be a 5xx, and every response must match the document
(status code, content type, body schema). Invalid requests must be refused.

Derandomized like every fuzz here (tests/fuzzing.py): `HIREFLOW_FUZZ_RANDOM=1` draws new cases.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode

import pytest
import schemathesis
from hypothesis import given
from jsonschema import Draft202012Validator
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from tests.fuzzing import FUZZ_EXAMPLES, fuzz_settings
from tests.web_helpers import ADMIN
from webapp.openapi import openapi_document
from webapp.schemas import IDENTIFIER

# The path ids the routes check with webapp.http.path_id (items' business ids are looked up).
CHECKED_PATH_IDS = {"posting_id", "candidate_id", "employer_id", "username"}

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# Every operation of the document is fuzzed with valid requests. Those with a body, a
# query parameter or a header that can be wrong are fuzzed with invalid ones too.
# Path-only operations are not, because schemathesis cannot build an invalid path value
# that stays a URL; nor is a header that takes any text (If-None-Match), which no value breaks.
DOCUMENT = openapi_document()
OPERATIONS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]


def can_be_invalid(parameter: dict) -> bool:
    if parameter["in"] == "path":
        return False
    return parameter["in"] != "header" or parameter["schema"] != {"type": "string"}


WITH_INPUT = [
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if operation.get("requestBody") or any(can_be_invalid(p) for p in operation.get("parameters", []))
]
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in WITH_INPUT
]


def multipart_case_is_valid_on_the_wire(label: str, case) -> bool:
    """Whether a generated multipart body is valid once sent as form fields.

    A form field is text on the wire: schemathesis makes a field invalid by giving it
    null, a number or a boolean, and sends that as the text "null", "5" or "true", which
    may well be a valid name or id. Judge the body as the server receives it.
    """
    method, path = label.split(" ", 1)
    content = DOCUMENT["paths"][path][method.lower()].get("requestBody", {}).get("content", {})
    if "multipart/form-data" not in content or not isinstance(case.body, dict):
        return False
    as_sent = {
        name: value if isinstance(value, str) else "<file>" if isinstance(value, bytes) else json.dumps(value)
        for name, value in case.body.items()
    }
    return Draft202012Validator(content["multipart/form-data"]["schema"]).is_valid(as_sent)


def _as_sent(value: str, schema: dict):
    """A query value as the server reads it: digits are a number where one is asked for."""
    if schema.get("type") == "integer" and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return value


def query_is_valid_as_sent(label: str, case) -> bool:
    """Whether the query string the server receives is valid.

    schemathesis breaks a query's ``additionalProperties`` with parameters such as
    ``{"": []}``, whose empty list encodes to nothing: the request sent is then valid.
    """
    method, path = label.split(" ", 1)
    operation = DOCUMENT["paths"][path][method.lower()]
    documented = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    sent = parse_qs(urlencode(case.query or {}, doseq=True), keep_blank_values=True)
    for name, values in sent.items():
        schema = documented.get(name, {}).get("schema")
        if schema is None or len(values) != 1:
            return False
        if not Draft202012Validator(schema).is_valid(_as_sent(values[0], schema)):
            return False
    return all(name in sent for name, parameter in documented.items() if parameter.get("required"))


def negative_case_is_valid_as_sent(label: str, case) -> bool:
    """Whether an invalid case reaches the server valid: each broken part is mended on the way.

    Every case is sent with the admin token, which puts back a removed or broken
    ``Authorization`` header; a broken query may encode to a valid one. A broken body or
    path, or another header, is taken as sent.
    """
    components = getattr(getattr(case, "meta", None), "components", None) or {}
    broken = [where for where, info in components.items() if info.mode is GenerationMode.NEGATIVE]
    method, path = label.split(" ", 1)
    headers = {
        p["name"]
        for p in DOCUMENT["paths"][path][method.lower()].get("parameters", [])
        if p["in"] == "header"
    }
    for where in broken:
        if where is ParameterLocation.HEADER and headers <= {"Authorization"}:
            continue
        if where is ParameterLocation.QUERY and query_is_valid_as_sent(label, case):
            continue
        return False
    return bool(broken)


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
    @fuzz_settings(FUZZ_EXAMPLES)
    def fuzz(case):
        checks = CHECKS
        if mode is GenerationMode.NEGATIVE and (
            multipart_case_is_valid_on_the_wire(label, case) or negative_case_is_valid_as_sent(label, case)
        ):
            # The server receives valid data, so accepting it is right.
            checks = [check for check in CHECKS if check is not negative_data_rejection]
        case.call_and_validate(headers=ADMIN, checks=checks)

    fuzz()


def test_the_document_is_valid_openapi(web):
    document = web.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/api/resumes" in document["paths"]
    assert document["components"]["schemas"]["UnlockRequest"]["additionalProperties"] is False
    operations = [op for item in document["paths"].values() for op in item.values()]
    answers = [answer for op in operations for answer in op["responses"].values()]
    assert all("X-Request-ID" in answer["headers"] for answer in answers)
    assert "X-Request-ID" in web.get("/openapi.json").headers
    # Every reference leads to a schema of the document (a nested model once pointed to pydantic's $defs).
    references = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    schemas = {f"#/components/schemas/{name}" for name in document["components"]["schemas"]}
    assert references and references <= schemas, references - schemas


def test_an_id_in_the_path_is_documented_as_the_routes_check_it(web):
    """A client learns from the document which ids the API takes, not from its 400s."""
    documented = [
        (f"{method.upper()} {path}", parameter["schema"], operation["responses"])
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"] in CHECKED_PATH_IDS
    ]
    assert len(documented) > 10
    for label, schema, responses in documented:
        assert schema == {"type": "string", "pattern": IDENTIFIER}, label
        assert "400" in responses, label
    refused = web.get("/api/postings/-p1", headers=ADMIN)  # not starting with a letter or digit
    assert refused.status_code == 400
    assert refused.json["invalid_params"][0]["name"] == "posting_id"


def test_a_query_parameter_a_route_needs_is_documented_as_required(web):
    required = {
        (f"{method.upper()} {path}", parameter["name"])
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["required"]
    }
    # Who asks for a candidate's contact details is no option (it was documented as one).
    assert required == {("GET /api/candidates/{candidate_id}/contact", "employer_id")}
    refused = web.get("/api/candidates/ada/contact", headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json["invalid_params"] == [{"name": "employer_id", "reason": "Field required"}]


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        # Found by CI: candidate_name made null goes out as the text "null", a valid name.
        ({"file": b"%PDF", "candidate_id": "c1", "candidate_email": "a@b.co", "candidate_name": None}, True),
        ({"file": b"%PDF", "candidate_id": "c1", "candidate_email": "a@b.co", "candidate_name": ""}, False),
        (
            {
                "file": b"%PDF",
                "candidate_id": "c1",
                "candidate_email": "a@b.co",
                "candidate_name": "A",
                "x": 1,
            },
            False,
        ),
        ({"candidate_id": "c1", "candidate_email": "a@b.co", "candidate_name": "A"}, False),
    ],
)
def test_a_multipart_body_is_judged_as_it_is_sent(body, valid):
    case = type("Case", (), {"body": body})
    assert multipart_case_is_valid_on_the_wire("POST /api/resumes", case) is valid
    assert multipart_case_is_valid_on_the_wire("POST /api/applications", case) is False  # JSON, not multipart
