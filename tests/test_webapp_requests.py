"""The webapp's door: bad requests get a clear 4xx and leave nothing behind (issue 5).

No engine runs here: the engine client points at a closed port. That is also how the
tests check that an unreachable engine answers 503 with Retry-After, loses nothing
and makes ``/readyz`` say why. The features' own requests are tested beside them
(``test_webapp_<feature>.py``); the helpers they share are in ``tests/offline_webapp.py``.
"""

from __future__ import annotations

import inspect
import io
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import get_args

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy.exc import DataError, IntegrityError

from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.adapters.s3_file_store import S3FileStore, s3_client
from hireflow.camunda_rest import CamundaApiError
from hireflow.engine.embedded import free_port
from hireflow.flask_json import MAX_NESTING
from hireflow.signed_links import SlotLinks
from hireflow.store import BusinessRecord, Candidate, Database, JobPosting, RequestClaim, utcnow
from job_workers.records import record_status
from tests.offline_webapp import (
    MAX_UPLOAD,
    add_first_status,
    empty_services,
    offline_app,
    refused_field,
    rows,
    stored_files,
)
from tests.resume_samples import docx_damaged, pdf_resume
from tests.web_helpers import (
    ADMIN,
    ADMIN_TOKEN,
    csrf_token,
    payment_succeeded,
    resume_upload,
    signed_webhook,
)
from webapp import create_app
from webapp.domain import KINDS
from webapp.engine import EngineRejected, EngineUnavailable, call_engine
from webapp.openapi import openapi_document
from webapp.problems import HTML_BLUEPRINTS, INVALID_REQUEST, TYPE_BASE, problem_type
from webapp.schemas import PATTERN_IN_WORDS, ItemKind


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "filename", "status", "reason"),
    [
        (b"%PDF-1.7\n" + b"0" * (MAX_UPLOAD + 1), "big.pdf", 413, "larger than"),
        (b"GIF89a not a resume", "cv.pdf", 415, "file: The file is not a PDF or Word (.docx) document."),
        (b"\xff\xd8\xff\xe0 a photo", "cv.pdf", 415, "Word (.docx) document. It is an image (JPEG)."),
        (b"PK\x03\x04 a broken zip", "cv.docx", 415, "file: The file is damaged and cannot be read."),
        (docx_damaged("needs-zip-6.5"), "cv.docx", 415, "file: The file is damaged and cannot be read."),
        (b"MZ\x90\x00 a program", "cv.exe", 415, "only .pdf and .docx"),
        (pdf_resume(pages=1), "cv.docx", 415, "content is pdf"),
        (docx_bytes(), "cv.pdf", 415, "content is docx"),
        (b"", "empty.pdf", 400, "empty"),
        (pdf_resume(pages=1), "../../etc/cron.d/x.pdf", 400, "plain"),
        (pdf_resume(pages=1), "..\\..\\boot.pdf", 400, "plain"),
        (pdf_resume(pages=1), "C:evil.pdf", 400, "plain"),
        (pdf_resume(pages=1), ".hidden.pdf", 400, "plain"),
        (pdf_resume(pages=1), "cv\x00.pdf", 400, "plain"),
        (pdf_resume(pages=1), "cv\n.pdf", 400, "plain"),
        (pdf_resume(pages=1), "x" * 300 + ".pdf", 400, "plain"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing_behind(offline, content, filename, status, reason):
    app, services, files = offline
    response = app.test_client().post("/api/resumes", **resume_upload(content, filename))
    assert response.status_code == status, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["invalid_params"][0]["name"] == "file"
    assert reason in response.json["detail"]
    assert stored_files(files) == []
    assert rows(services, RequestClaim) == rows(services, BusinessRecord) == 0


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "mimetype"),
    [
        (BROWSER_ACCEPT, "text/html"),  # a retired link in an old mail, opened in a browser
        ("*/*", "application/problem+json"),  # curl, requests
        ("application/json", "application/problem+json"),
    ],
)
def test_a_url_that_matches_nothing_answers_404_in_the_form_the_client_reads(offline, accept, mimetype):
    app, _, _ = offline
    answer = app.test_client().get("/items/unlock/unl_1/card", headers={"Accept": accept})
    assert (answer.status_code, answer.mimetype) == (404, mimetype)
    assert "not found" in answer.text.lower()


def test_where_tasklist_exists_the_task_pages_send_people_there(offline):
    app, _, _ = offline  # an engine with a REST API, as a cluster has: Tasklist is there
    for path in ("/tasks", "/tasks/123"):
        answer = app.test_client().get(path)
        assert answer.status_code == 404 and "Tasklist" in answer.text
    assert "/tasks" not in app.test_client().get("/").text  # no link to them either


def test_a_body_beyond_the_request_limit_is_refused_before_it_is_read(offline):
    app, _, files = offline
    huge = b"%PDF-" + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = app.test_client().post("/api/resumes", **resume_upload(huge))
    assert response.status_code == 413
    assert response.json["title"] == "Request Entity Too Large"
    assert stored_files(files) == []


def patterns_in(schema) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return found.union(*(patterns_in(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(patterns_in(value) for value in schema))
    return set()


def test_the_kinds_a_query_names_are_the_kinds_of_item():
    assert set(get_args(ItemKind)) == set(KINDS)


def test_every_pattern_a_request_must_match_is_said_in_words():
    # A refusal said "String should match pattern '^[A-Za-z0-9._%+-]{1,64}@...'".
    patterns = patterns_in(openapi_document())
    assert patterns and patterns <= set(PATTERN_IN_WORDS)


def test_fields_are_checked_and_named(offline):
    client = offline[0].test_client()
    missing = client.post(
        "/api/resumes", **resume_upload(pdf_resume(pages=1), candidate_email="not-an-email")
    )
    assert missing.status_code == 400
    assert missing.json["invalid_params"] == [
        {"name": "candidate_email", "reason": "should be an email address, like name@example.com"}
    ]
    # Everything wrong is named in one answer: a client fixing one field at a time would
    # otherwise learn of the missing file only on its second try.
    no_file = client.post(
        "/api/resumes",
        data={
            "candidate_id": "ada",
            "candidate_name": "Ada",
            "candidate_email": "ada@",
            "photo": (io.BytesIO(b"x"), "me.png"),
        },
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 400
    assert [p["name"] for p in no_file.json["invalid_params"]] == ["candidate_email", "photo", "file"]
    not_multipart = client.post("/api/resumes", json={"candidate_id": "x"})
    assert not_multipart.status_code == 415
    unknown = client.post("/api/unlocks", json={"employer_id": "e", "surprise": True})
    assert unknown.status_code == 400
    assert {"surprise", "candidate_id"} <= {p["name"] for p in unknown.json["invalid_params"]}
    not_json = client.post("/api/applications", data="candidate_id=x")
    assert not_json.status_code == 415
    broken_json = client.post("/api/applications", data="{", content_type="application/json")
    assert broken_json.status_code == 400
    assert client.get("/api/resumes/nope").status_code == 404
    assert client.delete("/api/resumes").status_code == 405
    unknown_candidate = client.post(
        "/api/unlocks",
        json={"employer_id": "e", "employer_email": "e@example.com", "candidate_id": "nobody"},
    )
    assert unknown_candidate.status_code == 422
    assert unknown_candidate.json["invalid_params"][0]["name"] == "candidate_id"


def multipart_body(parts: list[tuple[bytes, bytes]]) -> dict:
    """A raw multipart body: each part's Content-Disposition parameters and content, as sent."""
    body = b"".join(
        b"--B\r\nContent-Disposition: form-data" + disposition + b"\r\n\r\n" + content + b"\r\n"
        for disposition, content in parts
    )
    return {"data": body + b"--B--\r\n", "content_type": "multipart/form-data; boundary=B"}


RESUME_FIELD_PARTS = [
    (b'; name="candidate_id"', b"ada"),
    (b'; name="candidate_name"', b"Ada"),
    (b'; name="candidate_email"', b"ada@example.com"),
]


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        # Found by a deep fuzz (HIREFLOW_FUZZ_EXAMPLES=300): a part whose name held a line
        # break was named null in invalid_params, which the document says is a string.
        (
            "/api/admin/deployments",
            [(b'; name="resources"; filename="a.bpmn"', b"<x/>"), (b'; name="a\nb"', b"v")],
        ),
        ("/api/admin/deployments", [(b'; filename="a.bpmn"', b"<x/>")]),
        ("/api/resumes", [*RESUME_FIELD_PARTS, (b'; name="file"; filename="cv.pdf"', b"%PDF"), (b"", b"v")]),
        (
            "/api/resumes",
            [
                *RESUME_FIELD_PARTS,
                (b'; name="file"; filename="cv.pdf"', b"%PDF"),
                (b'; filename="b.pdf"', b"x"),
            ],
        ),
    ],
)
def test_a_multipart_part_without_a_name_is_refused_in_words(offline, path, parts):
    app, services, files = offline
    response = app.test_client().post(path, headers=ADMIN, **multipart_body(parts))
    assert response.status_code == 400, response.json
    assert response.json["invalid_params"] == [
        {
            "name": "body",
            "reason": "1 multipart part(s) without a name; give each part a Content-Disposition of"
            ' form-data; name="..." (a name cannot hold a line break)',
        }
    ]
    assert "None" not in response.json["detail"]
    assert stored_files(files) == []
    assert rows(services, RequestClaim) == rows(services, BusinessRecord) == 0


def test_a_resume_with_an_unnamed_part_and_a_wrong_field_names_both(offline):
    app = offline[0]
    parts = [
        (b'; name="candidate_id"', b"ada"),
        (b'; name="candidate_name"', b"Ada"),
        (b'; name="candidate_email"', b"ada@"),
        (b'; name="file"; filename="cv.pdf"', pdf_resume(pages=1)),
        (b'; foo="bar"', b"v"),
    ]
    response = app.test_client().post("/api/resumes", **multipart_body(parts))
    assert response.status_code == 400
    assert [p["name"] for p in response.json["invalid_params"]] == ["candidate_email", "body"]


def test_a_resume_field_or_file_sent_twice_is_refused_not_picked(offline):
    # Found by the fuzz in make test: candidate_name sent ten times, the first value taken.
    app, services, files = offline
    resume = (b'; name="file"; filename="cv.pdf"', pdf_resume(pages=1))
    parts = [
        (b'; name="candidate_id"', b"ada"),
        (b'; name="candidate_name"', b"Ada"),
        (b'; name="candidate_name"', b"Grace"),
        (b'; name="candidate_email"', b"ada@example.com"),
        resume,
        resume,
    ]
    response = app.test_client().post("/api/resumes", **multipart_body(parts))
    assert response.status_code == 400
    assert response.json["invalid_params"] == [
        {"name": "candidate_name", "reason": "given more than once; send one value"},
        {"name": "file", "reason": "send one resume file per upload"},
    ]
    assert stored_files(files) == []
    assert rows(services, RequestClaim) == rows(services, BusinessRecord) == 0


def deep_array(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# Nested 5,000 deep (10 KB): Python's parser gives up with a RecursionError some 1,000
# levels down on 3.11 (request.get_json does not turn that into a refusal: it was a 500),
# 1,500 on 3.12, and reads it whole on 3.13.
DEEP_ARRAY = deep_array(5000)
DEEP_OBJECT = deep_object(5000)
TOO_DEEP = f"the body is not JSON: nested deeper than the {MAX_NESTING} levels hireflow reads"


@pytest.mark.parametrize(
    "path", ["/api/applications", "/api/unlocks", "/api/interviews", "/api/admin/postings/p-1"]
)
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_json_nested_too_deeply_is_refused_as_unreadable(offline, path, body):
    app, services, _ = offline
    send = app.test_client().put if path.startswith("/api/admin/") else app.test_client().post
    response = send(path, data=body, content_type="application/json", headers=ADMIN)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["detail"] == TOO_DEEP
    assert rows(services, RequestClaim) == rows(services, BusinessRecord) == 0


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 300, 1200, 20000])
@pytest.mark.parametrize("nested", [deep_array, deep_object], ids=["array", "object"])
def test_the_nesting_limit_is_the_same_on_every_python(offline, nested, levels):
    # The limit was wherever the interpreter's parser or pydantic's gave up, in their
    # words: from some 200 levels to 1,000, pydantic's "recursion limit exceeded at line 1
    # column 1006"; deeper, "nested too deeply to read" (on 3.11; on 3.13 from 10,000).
    client = offline[0].test_client()
    body = b'{"posting_id": ' + nested(levels) + b"}"
    response = client.post("/api/applications", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["detail"] == TOO_DEEP


@pytest.mark.parametrize("nested", [deep_array, deep_object], ids=["array", "object"])
def test_a_body_nested_to_the_limit_is_read(offline, nested):
    # The outer object is level 1, so the posting id nests MAX_NESTING - 1 levels below it.
    client = offline[0].test_client()
    body = b'{"posting_id": ' + nested(MAX_NESTING - 1) + b"}"
    response = client.post("/api/applications", data=body, content_type="application/json")
    # Read, so refused for what it says: a posting id is a string, and a candidate id is missing.
    assert response.status_code == 400
    assert {problem["name"] for problem in response.json["invalid_params"]} == {"posting_id", "candidate_id"}


def test_every_refused_request_is_of_the_invalid_request_type(offline):
    # A body that was no JSON object, or an unreadable webhook event, was of type
    # about:blank, while a bad field was invalid-request: a client telling refusals by
    # their type missed the first kind.
    client = offline[0].test_client()
    refused = [
        client.post("/api/applications", data=b"{", content_type="application/json"),
        client.post("/api/applications", data=b"[1]", content_type="application/json"),
        client.post("/api/applications", data=DEEP_OBJECT, content_type="application/json"),
        client.post("/api/applications", data=b"{}", content_type="application/json"),
        client.post("/webhooks/payments", **signed_webhook(b"event: paid")),
        client.post("/webhooks/payments", **signed_webhook(b"[1]")),
    ]
    for answer in refused:
        assert answer.status_code == 400, answer.json
        assert answer.json["type"] == INVALID_REQUEST, answer.json


@pytest.mark.parametrize(
    ("status", "title", "type_"),
    [
        (404, "Not found", "about:blank"),
        (409, "Conflict", "about:blank"),
        (413, "Request Entity Too Large", "about:blank"),
        (402, "Card declined", TYPE_BASE + "card-declined"),
        (404, "No such resume", TYPE_BASE + "no-such-resume"),
        (410, "Slot link expired", TYPE_BASE + "slot-link-expired"),
        (500, "Internal error", TYPE_BASE + "internal-error"),
    ],
)
def test_about_blank_is_the_type_only_of_a_problem_titled_as_its_status(status, title, type_):
    assert problem_type(status, title) == type_


def test_a_problem_with_a_title_of_its_own_has_a_type_of_its_own(offline):
    # RFC 9457: about:blank says no more than the status code, whose phrase is its title.
    # "No such resume", "Unlock closed" and some 40 more titles said more under about:blank.
    client = offline[0].test_client()
    missing = client.get("/api/resumes/res_none")
    assert (missing.status_code, missing.json["title"]) == (404, "No such resume")
    assert missing.json["type"] == TYPE_BASE + "no-such-resume"
    unmatched = client.get("/no/such/address")
    assert (unmatched.status_code, unmatched.json["type"], unmatched.json["title"]) == (
        404,
        "about:blank",
        "Not Found",
    )
    wrong_method = client.delete("/api/applications")
    assert (wrong_method.status_code, wrong_method.json["type"]) == (405, "about:blank")


def test_a_body_that_is_no_json_says_where_it_stops_being_json(offline):
    client = offline[0].test_client()
    response = client.post("/api/applications", data=b'{"posting_id": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json["detail"].startswith("the body is not JSON: Expecting value: line 1 column 16")


def test_a_number_too_long_to_read_is_refused_in_words_for_the_client(offline):
    client = offline[0].test_client()
    body = b'{"posting_id": "p-1", "candidate_id": ' + b"9" * 5000 + b"}"
    response = client.post("/api/applications", data=body, content_type="application/json")
    assert response.status_code == 400
    # Not Python's advice to call sys.set_int_max_str_digits().
    assert response.json["detail"].endswith("not JSON: a number of 5,000 digits (at most 4,300 are read)")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (b"NaN", "NaN is not JSON (JSON numbers are finite)"),
        (b"-Infinity", "-Infinity is not JSON (JSON numbers are finite)"),
        (b"1e999", "the number 1e999 is too large for a JSON number"),
        # The engine refused it: "UNKNOWN: Application error processing RPC", a 422.
        (
            b"100000000000000000000",
            "the whole number 100000000000000000000 is beyond the 64 bits the engine keeps numbers in"
            " (-9223372036854775808 to 18446744073709551615)",
        ),
        (b"-9223372036854775809", "the whole number -9223372036854775809 is beyond the 64 bits"),
    ],
)
def test_a_number_json_does_not_have_is_refused_before_anything_is_claimed(offline, number, reason):
    # Python reads them as floats, which no JSON encoder writes again: an admin start with
    # one among its variables failed on its way to the engine, a 500 after its key was claimed.
    app, services, _ = offline
    body = (
        b'{"processDefinitionId": "resume-upload", "businessKey": "k-1", "variables": {"x": ' + number + b"}}"
    )
    response = app.test_client().post(
        "/api/admin/process-instances", data=body, content_type="application/json", headers=ADMIN
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["detail"].startswith(f"the body is not JSON: {reason}")
    assert rows(services, RequestClaim) == 0


def test_the_whole_numbers_the_engine_keeps_are_read_to_their_ends(offline):
    app = offline[0]
    assert app.json.loads("[-9223372036854775808, 18446744073709551615]") == [-(2**63), 2**64 - 1]


def test_json_fields_take_only_their_own_json_type(offline):
    # Found by the schemathesis run: {"limit": true} restarted up to one stalled job, as
    # lax validation reads true as 1. The OpenAPI document says integer, and means it.
    client = offline[0].test_client()
    a_flag = client.post("/api/admin/stalled-jobs/restart", json={"limit": True}, headers=ADMIN)
    assert refused_field(a_flag) == (400, "limit")
    acme = {"name": "Acme", "email": "hr@acme.example", "payment_method_ref": "pm_1Acme"}
    assert client.put("/api/admin/employers/acme", json=acme, headers=ADMIN).status_code == 200
    a_string = client.post(
        "/api/admin/employers/acme/credits", json={"amount": "5", "reference": "order-1"}, headers=ADMIN
    )
    assert refused_field(a_string) == (400, "amount")
    a_fraction = client.post(
        "/api/admin/employers/acme/credits", json={"amount": 5.5, "reference": "order-1"}, headers=ADMIN
    )
    assert refused_field(a_fraction) == (400, "amount")
    # 5.0 is the integer 5 to JSON Schema (schemathesis' CLI sent it), and to the API.
    whole = client.post(
        "/api/admin/employers/acme/credits", json={"amount": 5.0, "reference": "order-1"}, headers=ADMIN
    )
    assert whole.status_code == 201, whole.json
    assert whole.json["balance"] == 5
    posting = {"employer_id": "acme", "title": "Engineer"}
    a_number = client.put("/api/admin/postings/p-1", json={**posting, "open": 1}, headers=ADMIN)
    assert refused_field(a_number) == (400, "open")
    closed = client.put("/api/admin/postings/p-1", json={**posting, "open": False}, headers=ADMIN)
    assert closed.status_code == 200


def test_every_response_carries_the_security_headers(offline):
    client = offline[0].test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    # JSON, a problem, an HTML page and a refused method alike.
    responses = [client.get("/healthz"), client.get("/api/resumes/nope"), client.get("/"), client.put("/")]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_every_blueprint_that_serves_pages_answers_its_errors_as_pages(offline):
    """A page blueprint left out of ``HTML_BLUEPRINTS`` answers a reader's error in JSON."""
    for name, blueprint in offline[0].blueprints.items():
        serves_pages = "render_template" in inspect.getsource(sys.modules[blueprint.import_name])
        assert (name in HTML_BLUEPRINTS) == serves_pages, name


def test_admin_api_needs_the_token(offline):
    client = offline[0].test_client()
    assert client.get("/api/admin/processes").status_code == 401
    assert client.get("/api/admin/processes", headers={"Authorization": "Bearer wrong"}).status_code == 401
    put = client.put(
        "/api/admin/postings/p-1", json={"employer_id": "acme", "title": "Engineer"}, headers=ADMIN
    )
    assert put.status_code == 200


def test_with_the_engine_down_requests_answer_503_and_lose_nothing(offline):
    app, services, _ = offline
    client = app.test_client()
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="c-1", resume_id="r", skills=["python"], indexed_at=utcnow()))
        session.add(JobPosting(posting_id="p-1", employer_id="acme", title="Engineer"))

    upload = client.post("/api/resumes", **resume_upload(pdf_resume(pages=1)))
    application = client.post(
        "/api/applications",
        json={
            "candidate_id": "c-1",
            "candidate_name": "Ada",
            "candidate_email": "ada@example.com",
            "posting_id": "p-1",
            "employer_email": "hr@acme.example",
            "recruiter_team_email": "rec@acme.example",
        },
    )
    webhook = client.post("/webhooks/payments", **signed_webhook(payment_succeeded("evt_1", "pi_1")))
    for response in (upload, application, webhook):
        assert response.status_code == 503, response.json
        assert response.headers["Retry-After"] == "5"
        assert "Nothing was accepted" in response.json["detail"]
    # Nothing half-done: no claim blocks the retry, no item claims to exist.
    assert rows(services, RequestClaim) == rows(services, BusinessRecord) == 0

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["engine"]["ok"] is False
    assert "unreachable" in ready.json["checks"]["engine"]["detail"]
    assert ready.json["checks"]["database"]["ok"] is True
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("answer", "media_type", "said"),
    [
        ("<html>Sign in to the proxy</html>", "text/html", "not JSON (text/html"),  # was a 500
        ("[]", "application/json", "not a topology"),  # another JSON server: was a 500
        ('{"brokers": [{"partitions": [1]}]}', "application/json", "not a topology"),
    ],
)
def test_an_engine_address_that_names_another_server_is_named_in_503s_not_500s(
    tmp_path, serve, answer, media_type, said
):
    not_the_engine = Flask("not_the_engine")
    not_the_engine.add_url_rule(
        "/<path:anything>",
        "any",
        lambda anything: (answer, 200, {"Content-Type": media_type}),
        methods=["GET", "POST"],
    )
    server = serve(not_the_engine)
    client = offline_app(empty_services(tmp_path), ENGINE_REST_URL=server.url).test_client()

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert said in ready.json["checks"]["engine"]["detail"]
    listing = client.get("/api/admin/processes", headers=ADMIN)
    assert listing.status_code == 503 and listing.headers["Retry-After"] == "5"
    assert "not the engine's" in listing.json["detail"]
    assert server.url.removeprefix("http://") not in listing.json["detail"]  # where it is: the log's


@pytest.mark.parametrize(
    ("answer", "start_said", "listing_said", "incidents_said"),
    [
        ("{}", "it has no processInstanceKey", "no list of items", "no list of items"),
        (
            '{"items": [{}]}',
            "it has no processInstanceKey",
            "an item: it has no processDefinitionId",
            "an item: it has no incidentKey",
        ),
        (
            '{"items": [{"processDefinitionId": ["x"], "version": 1, "incidentKey": "k1"}],'
            ' "processInstanceKey": {}}',
            "its processInstanceKey is an object {}",
            'its processDefinitionId is a list ["x"]',
            'its incidentKey is text "k1"',
        ),
        ('"ok"', "it is text, not an object", "no list of items", "no list of items"),
    ],
)
def test_an_engine_answer_of_the_wrong_shape_is_a_503_that_says_what_is_wrong(
    tmp_path, serve, answer, start_said, listing_said, incidents_said
):
    """JSON in another shape than the engine's (another service at the engine's address) was a
    500 from a KeyError or TypeError deep in the webapp; the item's page too."""
    not_the_engine = Flask("not_the_engine")
    not_the_engine.add_url_rule(
        "/<path:anything>",
        "any",
        lambda anything: (answer, 200, {"Content-Type": "application/json"}),
        methods=["GET", "POST"],
    )
    server = serve(not_the_engine)
    services = empty_services(tmp_path)
    add_first_status(services, "application", "app_1", "submitted")
    client = offline_app(services, ENGINE_REST_URL=server.url).test_client()

    start = {"processDefinitionId": "resume-upload", "businessKey": "bk-1", "variables": {}}
    for response, said in [
        (client.post("/api/admin/process-instances", headers=ADMIN, json=start), start_said),
        (client.get("/api/admin/processes", headers=ADMIN), listing_said),
        (client.get("/api/admin/incidents", headers=ADMIN), incidents_said),
    ]:
        assert response.status_code == 503, response.json
        assert said in response.json["detail"] and "not the engine's" in response.json["detail"]
    status = client.get("/api/applications/app_1")
    assert status.status_code == 200
    assert status.json["status"] == "submitted" and status.json["engine"]["reachable"] is False


@pytest.mark.parametrize("odd_id", ["a%00b", "%00"])
def test_an_item_id_with_a_nul_is_no_item_on_either_database(tmp_path, store_url, odd_id):
    # PostgreSQL refuses a NUL in a text it is asked to look up: each was a 500 there.
    client = offline_app(empty_services(tmp_path, store_url)).test_client()
    for path in (f"/api/applications/{odd_id}", f"/api/unlocks/{odd_id}", f"/items/application/{odd_id}"):
        assert client.get(path).status_code == 404, path
    withdrawal = client.post(f"/api/applications/{odd_id}/withdrawal")
    assert withdrawal.status_code == 404


def test_a_form_refused_for_an_id_with_a_nul_is_shown_again_on_either_database(tmp_path, store_url):
    # The console shows a refused form again with what was typed, and looked the posting or
    # employer typed up to offer it: PostgreSQL refused the lookup, a 500.
    client = offline_app(empty_services(tmp_path, store_url)).test_client()
    assert client.get("/?posting_id=a%00b&employer_id=%00").status_code == 200
    token = csrf_token(client.get("/").text)
    for form, field in (("/applications", "posting_id"), ("/unlocks", "employer_id")):
        refused = client.post(form, data={"csrf_token": token, "candidate_id": "cand-1", field: "a\x00b"})
        assert refused.status_code == 400, form
        assert "should be 1 to 100 letters" in refused.text


def answer_to(app, error: Exception):
    """The app's answer to a request whose handling raises ``error``."""

    def fail():
        raise error

    app.add_url_rule("/test-failure", "test_failure", fail)
    return app.test_client().get("/test-failure")


def test_a_value_the_database_refuses_is_a_400_that_says_so_not_a_500(offline):
    # The checks at the door refuse such values first; one that gets past them is still the
    # request's fault, not a 500 and not the database being down.
    refusal = DataError("SELECT 1", {}, ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))
    response = answer_to(offline[0], refusal)
    assert response.status_code == 400
    assert response.json["detail"] == (
        "the database cannot store a value of this request (PostgreSQL text fields cannot contain NUL"
        " (0x00) bytes)"
    )


def test_a_unique_key_met_in_a_race_is_a_409_to_retry_not_a_500(offline):
    race = IntegrityError("INSERT", {}, ValueError("UNIQUE constraint failed: job_postings.posting_id"))
    response = answer_to(offline[0], race)
    assert (response.status_code, response.headers["Retry-After"]) == (409, "1")
    assert response.json["title"] == "Conflict with a concurrent request"
    assert "job_postings" not in response.json["detail"]  # the schema stays ours


def test_with_the_file_store_down_an_upload_answers_503_and_claims_nothing(offline, monkeypatch):
    app, services, _ = offline
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "offline-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "offline-test")
    services.files = S3FileStore(s3_client(f"http://127.0.0.1:{free_port()}"), "hireflow-files")
    client = app.test_client()

    upload = client.post("/api/resumes", **resume_upload(pdf_resume(pages=1)))
    assert upload.status_code == 503, upload.json
    assert upload.json["title"] == "File store unavailable"
    assert upload.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in upload.json["detail"]  # where the store is stays in the log
    assert rows(services, RequestClaim) == 0

    files = client.get("/readyz").json["checks"]["files"]
    assert files["ok"] is False and "Could not connect" in files["detail"]


def test_with_the_database_down_requests_answer_503_not_500(tmp_path):
    services = empty_services(tmp_path)
    services.db = Database(f"sqlite:///{tmp_path / 'no-such-folder' / 'domain.sqlite3'}")
    client = offline_app(services).test_client()

    posting = {"employer_id": "acme", "title": "Engineer"}
    for response in (
        client.get("/api/resumes/res_1"),
        client.post("/api/resumes", **resume_upload(pdf_resume(pages=1))),
        client.put("/api/admin/postings/p-1", json=posting, headers=ADMIN),
    ):
        assert response.status_code == 503, response.json
        assert response.json["title"] == "Database unavailable"
        assert response.headers["Retry-After"] == "5"
    assert client.get("/readyz").json["checks"]["database"]["ok"] is False
    # The document says so for every API operation: each one reads or writes the store.
    for path, item in openapi_document()["paths"].items():
        if path.startswith("/api/"):
            assert all("503" in operation["responses"] for operation in item.values()), path


def test_erasing_a_candidate_whose_item_may_still_run_waits_for_the_engine(offline):
    app, services, _ = offline
    record_status(
        services.db, "resume", "res_9", "received", {"candidate_id": "cand_9", "process_instance_key": "1"}
    )
    client = app.test_client()
    response = client.delete("/api/candidates/cand_9")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert rows(services, BusinessRecord) == 1  # nothing erased
    assert client.delete("/api/candidates/cand_unknown").status_code == 404


def test_webhooks_refuse_bad_signatures_and_ignore_unused_events(offline):
    client = offline[0].test_client()
    event = payment_succeeded("evt_2", "pi_2")
    assert client.post("/webhooks/payments", json=event).status_code == 400  # no signature
    stale = client.post("/webhooks/payments", **signed_webhook(event, timestamp=1_000_000_000))
    assert stale.status_code == 400 and "tolerance" in stale.json["detail"]
    # Headers int() or compare_digest refused (a 500 each): "²" is a digit to str.isdigit.
    for header in ("t=\u00b2,v1=abc", f"t={int(time.time())},v1=\u00e9", "t=" + "9" * 5000 + ",v1=a"):
        odd = client.post("/webhooks/payments", json=event, headers={"Stripe-Signature": header})
        assert odd.status_code == 400 and odd.json["title"] == "Invalid webhook signature", header
    unused = client.post("/webhooks/payments", **signed_webhook({**event, "type": "charge.dispute.created"}))
    assert unused.status_code == 200 and unused.json["status"] == "ignored"
    bad_object = client.post(
        "/webhooks/payments",
        **signed_webhook({**event, "data": {"object": {"id": "../x", "metadata": {"unlock_id": "unl_2"}}}}),
    )
    assert bad_object.status_code == 400
    assert bad_object.json["invalid_params"][0]["name"] == "data.object.id"
    bad_unlock = client.post(
        "/webhooks/payments",
        **signed_webhook({**event, "data": {"object": {"id": "pi_2", "metadata": {"unlock_id": "../x"}}}}),
    )
    assert bad_unlock.status_code == 400
    assert bad_unlock.json["invalid_params"][0]["name"] == "data.object.metadata.unlock_id"
    # Python's "$" also matches before a final line break: an id is matched in full.
    for obj in (
        {"id": "pi_2\n", "metadata": {"unlock_id": "unl_2"}},
        {"id": "pi_2", "metadata": {"unlock_id": "unl_2\n"}},
    ):
        trailing = client.post("/webhooks/payments", **signed_webhook({**event, "data": {"object": obj}}))
        assert trailing.status_code == 400, obj
    # Signed, so from the provider (or one holding its secret), but no event.
    unreadable = (b"event: paid", b"\xff\xfe", DEEP_ARRAY, DEEP_OBJECT)
    for body, reason in [*((body, "not JSON") for body in unreadable), (b"[1]", "a JSON object")]:
        refused = client.post("/webhooks/payments", **signed_webhook(body))
        assert refused.status_code == 400 and reason in refused.json["detail"], body


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "payment_intent.payment_failed"])
def test_events_about_payments_of_no_unlock_are_acknowledged_and_left_alone(offline, event_type):
    # The provider's account serves the rest of the marketplace too (say, its credit packs).
    app, services, _ = offline
    others = {"id": "pi_1Other", "metadata": {}}
    event = {"id": "evt_other_1", "type": event_type, "data": {"object": others}}
    response = app.test_client().post("/webhooks/payments", **signed_webhook(event))
    assert (response.status_code, response.json["status"]) == (200, "ignored")
    assert "not about an unlock" in response.json["message"]
    assert rows(services, RequestClaim) == 0  # nothing published


def test_slot_links_that_are_tampered_or_expired_are_refused(offline):
    app, services, _ = offline
    client = app.test_client()
    token = services.slot_links.token_for(
        "int-1", {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}
    )
    assert client.get(f"/interviews/slot/{token[:-2]}xx").status_code == 404
    expired = SlotLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    services.slot_links, original = expired, services.slot_links
    try:
        page = client.get(f"/interviews/slot/{token}")
    finally:
        services.slot_links = original
    assert page.status_code == 410
    assert "expired" in page.text
    assert page.mimetype == "text/html"


API_TOKEN = "offline-test-api-token"


@pytest.fixture
def guarded(tmp_path: Path):
    """An app as production runs it: the domain API needs its token and the console is off."""
    services = empty_services(tmp_path)
    config = {
        "TESTING": True,
        "ENGINE_REST_URL": f"http://127.0.0.1:{free_port()}",
        "ENGINE_TIMEOUT_SECONDS": 2.0,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "API_TOKEN": API_TOKEN,
        "CONSOLE": False,
        "MAIL_CAPTURE_URL": "",
    }
    return create_app(config, services=services), services


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/resumes"),
        ("get", "/api/resumes/res_1"),
        ("post", "/api/applications"),
        ("post", "/api/applications/app_1/withdrawal"),
        ("post", "/api/unlocks"),
        ("get", "/api/unlocks/unl_1"),
        ("post", "/api/unlocks/unl_1/payment-method"),
        ("post", "/api/unlocks/unl_1/payment-approval"),
        ("post", "/api/interviews"),
        ("post", "/api/interviews/int_1/cancellation"),
        ("delete", "/api/candidates/cand_1"),
        ("get", "/api/candidates?skills=python"),
        ("get", "/api/candidates/cand_1/postings"),
        ("get", "/api/candidates/cand_1/contact?employer_id=acme"),
        ("get", "/api/postings"),
        ("get", "/api/postings/p-1"),
        ("get", "/api/postings/p-1/candidates"),
        ("get", "/api/employers/acme/contacts"),
        ("get", "/api/employers/acme/unlocks"),
    ],
)
def test_with_an_api_token_set_every_domain_call_needs_it(guarded, method, path):
    app, _ = guarded
    web = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, ADMIN):  # the admin token is not it
        refused = getattr(web, method)(path, headers=headers, json={})
        assert refused.status_code == 401, (headers, refused.json)
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="hireflow-api"'
        assert refused.json["detail"] == "send Authorization: Bearer <API token>"


def test_with_an_api_token_set_the_right_one_opens_the_api_and_other_doors_keep_their_own_guard(guarded):
    app, services = guarded
    web = app.test_client()
    record_status(services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1"})
    answered = web.get("/api/unlocks/unl_1", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answered.status_code == 200 and answered.json["status"] == "requested"
    assert web.get("/healthz").status_code == 200
    assert web.get("/openapi.json").status_code == 200
    # Webhooks need the provider's signature, not a token; signed links open their page.
    assert web.post("/webhooks/payments", json={}).status_code == 400
    card = web.get(f"/unlocks/card/{services.card_links.token_for('unl_1')}")
    assert card.status_code == 200 and "Save card" in card.text
    assert web.get("/api/admin/processes").status_code == 401


def test_while_a_token_is_rotated_both_the_old_and_the_new_one_open_the_api(tmp_path):
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True, "API_TOKEN": "old-api-token, new-api-token"}, services=services)
    record_status(services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1"})
    web = app.test_client()
    for token, status in [
        ("old-api-token", 200),
        ("new-api-token", 200),
        ("old-api-token, new-api-token", 401),
    ]:
        answer = web.get("/api/unlocks/unl_1", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, token


@pytest.mark.parametrize("path", ["/", "/items/unlock/unl_1", "/mail", "/postings"])
def test_the_console_can_be_turned_off(guarded, path):
    app, _ = guarded
    page = app.test_client().get(path)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "HIREFLOW_CONSOLE is off" in page.text


def test_the_document_says_which_operations_take_the_api_token():
    paths = openapi_document()["paths"]
    domain = {p for p in paths if p.startswith("/api/") and not p.startswith("/api/admin/")}
    assert {"/api/resumes", "/api/unlocks/{business_id}/payment-method"} <= domain
    for path in domain:
        for operation in paths[path].values():
            assert operation["security"] == [{"apiToken": []}, {}], path
            assert "401" in operation["responses"], path


def test_a_guarded_api_with_the_console_still_on_is_warned_about(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="webapp.security"):
        create_app({"TESTING": True, "API_TOKEN": API_TOKEN}, services=empty_services(tmp_path))
    assert "HIREFLOW_CONSOLE=off" in caplog.text


def test_requests_are_counted_by_route_not_by_path(offline):
    app, _, _ = offline
    web = app.test_client()

    def count(route: str, status: str) -> float:
        labels = {"route": route, "method": "GET", "status": status}
        return REGISTRY.get_sample_value("hireflow_web_requests_total", labels) or 0.0

    item_route = "/api/resumes/<business_id>"
    before, unmatched = count(item_route, "404"), count("unmatched", "404")
    web.get("/api/resumes/res_a")
    web.get("/api/resumes/res_b")
    web.get("/no/such/page")
    assert count(item_route, "404") == before + 2
    assert count("unmatched", "404") == unmatched + 1
    duration = {"route": item_route, "method": "GET"}
    assert REGISTRY.get_sample_value("hireflow_web_request_duration_seconds_count", duration) >= 2


def test_saving_a_card_while_the_provider_is_down_answers_503(offline):
    app, services, _ = offline
    services.payments = StripeStylePaymentGateway(f"http://127.0.0.1:{free_port()}", "sk", attempts=1)
    record_status(services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1"})
    response = app.test_client().post(
        "/api/unlocks/unl_open/payment-method", json={"payment_method_ref": "pm_card_visa"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"


def test_the_webapp_gives_the_payment_provider_less_time_than_a_worker_does(tmp_path, monkeypatch):
    monkeypatch.setenv("HIREFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'domain.sqlite3'}")
    monkeypatch.setenv("HIREFLOW_FILES_DIR", str(tmp_path / "files"))
    app = create_app({"TESTING": True, "ENGINE_REST_URL": f"http://127.0.0.1:{free_port()}"})
    payments = app.extensions["hireflow"].services.payments
    # A person waits on this call; a worker's job may wait a minute.
    assert (payments.attempts, payments.timeout_seconds) == (2, 5.0)


@pytest.mark.parametrize(
    ("status", "unavailable", "certainly_not_applied"),
    [
        (503, True, True),  # backpressure: refused before it was written
        (504, True, False),  # no answer in time: the command may still be applied
        (500, True, False),
        (404, False, None),  # the engine's own refusal of this request
    ],
)
def test_engine_answers_become_a_retry_later_or_a_refusal(status, unavailable, certainly_not_applied):
    """The embedded engine's control port once answered an engine timeout with 400, which
    reached clients as '422 Refused' for a request that may have been applied. It answers
    504 now, and a timeout must stay a 503 to retry, never a refusal."""

    def engine_answers():
        raise CamundaApiError("POST", "http://engine/process-instances", status, {"detail": "..."})

    if unavailable:
        with pytest.raises(EngineUnavailable) as caught:
            call_engine("start", engine_answers)
        assert caught.value.certainly_not_applied is certainly_not_applied
    else:
        with pytest.raises(EngineRejected):
            call_engine("start", engine_answers)


def test_pages_name_an_icon_that_is_served(offline):
    client = offline[0].test_client()
    icon = re.search(r'<link rel="icon"[^>]* href="([^"]+)"', client.get("/").text).group(1)
    assert client.get(icon).status_code == 200
