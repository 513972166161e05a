"""The webapp's door: bad requests get a clear 4xx and leave nothing behind (issue 5).

No engine runs here: the engine client points at a closed port. That is also how the
tests check that an unreachable engine answers 503 with Retry-After, loses nothing
and makes ``/readyz`` say why.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import get_args
from urllib.parse import quote, urlparse

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import delete, event, func, select

from chaos.flows import SLOT_ALREADY_CHOSEN
from hireflow.adapters.calendar import Slot, StoreCalendar
from hireflow.adapters.file_store import LocalFileStore
from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.adapters.s3_file_store import S3FileStore, s3_client
from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.constants import Message
from hireflow.credits import CreditsLedger
from hireflow.engine.embedded import free_port
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.signed_links import CardLinks, PaymentLinks, SlotLinks, WithdrawalLinks
from hireflow.skills import SKILLS
from hireflow.store import (
    BusinessRecord,
    Candidate,
    CandidateSkill,
    ContactAccess,
    Database,
    EmailOutboxEntry,
    Employer,
    Interviewer,
    JobPosting,
    PostingSkill,
    RequestClaim,
    utcnow,
)
from job_workers.records import SLOT_CHOSEN, record_details, record_status
from job_workers.services import Services
from tests.resume_samples import pdf_resume
from tests.web_helpers import (
    ADMIN,
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    csrf_token,
    payment_succeeded,
    resume_upload,
    signed_webhook,
)
from webapp import create_app
from webapp.domain import (
    EARLIER_ENGINE_LOST_REASON,
    ENGINE_LOST_REASON,
    FINAL_STATUSES,
    FIRST_STATUS,
    KINDS,
    EndedItem,
    close_items_of_a_lost_engine,
)
from webapp.engine import EngineRejected, EngineUnavailable, call_engine
from webapp.openapi import openapi_document
from webapp.schemas import PATTERN_IN_WORDS, ItemKind

MAX_UPLOAD = 200_000


def empty_services(folder: Path, store_url: str | None = None) -> Services:
    """A new store (SQLite in ``folder``, or at ``store_url``) and file folder, with slot links."""
    db = Database(store_url or f"sqlite:///{folder / 'domain.sqlite3'}")
    db.create_schema()
    return Services(
        files=LocalFileStore(folder / "files"),
        db=db,
        slot_links=SlotLinks("offline-test-slot-secret", "http://127.0.0.1:5000/interviews/slot"),
        card_links=CardLinks("offline-test-slot-secret", "http://127.0.0.1:5000/unlocks/card"),
        payment_links=PaymentLinks("offline-test-slot-secret", "http://127.0.0.1:5000/unlocks/payment"),
        withdrawal_links=WithdrawalLinks(
            "offline-test-slot-secret", "http://127.0.0.1:5000/applications/withdrawal"
        ),
    )


def offline_app(services: Services, **config):
    """An app on ``services`` whose engine is unreachable; ``config`` overrides settings."""
    return create_app(
        {
            "TESTING": True,
            "ENGINE_REST_URL": f"http://127.0.0.1:{free_port()}",
            "ENGINE_TIMEOUT_SECONDS": 2.0,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MAX_UPLOAD_BYTES": MAX_UPLOAD,
            "MAIL_CAPTURE_URL": "",
            **config,
        },
        services=services,
    )


@pytest.fixture
def offline(tmp_path: Path):
    """An app whose engine is unreachable, with its own empty store and file folder."""
    services = empty_services(tmp_path)
    return offline_app(services), services, tmp_path / "files"


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def rows(services: Services, table) -> int:
    with services.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


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
        (b"PK\x03\x04 a broken zip", "cv.docx", 415, "file: The file is damaged and cannot be read."),
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


def add_first_status(services: Services, kind: str, business_id: str, status: str) -> None:
    """The record the webapp writes when it starts instance 7 for an item."""
    with services.db.sessions.begin() as session:
        session.add(
            BusinessRecord(
                kind=kind,
                business_id=business_id,
                status=status,
                details={"process_instance_key": "7"},
                updated_at=utcnow(),
            )
        )


class EndedInstances(CamundaRestClient):
    """A client whose every instance has completed: the status rule is tested without an engine."""

    def get_process_instance(self, key):
        return {"processInstanceKey": str(key), "state": "COMPLETED"}


def console_on_ended_instances(services: Services):
    """An app with the console whose engine says every instance completed."""
    return create_app(
        {"TESTING": True, "CONSOLE": True},
        engine_client=EndedInstances("http://127.0.0.1:9"),
        services=services,
    )


def test_an_item_whose_instance_ended_without_an_outcome_shows_ended(tmp_path):
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=EndedInstances("http://127.0.0.1:9"), services=services)
    # e.g. an unlock refunded by compensation records nothing
    add_first_status(services, "unlock", "unl_1", "requested")
    status = app.test_client().get("/api/unlocks/unl_1").json
    assert (status["status"], status["final"], status["engine"]["state"]) == ("ended", True, "COMPLETED")


def test_the_dashboard_shows_an_items_status_as_its_own_page_does(tmp_path):
    services = empty_services(tmp_path)
    app = console_on_ended_instances(services)
    # Access granted, the "record: unlocked" step not reached yet: the page says unlocked.
    add_first_status(services, "unlock", "unl_granted", "requested")
    with services.db.sessions.begin() as session:
        session.add(
            ContactAccess(
                employer_id="emp-1", candidate_id="ada", unlock_id="unl_granted", granted_at=utcnow()
            )
        )
    web = app.test_client()
    assert web.get("/api/unlocks/unl_granted").json["status"] == "unlocked"
    # The line's cells: the id, whom it is of, then the status.
    row = re.search(r"unl_granted</a></td>\s*<td>.*?</td>\s*<td>(\w+)</td>", web.get("/").text)
    assert row is not None and row.group(1) == "unlocked"


def listed(page: str) -> list[str]:
    """The item ids a page's table lists, in order."""
    return re.findall(r'<td><a href="/items/\w+/([^"]+)">', page)


def test_the_items_page_finds_any_item_by_kind_state_or_id_a_page_at_a_time(tmp_path, store_url):
    # The dashboard showed the 30 latest changes only: an item older than that (a support
    # question about last week's unlock) could be reached only by typing its URL.
    services = empty_services(tmp_path, store_url)  # row values and the index, on both databases
    app = console_on_ended_instances(services)
    start = datetime(2026, 12, 1, 9, 0)
    with services.db.sessions.begin() as session:
        for n in range(120):
            kind = ("resume", "application", "unlock", "interview")[n % 4]
            owner = (
                {"application_id": f"app_{n % 7}"}
                if kind == "interview"
                else {"candidate_id": f"cand{n % 5}"}
            )
            session.add(
                BusinessRecord(
                    kind=kind,
                    business_id=f"{kind[:3]}_{n:03d}",
                    status="requested" if n % 3 else "ended",
                    details=owner,
                    # Four items to each second: a page may end between two of them.
                    updated_at=start + timedelta(seconds=n // 4),
                )
            )
    web = app.test_client()

    def every_page(url: str | None) -> list[list[str]]:
        pages = []
        while url:
            page = web.get(url)
            assert page.status_code == 200
            pages.append(listed(page.text))
            next_page = re.search(r'<a href="([^"]+)" data-testid="next-page">', page.text)
            url = next_page.group(1).replace("&amp;", "&") if next_page else None
        return pages

    pages = every_page("/items")
    assert [len(p) for p in pages] == [50, 50, 20]
    every = [business_id for p in pages for business_id in p]
    assert len(set(every)) == 120  # none twice, none missed
    # Newest first; within one second by kind, then id, descending: 116 to 119 share one.
    assert every[:4] == ["unl_118", "res_116", "int_119", "app_117"]
    # The longest unchanged first: the same lines, the other way round, page after page.
    oldest_first = every_page("/items?order=oldest")
    assert [len(p) for p in oldest_first] == [50, 50, 20]
    assert [business_id for p in oldest_first for business_id in p] == every[::-1]

    open_unlocks = listed(web.get("/items?kind=unlock&state=open").text)
    assert open_unlocks and all(i.startswith("unl_") and int(i[4:]) % 3 for i in open_unlocks)
    final = listed(web.get("/items?state=final").text)
    assert final and all(int(i[4:]) % 3 == 0 for i in final)
    # An id finds the item, and what belongs to it.
    assert listed(web.get("/items?q=unl_010").text) == ["unl_010"]
    assert set(listed(web.get("/items?q=cand2&kind=resume").text)) == {
        f"res_{n:03d}" for n in range(120) if n % 4 == 0 and n % 5 == 2
    }
    assert set(listed(web.get("/items?q=app_3").text)) == {
        f"int_{n:03d}" for n in range(120) if n % 4 == 3 and n % 7 == 3
    }
    assert "No item matches." in web.get("/items?q=nobody").text
    for bad in (
        "kind=robot",
        "state=maybe",
        "q=a%20b",
        "after=yesterday",
        "after=2026-12-01T09:00:00~robot~x",
    ):
        refused = web.get(f"/items?{bad}")
        assert refused.status_code == 400 and refused.mimetype == "text/html", bad
    # The dashboard's find box leads here.
    assert 'action="/items"' in web.get("/").text

    # The same as JSON, for support tools: the same pages, through the next cursor.
    api_pages, cursor = [], None
    while True:
        page = web.get("/api/items", query_string={"after": cursor} if cursor else {}).json
        api_pages.append([item["id"] for item in page["items"]])
        if not (cursor := page["next"]):
            break
    assert api_pages == pages
    first = web.get("/api/items?q=unl_010").json["items"]
    assert first == [
        {
            "kind": "unlock",
            "id": "unl_010",
            "status": "requested",
            "updatedAt": "2026-12-01T09:00:02Z",
            "belongsTo": "cand0",
        }
    ]
    # Each line names whom the item is of, and leads to everything of theirs.
    assert '<td><a href="/items?q=cand0">cand0</a></td>' in web.get("/items?q=unl_010").text
    for bad, field in [
        ("kind=", "kind"),
        ("q=", "q"),
        ("state=maybe", "state"),
        ("after=x", "after"),
        ("order=random", "order"),
        ("x=1", "x"),
    ]:
        refused = web.get(f"/api/items?{bad}")
        assert refused.status_code == 400 and refused.mimetype == "application/problem+json", bad
        assert [p["name"] for p in refused.json["invalid_params"]] == [field], bad


def test_an_interview_says_when_it_is_booked_and_with_whom(tmp_path):
    # The scheduled interview's page named its application and round, not its time.
    services = empty_services(tmp_path)
    app = create_app(
        {"TESTING": True, "CONSOLE": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services
    )
    add_first_status(services, "interview", "int_1", "requested")
    web = app.test_client()
    assert web.get("/api/interviews/int_1").json["booking"] is None  # no slot chosen yet
    assert 'data-testid="booking"' not in web.get("/items/interview/int_1").text

    calendar = StoreCalendar(services.db)
    calendar.book("int_1", ["ivy", "leo"], Slot(datetime(2026, 12, 3, 10, 0), datetime(2026, 12, 3, 11, 0)))
    status = web.get("/api/interviews/int_1").json
    assert (status["status"], status["booking"]) == (
        "scheduled",
        {
            "start": "2026-12-03T10:00:00Z",
            "end": "2026-12-03T11:00:00Z",
            "interviewers": ["ivy", "leo"],
            "status": "booked",
        },
    )
    page = web.get("/items/interview/int_1").text
    assert re.search(r"Thursday 3 December 2026, 10:00 to 11:00 UTC,\s+with ivy, leo</dd>", page)
    # With the candidate's time zone, the team also sees the time the candidate was given.
    record_details(services.db, "interview", "int_1", "requested", candidate_timezone="America/New_York")
    page = web.get("/items/interview/int_1").text
    assert re.search(
        r"with ivy, leo; for the candidate\s+"
        r"Thursday 3 December 2026, 05:00 to 06:00 \(America/New_York\)</dd>",
        page,
    )

    calendar.cancel("int_1")
    assert web.get("/api/interviews/int_1").json["booking"]["status"] == "cancelled"
    assert "cancelled (was Thursday 3 December 2026, 10:00 UTC)" in web.get("/items/interview/int_1").text


def test_an_application_lists_its_interviews(tmp_path):
    services = empty_services(tmp_path)
    app = console_on_ended_instances(services)
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    record_status(services.db, "interview", "int_2", "requested", {"application_id": "app_1", "round": 2})
    record_status(services.db, "interview", "int_1", "cancelled", {"application_id": "app_1", "round": 1})
    record_status(services.db, "interview", "int_9", "done", {"application_id": "app_9", "round": 1})
    StoreCalendar(services.db).book(
        "int_2", ["ivy"], Slot(datetime(2026, 12, 3, 10), datetime(2026, 12, 3, 11))
    )
    web = app.test_client()

    assert web.get("/api/applications/app_1").json["interviews"] == [
        {"id": "int_1", "status": "cancelled"},
        {"id": "int_2", "status": "scheduled"},  # a booked slot reads as scheduled, as on its page
    ]
    page = web.get("/items/application/app_1").text
    assert re.findall(r'<a href="/items/interview/(int_\d)">', page) == ["int_1", "int_2"]
    assert "interviews" not in web.get("/api/interviews/int_9").json  # applications only


def test_the_item_page_reads_details_in_words(tmp_path):
    services = empty_services(tmp_path)
    app = console_on_ended_instances(services)
    details = {"match_score": 100, "matched_skills": ["python", "sql"], "missing_skills": []}
    record_status(services.db, "application", "app_1", "shortlisted", details)
    record_status(services.db, "interview", "int_1", "ended", {"given_back": {"booking_released": True}})
    record_status(services.db, "interview", "int_2", "ended", {"given_back": {}})
    page = app.test_client().get("/items/application/app_1").text
    assert "<dt>matched skills</dt>" in page
    assert "python, sql" in page and "['python'" not in page
    assert re.search(r"<dt>missing skills</dt>\s*<dd>none</dd>", page)
    page = app.test_client().get("/items/interview/int_1").text
    assert re.search(r"<dt>given back</dt>\s*<dd>booking released: yes</dd>", page)
    page = app.test_client().get("/items/interview/int_2").text
    assert re.search(r"<dt>given back</dt>\s*<dd>none</dd>", page)
    feedback = [
        {"panelist": "ivy", "rating": 5, "recommendation": "hire", "notes": "sharp"},
        {"panelist": "leo", "rating": 3, "recommendation": "next-round", "notes": "ok"},
    ]
    record_status(
        services.db, "interview", "int_3", "done", {"application_id": "app_1", "feedback": feedback}
    )
    page = app.test_client().get("/items/interview/int_3").text
    assert '<a href="/items/application/app_1">app_1</a>' in page  # the application it is for
    assert re.findall(r"<li>([^<]*)</li>", page) == [
        "panelist: ivy, rating: 5, recommendation: hire, notes: sharp",
        "panelist: leo, rating: 3, recommendation: next-round, notes: ok",
    ]


def reasons_beside_fields(page: str, form: str) -> dict[str, str]:
    """The reasons a refused dashboard form shows beside its fields, by field name."""
    return dict(re.findall(rf'data-testid="error-{form}-(\w+)">([^<]*)</span>', page))


def test_a_form_refused_in_the_console_comes_back_as_typed_with_each_reason_beside_its_field(tmp_path):
    # It was an error page: the reason once, and every typed value lost.
    services = empty_services(tmp_path)
    with services.db.sessions.begin() as session:
        session.add(JobPosting(posting_id="p-1", employer_id="acme", title="Engineer"))
    web = offline_app(services, CONSOLE=True).test_client()
    token = csrf_token(web.get("/").text)
    application = {
        "csrf_token": token,
        "candidate_id": "ada",
        "candidate_name": "Ada <Lovelace>",
        "candidate_email": "ada@example.com",
        "posting_id": "nope",
        "employer_email": "hr@example.com",
        "recruiter_team_email": "recruiters@example.com",
    }
    refused = web.post("/applications", data=application)
    assert refused.status_code == 422 and refused.mimetype == "text/html"
    assert reasons_beside_fields(refused.text, "apply") == {"posting_id": "no job posting nope"}
    assert refused.text.count("no job posting nope") == 1
    assert 'data-testid="refusal-apply"' in refused.text
    assert 'value="recruiters@example.com"' in refused.text
    assert 'value="Ada &lt;Lovelace&gt;"' in refused.text  # as typed, and escaped
    assert re.search(r'name="posting_id" required aria-invalid="true"[^>]* autofocus>', refused.text)
    # Several wrong fields: one reason beside each, and the count above the form.
    several = web.post("/applications", data={"csrf_token": token, "candidate_email": "not-an-email"})
    assert several.status_code == 400
    reasons = reasons_beside_fields(several.text, "apply")
    assert set(reasons) == {"candidate_id", "posting_id", "candidate_email"}
    assert reasons["candidate_id"] == "Field required"
    assert "3 fields need a change" in several.text
    assert 'value="not-an-email"' in several.text
    # A candidate without a resume: that is the answer, not a name and email left empty.
    unknown = web.post(
        "/applications",
        data={
            "csrf_token": token,
            "candidate_id": "nobody",
            "posting_id": "p-1",
            "recruiter_team_email": "r@example.com",
        },
    )
    assert unknown.status_code == 422
    assert reasons_beside_fields(unknown.text, "apply") == {
        "candidate_id": "this candidate has no processed resume yet; upload one first"
    }
    assert re.search(r'<option value="p-1" selected>Engineer</option>', unknown.text)
    # The other forms are as they were: empty, unmarked.
    assert "aria-invalid" not in unknown.text.split('id="unlock"')[1]


def test_a_refused_panel_line_is_named_by_its_line_and_the_panel_is_kept(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    token = csrf_token(web.get("/").text)
    panel = "ivy, ivy@example.com, Ivy\nleo, leo-at-example, Leo"
    refused = web.post(
        "/interviews",
        data={
            "csrf_token": token,
            "application_id": "app_1",
            "round": "2",
            "lead_recruiter_email": "lead@example.com",
            "panel": panel,
        },
    )
    assert refused.status_code == 400
    reasons = reasons_beside_fields(refused.text, "interview")
    assert list(reasons) == ["panel"] and reasons["panel"].startswith("line 2, email: ")
    assert f">{panel}</textarea>" in refused.text
    assert re.search(r'name="round"[^>]*\s+value="2"', refused.text)


def test_a_refused_upload_keeps_the_typed_fields_and_asks_for_the_file_again(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    token = csrf_token(web.get("/").text)
    refused = web.post(
        "/resumes",
        data={
            "csrf_token": token,
            "candidate_id": "ada",
            "candidate_name": "Ada",
            "candidate_email": "ada@example.com",
            "file": (io.BytesIO(b"GIF89a not a resume"), "ada.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 415
    assert list(reasons_beside_fields(refused.text, "upload")) == ["file"]
    assert "Choose the file again" in refused.text
    assert 'value="ada@example.com"' in refused.text
    assert stored_files(tmp_path / "files") == []  # nothing kept of a refused file


def test_a_shortlisted_application_leads_to_the_interview_form_filled_in(offline):
    app, services, _ = offline
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    record_status(services.db, "application", "app_2", "declined", {"candidate_id": "bob"})
    web = app.test_client()
    page = web.get("/items/application/app_1").text
    assert 'href="/?application_id=app_1#interview">Schedule an interview</a>' in page
    assert "Schedule an interview" not in web.get("/items/application/app_2").text

    form = web.get("/?application_id=app_1").text
    assert re.search(r'name="application_id" required list="known-applications"\s+value="app_1"', form)
    offered = re.search(r'<datalist id="known-applications">(.*?)</datalist>', form, re.S).group(1)
    assert '<option value="app_1">ada, shortlisted</option>' in offered and "app_2" not in offered


class StartsInstancesInState(CamundaRestClient):
    """A client that starts instances at once, every one of them in ``state``, at ``active`` elements."""

    def __init__(self, state: str, active: list[dict] | None = None, has_incident: bool = False):
        super().__init__("http://127.0.0.1:9")
        self.state = state
        self.active = active or []
        self.has_incident = has_incident
        self.started: list[str] = []  # the process ids started

    def create_process_instance(self, process_id, variables=None, *, business_id=None):
        self.started.append(process_id)
        return {"processInstanceKey": str(1000 + len(self.started))}

    def get_process_instance(self, key):
        return {"processInstanceKey": str(key), "state": self.state, "hasIncident": self.has_incident}

    def search_element_instances(self, **filter_):
        return [{**e, "processInstanceKey": filter_["processInstanceKey"]} for e in self.active]

    def search_incidents(self, **filter_):
        return []

    def search_jobs(self, **filter_):
        return []


def test_an_item_says_where_its_instance_is_by_the_models_names(tmp_path):
    services = empty_services(tmp_path)
    active = [
        # The process and a sub-process are active around what it does; they are left out.
        {"elementId": "resume-submission", "type": "PROCESS", "processDefinitionId": "resume-submission"},
        {"elementId": "ScreenApplication", "type": "USER_TASK", "processDefinitionId": "resume-submission"},
        # A multi-instance task is active once per instance; it is named once.
        {"elementId": "ScreenApplication", "type": "USER_TASK", "processDefinitionId": "resume-submission"},
        # Not in this model: the id stands in for the name.
        {"elementId": "Elsewhere", "type": "INTERMEDIATE_CATCH_EVENT", "processDefinitionId": "other"},
    ]
    engine = StartsInstancesInState("ACTIVE", active=active)
    # A cluster: Tasklist and Operate exist.
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    add_first_status(services, "application", "app_1", "submitted")
    web = app.test_client()

    status = web.get("/api/applications/app_1").json
    assert status["engine"]["waitingAt"] == [
        {"elementId": "ScreenApplication", "name": "Screen the application", "type": "USER_TASK"},
        {"elementId": "Elsewhere", "name": "Elsewhere", "type": "INTERMEDIATE_CATCH_EVENT"},
    ]
    page = web.get("/items/application/app_1").text
    waiting = re.search(r'data-testid="waiting-at">(.*?)</dd>', page, re.S).group(1)
    words = " ".join(re.sub(r"<[^>]+>", "", waiting).split())
    assert words == "Screen the application (a person's task in Tasklist), waiting for: Elsewhere"
    assert 'data-testid="incident"' not in page
    # It waits for people: the page reloads seldom (every 2 s while a step runs).
    assert '<meta http-equiv="refresh" content="15">' in page


class RetryingACharge(StartsInstancesInState):
    """An active instance at ChargeCard, whose job failed and waits out its backoff."""

    MESSAGE = "payment.charge failed for unlock unl_1 (1 retry left): HTTP 500"

    def __init__(self):
        active = [{"elementId": "ChargeCard", "type": "SERVICE_TASK", "processDefinitionId": "resume-unlock"}]
        super().__init__("ACTIVE", active=active)
        self.job_searches: list[dict] = []

    def search_jobs(self, **filter_):
        self.job_searches.append(filter_)
        job = {"elementId": "ChargeCard", "hasFailedWithRetriesLeft": True, "processInstanceKey": "7"}
        return [
            # An earlier round's job at the same step failed once, then completed: over.
            {**job, "jobKey": "7", "state": "COMPLETED", "retries": 4, "errorMessage": "long ago"},
            {**job, "jobKey": "8", "state": "FAILED", "retries": 1, "errorMessage": self.MESSAGE},
        ]


def test_a_step_that_failed_and_is_retried_says_why_and_how_many_tries_are_left(tmp_path):
    services = empty_services(tmp_path)
    engine = RetryingACharge()
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    add_first_status(services, "unlock", "unl_1", "requested")
    web = app.test_client()

    status = web.get("/api/unlocks/unl_1").json
    assert status["engine"]["hasIncident"] is False
    assert status["engine"]["waitingAt"] == [
        {
            "elementId": "ChargeCard",
            "name": "Charge the card",
            "type": "SERVICE_TASK",
            "failing": {"retriesLeft": 1, "errorMessage": engine.MESSAGE},
        }
    ]
    assert engine.job_searches == [{"processInstanceKey": "7", "hasFailedWithRetriesLeft": True}]
    page = web.get("/items/unlock/unl_1").text
    waiting = re.search(r'data-testid="waiting-at">(.*?)</dd>', page, re.S).group(1)
    words = " ".join(re.sub(r"<[^>]+>", " ", waiting).split())
    assert words == (
        "Charge the card (failing: tried again after a backoff, 1 try left before an incident) "
        + engine.MESSAGE
    )
    assert '<meta http-equiv="refresh" content="15">' in page  # the backoff takes seconds to minutes


def test_an_item_waiting_only_for_people_asks_the_engine_for_no_failing_jobs(tmp_path):
    services = empty_services(tmp_path)
    engine = RetryingACharge()
    engine.active = [{"elementId": "ScreenApplication", "type": "USER_TASK"}]
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    add_first_status(services, "application", "app_1", "submitted")
    status = app.test_client().get("/api/applications/app_1").json
    assert "failing" not in status["engine"]["waitingAt"][0] and engine.job_searches == []


class StoppedByAnIncident(StartsInstancesInState):
    """An active instance stopped by one incident; records the retries and resolutions asked for."""

    MESSAGE = "Payment gateway unreachable after 5 tries, at ChargeCard ... Check the payment gateway"

    def __init__(self):
        super().__init__("ACTIVE", has_incident=True)
        self.calls: list[tuple] = []

    def search_incidents(self, **filter_):
        return [
            {
                "incidentKey": "77",
                "elementId": "ChargeCard",
                "errorType": "JOB_NO_RETRIES",
                "errorMessage": self.MESSAGE,
                "jobKey": "88",
                "processInstanceKey": filter_["processInstanceKey"],
            }
        ]

    def update_job_retries(self, job_key, retries):
        self.calls.append(("retries", str(job_key), retries))

    def resolve_incident(self, incident_key):
        self.calls.append(("resolve", str(incident_key)))


@pytest.mark.parametrize("embedded", [True, False])
def test_an_incident_shows_its_message_and_where_there_is_no_operate_a_retry(tmp_path, embedded):
    services = empty_services(tmp_path)
    engine = StoppedByAnIncident()
    config = {
        "TESTING": True,
        "CONSOLE": True,
        "ENGINE_CONTROL_URL": "http://127.0.0.1:9" if embedded else None,
    }
    app = create_app(config, engine_client=engine, services=services)
    add_first_status(services, "unlock", "unl_1", "requested")
    web = app.test_client()

    assert web.get("/api/unlocks/unl_1").json["engine"]["incidents"][0]["errorMessage"] == engine.MESSAGE
    page = web.get("/items/unlock/unl_1").text
    assert f'data-testid="incident-message">{engine.MESSAGE}<' in page
    assert '<meta http-equiv="refresh" content="15">' in page  # stopped: no fast reload under the button
    retry = "/items/unlock/unl_1/incidents/77/retry"
    assert (retry in page) == embedded  # a cluster's operators retry in Operate
    assert ("Operate</a>" in page) != embedded
    if embedded:
        done = web.post(retry, data={"csrf_token": csrf_token(page)})
        assert done.status_code == 303 and done.headers["Location"] == "/items/unlock/unl_1"
        assert engine.calls == [("retries", "88", 1), ("resolve", "77")]  # as Operate's retry
        unknown = web.post("/items/unlock/unl_1/incidents/99/retry", data={"csrf_token": csrf_token(page)})
        assert unknown.status_code == 404 and engine.calls[2:] == []


class StoppedByAnOutage(StartsInstancesInState):
    """Incidents of three causes, one of them the engine's own; records what is retried.

    Incident 13's job is gone before it is retried (resolved meanwhile): the engine refuses it.
    """

    def __init__(self):
        super().__init__("ACTIVE", has_incident=True)
        self.calls: list[tuple] = []
        gateway = "Payment gateway unreachable after 5 tries, at ChargeCard (payment.charge, job {job})"
        self.incidents = [
            *(
                {"incidentKey": str(key), "elementId": "ChargeCard", "errorType": "JOB_NO_RETRIES"}
                | {"jobKey": str(key + 100)}
                | {"errorMessage": gateway.format(job=key + 100), "processInstanceKey": str(key + 200)}
                for key in (11, 12, 13)
            ),
            {
                "incidentKey": "21",
                "elementId": "ScoreMatch",
                "errorType": "JOB_NO_RETRIES",
                "jobKey": "121",
                "errorMessage": "Cannot succeed with this data, at ScoreMatch (...). Fix what ...",
                "processInstanceKey": "221",
            },
            {
                "incidentKey": "31",
                "elementId": "PriceUnlock",
                "errorType": "EXTRACT_VALUE_ERROR",
                "errorMessage": "Expected result of the expression 'price' to be 'NUMBER'",
                "processInstanceKey": "231",
            },
        ]

    def search_incidents(self, **filter_):
        return [
            i
            for i in self.incidents
            if i["processInstanceKey"] == filter_.get("processInstanceKey", i["processInstanceKey"])
        ]

    def search_user_tasks(self, **filter_):
        return []

    def update_job_retries(self, job_key, retries):
        if str(job_key) == "113":
            raise CamundaApiError("PATCH", f"/jobs/{job_key}", 404, "job 113 not found")
        self.calls.append(("retries", str(job_key), retries))

    def resolve_incident(self, incident_key):
        self.calls.append(("resolve", str(incident_key)))


def test_an_operator_retries_every_incident_of_one_cause_at_once(tmp_path):
    # After an hour's payment outage, dozens of unlocks stop at ChargeCard: one Retry each,
    # on each item's page, was all the console and the admin API offered.
    engine = StoppedByAnOutage()
    config = {
        "TESTING": True,
        "CONSOLE": True,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ENGINE_CONTROL_URL": "http://127.0.0.1:9",
    }
    web = create_app(config, engine_client=engine, services=empty_services(tmp_path)).test_client()

    counted = web.get("/api/admin/incidents", headers=ADMIN)

    assert counted.status_code == 200, counted.json
    assert counted.json["total"] == 5
    assert [(c["cause"], c["count"], c["batchRetry"]) for c in counted.json["causes"]] == [
        ("Payment gateway unreachable", 3, True),
        ("Cannot succeed with this data", 1, True),
        ("Raised by the engine (EXTRACT_VALUE_ERROR)", 1, False),
    ]
    first = counted.json["causes"][0]
    assert first["action"].startswith("Check the payment gateway") and first["retriedWithBackoffFirst"]
    assert counted.json["causes"][1]["retriedWithBackoffFirst"] is False

    outage = {"cause": "Payment gateway unreachable"}
    retried = web.post("/api/admin/incidents/retry", json=outage, headers=ADMIN)

    assert retried.status_code == 200, retried.json
    assert (retried.json["retried"], retried.json["left"]) == (["11", "12"], 0)
    assert [r["incidentKey"] for r in retried.json["refused"]] == ["13"]
    assert "job 113 not found" in retried.json["refused"][0]["reason"]
    # As Operate's retry does, each: one more try, then resolved; nothing of the other causes.
    assert engine.calls == [
        ("retries", "111", 1),
        ("resolve", "11"),
        ("retries", "112", 1),
        ("resolve", "12"),
    ]
    for body in ({"cause": "Raised by the engine (EXTRACT_VALUE_ERROR)"}, {}, {"cause": "payment"}):
        refused = web.post("/api/admin/incidents/retry", json=body, headers=ADMIN)
        assert refused_field(refused) == (400, "cause"), body
    # Thousands after a long outage: a page at a time, oldest first, so no proxy gives up waiting.
    engine.calls.clear()
    first_page = web.post("/api/admin/incidents/retry", json={**outage, "limit": 1}, headers=ADMIN).json
    assert (first_page["retried"], first_page["left"]) == (["11"], 2)
    assert engine.calls == [("retries", "111", 1), ("resolve", "11")]
    too_few = web.post("/api/admin/incidents/retry", json={**outage, "limit": 0}, headers=ADMIN)
    assert refused_field(too_few) == (400, "limit")
    assert web.post("/api/admin/incidents/retry", json=outage).status_code == 401

    # The console's Tasks page, where there is no Operate: the same counts, a button each.
    page = web.get("/tasks").text
    [causes] = re.findall(r'<table data-testid="causes">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert causes.count('data-testid="retry-cause">Retry all') == 2 and "one by one" in causes
    engine.calls.clear()
    form = {"csrf_token": csrf_token(page), "cause": "Cannot succeed with this data"}
    done = web.post("/tasks/incidents/retry", data=form)
    assert done.status_code == 303 and done.headers["Location"] == "/tasks?retried=1#incidents"
    assert engine.calls == [("retries", "121", 1), ("resolve", "21")]
    assert 'data-testid="retried">Retried 1 incident;' in web.get("/tasks?retried=1").text
    assert web.post("/tasks/incidents/retry", data={**form, "cause": "x"}).status_code == 400


def test_an_item_whose_engine_cannot_say_where_it_is_still_answers(tmp_path):
    services = empty_services(tmp_path)

    class Unreachable(StartsInstancesInState):
        def search_element_instances(self, **filter_):
            raise requests.ConnectionError("Failed to establish a new connection")

    app = create_app({"TESTING": True}, engine_client=Unreachable("ACTIVE"), services=services)
    add_first_status(services, "application", "app_1", "submitted")
    status = app.test_client().get("/api/applications/app_1").json
    assert status["status"] == "submitted" and status["engine"]["state"] == "ACTIVE"
    assert "waitingAt" not in status["engine"]


def test_every_page_links_only_to_endpoints_that_exist(tmp_path):
    # A template renders its links only on the branch it takes; this reads them all.
    app = create_app({"TESTING": True, "CONSOLE": True}, services=empty_services(tmp_path))
    templates = Path(app.root_path) / "templates"
    endpoints = {
        (template.name, endpoint)
        for template in templates.glob("*.html")
        for endpoint in re.findall(r"url_for\(['\"]([\w.]+)['\"]", template.read_text())
    }
    assert endpoints, "no links found: the pattern above is out of date"
    assert [(name, e) for name, e in sorted(endpoints) if e not in app.view_functions] == []


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (kind, status)
        for kind in FIRST_STATUS
        for status in sorted({FIRST_STATUS[kind], *FINAL_STATUSES[kind]})
    ],
)
def test_the_item_page_shows_every_kind_in_every_status(tmp_path, kind, status):
    # Each kind offers its own actions while it runs (withdraw, cancel, a new card).
    services = empty_services(tmp_path)
    engine = StartsInstancesInState("COMPLETED" if status in FINAL_STATUSES[kind] else "ACTIVE")
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    add_first_status(services, kind, "item_1", status)
    page = app.test_client().get(f"/items/{kind}/item_1")
    assert page.status_code == 200, page.text
    assert f'data-testid="status">{status}<' in page.text
    reloads = '<meta http-equiv="refresh" content="2">' in page.text  # a step may be running
    assert reloads == (status not in FINAL_STATUSES[kind])


@pytest.mark.parametrize(("state", "second_is_new"), [("TERMINATED", True), ("ACTIVE", False)])
def test_an_unlock_whose_instance_ended_without_an_outcome_can_be_asked_for_again(
    tmp_path, state, second_is_new
):
    # e.g. an operator cancelled the instance in Operate: nothing was recorded, nothing granted
    services = empty_services(tmp_path)
    engine = StartsInstancesInState(state)
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    body = {
        "employer_id": "emp-1",
        "employer_email": "hr@emp.example",
        "candidate_id": "ada",
        "payment_method_ref": "pm_card_visa",
    }
    web = app.test_client()

    first = web.post("/api/unlocks", json=body)
    second = web.post("/api/unlocks", json=body)

    assert first.status_code == 202
    assert (second.status_code, second.json["id"] != first.json["id"]) == (
        (202, True) if second_is_new else (200, False)
    )
    assert len(engine.started) == (2 if second_is_new else 1)


def test_items_left_running_by_a_lost_embedded_engine_end_and_can_be_asked_for_again(tmp_path):
    # make run's embedded engine on a new log (var/engine deleted) starts with no instances.
    services = empty_services(tmp_path)
    engine = StartsInstancesInState("ACTIVE")
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    body = {
        "employer_id": "emp-1",
        "employer_email": "hr@emp.example",
        "candidate_id": "ada",
        "payment_method_ref": "pm_card_visa",
    }
    web = app.test_client()
    first = web.post("/api/unlocks", json=body).json
    record_status(services.db, "application", "app_done", "shortlisted")
    record_status(services.db, "interview", "int_booked", "scheduled")

    assert len(close_items_of_a_lost_engine(services.db)) == 2
    assert close_items_of_a_lost_engine(services.db) == []  # a second start finds nothing to do

    ended = web.get(f"/api/unlocks/{first['id']}").json
    assert (ended["status"], ended["final"]) == ("ended", True)
    assert ended["details"]["ended_because"] == ENGINE_LOST_REASON
    assert web.get("/api/applications/app_done").json["status"] == "shortlisted"
    assert web.get("/api/interviews/int_booked").json["status"] == "ended"
    again = web.post("/api/unlocks", json=body)
    assert again.status_code == 202 and again.json["id"] != first["id"]


def test_items_of_a_lost_embedded_engine_give_back_the_panel_time_and_credits_they_held(tmp_path):
    # Their processes would have freed them on a cancellation; a lost instance never will.
    services = empty_services(tmp_path)
    calendar, ledger = StoreCalendar(services.db), CreditsLedger(services.db)
    interview_slot = Slot(datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 11, 0))  # a Monday
    calendar.book("int_lost", ["iv-ada", "iv-bob"], interview_slot)
    record_status(services.db, "interview", "int_lost", "scheduled")
    ledger.top_up("emp-1", 10, "purchase-1")
    ledger.spend("emp-1", "unl_lost", 3)
    record_status(services.db, "unlock", "unl_lost", "requested")
    record_status(services.db, "unlock", "unl_by_card", "requested")

    visited = close_items_of_a_lost_engine(services.db, calendar)

    assert {(item.business_id, item.newly_ended, tuple(item.given_back.items())) for item in visited} == {
        ("int_lost", True, (("booking_released", True),)),
        ("unl_lost", True, (("credits_returned", 3),)),
        ("unl_by_card", True, ()),
    }
    assert calendar.booking("int_lost").status == "cancelled"
    assert calendar.free_slots(["iv-ada", "iv-bob"], interview_slot, timedelta(hours=1)) == [interview_slot]
    assert ledger.balance("emp-1") == 10
    with services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "unl_lost")).details
    assert details == {"ended_because": ENGINE_LOST_REASON, "given_back": {"credits_returned": 3}}
    assert close_items_of_a_lost_engine(services.db, calendar) == []
    assert ledger.balance("emp-1") == 10  # returned once


def test_unlocks_of_a_lost_engine_give_back_their_card_charges_through_the_provider(tmp_path, serve):
    # The store does not know a card charge; the provider's search finds it by the unlock.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_lost"))
    gateway = StripeStylePaymentGateway(sandbox.url, "sk_test_lost")
    charged = gateway.charge(unlock_id="unl_paid", amount=3000, currency="eur", payment_method="pm_card_visa")
    pending = gateway.charge(
        unlock_id="unl_pending", amount=3000, currency="eur", payment_method="pm_card_async"
    )
    # One the employer's bank asks them to approve: cancelled, so a late approval takes nothing.
    to_approve = gateway.charge(
        unlock_id="unl_to_approve",
        amount=3000,
        currency="eur",
        payment_method="pm_card_authenticationRequired",
    )
    assert (charged.status, pending.status, to_approve.status) == (
        "succeeded",
        "processing",
        "requires_authentication",
    )
    for unlock_id in ("unl_paid", "unl_pending", "unl_to_approve", "unl_unpaid"):
        record_status(services.db, "unlock", unlock_id, "requested")
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5)  # the search has caught up

    visited = {
        item.business_id: item.given_back
        for item in close_items_of_a_lost_engine(services.db, payments=gateway)
    }

    assert visited == {
        "unl_paid": {"card_refunded_cents": 3000},
        "unl_pending": {"card_payments_cancelled": 1},
        "unl_to_approve": {"card_payments_cancelled": 1},
        "unl_unpaid": {},
    }
    ledger = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()
    assert [(r["payment_intent"], r["amount"]) for r in ledger["refunds"]] == [(charged.id, 3000)]
    statuses = {p["id"]: p["status"] for p in ledger["payment_intents"]}
    assert statuses[pending.id] == statuses[to_approve.id] == "canceled"


def test_a_card_charge_the_providers_search_has_not_caught_up_with_is_given_back_by_its_recorded_id(
    tmp_path, serve
):
    # The search lags a minute behind the provider's writes: an engine lost right after a
    # charge left it unrefunded, though the charge worker knew its id.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_lost"))
    gateway = StripeStylePaymentGateway(sandbox.url, "sk_test_lost")
    charged = gateway.charge(unlock_id="unl_new", amount=3000, currency="eur", payment_method="pm_card_visa")
    assert gateway.charges_of("unl_new") == []  # not searchable yet
    record_status(services.db, "unlock", "unl_new", "requested")
    record_details(
        services.db,
        "unlock",
        "unl_new",
        "requested",
        card_charged={"payment_id": charged.id, "amount_cents": 3000, "currency": "eur"},
    )

    [item] = close_items_of_a_lost_engine(services.db, payments=gateway)

    assert item.given_back == {"card_refunded_cents": 3000}
    ledger = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()
    assert [(r["payment_intent"], r["amount"]) for r in ledger["refunds"]] == [(charged.id, 3000)]
    # Found both ways once the search has caught up, it is still one charge, refunded once.
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5)
    assert [c.id for c in gateway.charges_of("unl_new", [charged.id])] == [charged.id]


def test_a_lost_engines_unlock_whose_provider_cannot_answer_names_its_card_for_the_operator(tmp_path):
    services = empty_services(tmp_path)
    record_status(services.db, "unlock", "unl_1", "requested")
    nowhere = StripeStylePaymentGateway("http://127.0.0.1:9", "sk", attempts=1)

    [item] = close_items_of_a_lost_engine(services.db, payments=nowhere)

    assert item.given_back["card_charges"].startswith("not given back (no answer in 1 quick tries")
    with services.db.sessions() as session:
        assert session.get(BusinessRecord, ("unlock", "unl_1")).status == "ended"


def test_interviews_a_sweep_ended_before_it_gave_back_release_their_booking_once(tmp_path):
    # Before 2026-12-01 the sweep ended items and gave nothing back: make run's own store
    # held four "ended" interviews whose bookings still blocked the panel.
    services = empty_services(tmp_path)
    calendar = StoreCalendar(services.db)
    calendar.book("int_old", ["iv-ada"], Slot(datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 11, 0)))
    before = {"ended_because": EARLIER_ENGINE_LOST_REASON}
    record_status(services.db, "interview", "int_old", "ended", before)
    record_status(services.db, "interview", "int_by_operator", "ended")  # cancelled in Operate: not ours

    visited = close_items_of_a_lost_engine(services.db, calendar)

    assert visited == [EndedItem("interview", "int_old", {"booking_released": True}, newly_ended=False)]
    assert calendar.booking("int_old").status == "cancelled"
    with services.db.sessions() as session:
        assert session.get(BusinessRecord, ("interview", "int_old")).status == "ended"
    assert close_items_of_a_lost_engine(services.db, calendar) == []


OLDER_UNLOCK = {
    "employer_id": "emp-1",
    "employer_email": "hr@emp.example",
    "candidate_id": "ada",
    "payment_method_ref": "pm_card_visa",
}


def unlock_granted_by_an_older_release(tmp_path) -> tuple:
    """(client, services, unlock id) of an unlock granted before the grant recorded its status.

    Before 2026-12-01 the store said "requested" and only the access row said unlocked.
    """
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    web = app.test_client()
    unlock_id = web.post("/api/unlocks", json=OLDER_UNLOCK).json["id"]
    with services.db.sessions.begin() as session:
        session.add(
            ContactAccess(employer_id="emp-1", candidate_id="ada", unlock_id=unlock_id, granted_at=utcnow())
        )
    return web, services, unlock_id


def test_an_unlock_granted_before_the_engine_was_lost_stays_unlocked_and_is_not_bought_again(tmp_path):
    # The sweep took it for a running item, so the next ask started (and charged) a
    # second unlock for access the employer already had.
    web, services, unlock_id = unlock_granted_by_an_older_release(tmp_path)

    assert close_items_of_a_lost_engine(services.db) == []

    assert web.get(f"/api/unlocks/{unlock_id}").json["status"] == "unlocked"
    again = web.post("/api/unlocks", json=OLDER_UNLOCK)
    assert again.status_code == 200 and again.json["id"] == unlock_id


def test_an_unlock_granted_before_the_grant_recorded_it_stays_unlocked_after_an_erasure(tmp_path):
    # Its status was read from the access row, which the candidate's erasure deletes.
    web, _, unlock_id = unlock_granted_by_an_older_release(tmp_path)

    erased = web.delete("/api/candidates/ada")

    assert erased.status_code == 200 and erased.json["erased"]["contactAccess"] == 1
    after = web.get(f"/api/unlocks/{unlock_id}").json
    assert (after["status"], after["contact"]) == ("unlocked", None)


def test_a_resume_whose_instance_ended_without_an_outcome_is_read_again_when_uploaded_again(tmp_path):
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services)
    web = app.test_client()
    resume = pdf_resume(pages=1)
    first = web.post("/api/resumes", **resume_upload(resume)).json
    assert web.post("/api/resumes", **resume_upload(resume)).json["id"] == first["id"]  # still running

    close_items_of_a_lost_engine(services.db)
    again = web.post("/api/resumes", **resume_upload(resume))

    assert again.status_code == 202 and again.json["id"] != first["id"]
    assert web.get(f"/api/resumes/{again.json['id']}").json["details"]["attempt"] == 2


class EndsRightAfterTheOutcome(CamundaRestClient):
    """The worker records "processed" and the instance completes between the webapp's reads.

    This is the order a fast instance gives: the webapp read "received", then the last
    step wrote its outcome and completed, then the webapp asked the engine.
    """

    def __init__(self, base_url: str, services: Services):
        super().__init__(base_url)
        self.services = services

    def get_process_instance(self, key):
        record_status(self.services.db, "resume", "res_1", "processed")
        return {"processInstanceKey": str(key), "state": "COMPLETED"}


def test_an_outcome_recorded_just_before_the_instance_ended_is_shown_not_ended(tmp_path):
    services = empty_services(tmp_path)
    client = EndsRightAfterTheOutcome("http://127.0.0.1:9", services)
    app = create_app({"TESTING": True}, engine_client=client, services=services)
    add_first_status(services, "resume", "res_1", "received")
    status = app.test_client().get("/api/resumes/res_1").json
    assert (status["status"], status["final"]) == ("processed", True)


def cards_at_the_provider(sandbox) -> dict[str, dict]:
    """The sandbox's saved cards: each one's labels (metadata) by its id."""
    methods = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["payment_methods"]
    return {m["id"]: m["metadata"] for m in methods}


def test_a_new_card_is_saved_with_the_provider_for_an_open_unlock_only(recording, serve, tmp_path):
    web, engine, services = recording
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    record_status(services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1"})
    record_status(services.db, "unlock", "unl_done", "unlocked", {"employer_id": "emp-1"})

    saved = web.post("/api/unlocks/unl_open/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert saved.status_code == 202, saved.json
    assert saved.json == {"status": "saved", "payment_method_ref": "pm_card_visa"}
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [(e["type"], e["payload"]["data"]["object"]["customer"]) for e in events] == [
        ("payment_method.attached", "emp-1")
    ]
    assert cards_at_the_provider(sandbox) == {"pm_card_visa": {"unlock_id": "unl_open"}}
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_open")]

    closed = web.post("/api/unlocks/unl_done/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert closed.status_code == 409 and "unlocked" in closed.json["detail"]
    unknown = web.post("/api/unlocks/unl_nope/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert unknown.status_code == 404
    bad = web.post("/api/unlocks/unl_open/payment-method", json={"payment_method_ref": "4242424242424242"})
    assert bad.status_code == 400
    assert bad.json["invalid_params"][0]["name"] == "payment_method_ref"
    # A card already saved for another employer: the provider refuses, the field is named.
    record_status(services.db, "unlock", "unl_mine", "requested", {"employer_id": "emp-1"})
    record_status(services.db, "unlock", "unl_other", "requested", {"employer_id": "emp-2"})
    mine = web.post("/api/unlocks/unl_mine/payment-method", json={"payment_method_ref": "pm_1Emp1Visa"})
    assert mine.status_code == 202
    taken = web.post("/api/unlocks/unl_other/payment-method", json={"payment_method_ref": "pm_1Emp1Visa"})
    assert taken.status_code == 422
    assert taken.json["invalid_params"][0]["name"] == "payment_method_ref"
    # The provider's words, not hireflow's request to it.
    assert taken.json["invalid_params"][0]["reason"] == (
        "the payment provider refused it: The payment method pm_1Emp1Visa is attached to another customer"
    )
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2  # no third
    # An unlock with no employer on record: the card is tied to nobody else in its place.
    record_status(services.db, "unlock", "unl_nobody", "requested", {})
    nobody = web.post("/api/unlocks/unl_nobody/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert nobody.status_code == 409 and "no employer" in nobody.json["detail"]
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2


class RecordsMessages(StartsInstancesInState):
    """Every instance ACTIVE; keeps the messages published, as (name, correlation key)."""

    def __init__(self):
        super().__init__("ACTIVE")
        self.published: list[tuple[str, str]] = []

    def publish_message(self, name, correlation_key, *, message_id=None, variables=None, ttl_ms=60_000):
        self.published.append((name, correlation_key))
        return {"messageKey": str(len(self.published))}


class RecordsVariables(RecordsMessages):
    """Starts ACTIVE instances and keeps the variables each start gave (and the messages published)."""

    def __init__(self):
        super().__init__()
        self.variables: list[dict] = []

    def create_process_instance(self, process_id, variables=None, *, business_id=None):
        self.variables.append(variables)
        return super().create_process_instance(process_id, variables, business_id=business_id)


@pytest.fixture
def recording(tmp_path):
    """The console's app on an engine that keeps the messages published: (client, engine, services)."""
    services = empty_services(tmp_path)
    engine = RecordsMessages()
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    return app.test_client(), engine, services


def test_a_second_time_chosen_while_the_first_is_being_booked_is_refused(recording):
    # Both links of one offer, followed one after the other before the booking: only the
    # first choice is booked, so the second page must not say it is being booked too.
    web, engine, services = recording
    record_status(services.db, "interview", "int_1", "requested", {"application_id": "app_1"})
    monday, tuesday = (
        {"start": f"2026-12-{day}T09:00:00Z", "end": f"2026-12-{day}T10:00:00Z"} for day in (14, 15)
    )
    first, second = (services.slot_links.token_for("int_1", slot) for slot in (monday, tuesday))
    form = {"csrf_token": csrf_token(web.get(f"/interviews/slot/{first}").text)}

    chosen = web.post(f"/interviews/slot/{first}", data=form)
    again = web.post(f"/interviews/slot/{first}", data=form)
    other = web.post(f"/interviews/slot/{second}", data=form)

    assert (chosen.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert "you chose Monday 14 December 2026, 09:00 UTC already" in other.text
    assert engine.published == [(Message.INTERVIEW_SLOT_SELECTED, "int_1")]
    other_page = web.get(f"/interviews/slot/{second}").text
    assert "You chose Monday 14 December 2026, 09:00 UTC already" in other_page
    assert "Confirm this slot" not in other_page
    chosen_page = web.get(f"/interviews/slot/{first}").text
    assert "You chose this slot; we are booking it" in chosen_page and "Confirm this slot" not in chosen_page
    assert SLOT_ALREADY_CHOSEN.search(chosen_page)  # as the chaos flows read it
    assert "slot chosen" not in web.get("/items/interview/int_1").text  # the booking says it
    # A new offer (after a conflict, or the recruiter's follow-up) forgets the choice; the
    # first link followed again then publishes nothing and holds nothing up.
    record_details(services.db, "interview", "int_1", "requested", forget=(SLOT_CHOSEN,))
    assert web.post(f"/interviews/slot/{first}", data=form).status_code == 200
    assert web.post(f"/interviews/slot/{second}", data=form).status_code == 202


def test_an_item_that_is_over_is_neither_withdrawn_nor_cancelled(recording):
    # A message to a process that has ended would wait for nobody, and the client would
    # read "published" as done.
    web, engine, services = recording
    record_status(services.db, "application", "app_declined", "declined", {"candidate_id": "ada"})
    record_status(services.db, "interview", "int_done", "done", {"application_id": "app_declined"})
    record_status(services.db, "interview", "int_cancelled", "cancelled", {"application_id": "app_declined"})

    declined = web.post("/api/applications/app_declined/withdrawal")
    assert declined.status_code == 409 and "declined" in declined.json["detail"]
    done = web.post("/api/interviews/int_done/cancellation")
    assert done.status_code == 409 and "done" in done.json["detail"]
    # Its instance gone with the engine that ran it (make run's embedded engine, restarted).
    record_status(services.db, "interview", "int_ended", "ended", {"application_id": "app_declined"})
    ended = web.post("/api/interviews/int_ended/cancellation")
    assert ended.status_code == 409 and "ended" in ended.json["detail"]
    assert web.post("/api/interviews/int_cancelled/cancellation").status_code == 200  # a repeat
    interview = {
        "application_id": "app_declined",
        "candidate_name": "Ada",
        "candidate_email": "ada@example.com",
        "lead_recruiter_email": "lead@example.com",
        "panel": [{"username": "alice", "email": "alice@example.com", "name": "Alice"}],
    }
    refused = web.post("/api/interviews", json=interview)
    assert refused.status_code == 409 and "declined" in refused.json["detail"]
    assert (engine.published, engine.started) == ([], [])


def test_a_shortlisted_candidate_withdraws_by_cancelling_the_open_interviews(recording):
    # resume-submission ended with the shortlist: the application lives on in its interviews.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    for interview_id, status in (("int_open", "requested"), ("int_done", "done"), ("int_over", "cancelled")):
        record_status(services.db, "interview", interview_id, status, {"application_id": "app_1"})
    record_status(services.db, "interview", "int_other", "requested", {"application_id": "app_2"})
    assert "Withdraw application" in web.get("/items/application/app_1").text

    first = web.post("/api/applications/app_1/withdrawal")
    second = web.post("/api/applications/app_1/withdrawal")
    assert (first.status_code, second.status_code) == (202, 200)
    assert engine.published == [(Message.INTERVIEW_CANCELLED, "int_open")]
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"


def test_a_candidate_withdraws_by_the_signed_link_in_their_email(recording):
    web, engine, services = recording
    details = {"candidate_id": "ada", "posting_id": "p-1", "posting_title": "Python engineer"}
    record_status(services.db, "application", "app_1", "shortlisted", details)
    record_status(services.db, "interview", "int_open", "requested", {"application_id": "app_1"})
    token = services.withdrawal_links.token_for("app_1")

    # Application ids can be guessed: only a signature opens the page, and only its own kind.
    assert web.get(f"/applications/withdrawal/{token[:-2]}xx").status_code == 404
    assert web.get(f"/applications/withdrawal/{services.card_links.token_for('app_1')}").status_code == 404
    page = web.get(f"/applications/withdrawal/{token}")
    assert page.status_code == 200 and "Withdraw my application" in page.text
    assert "<strong>Python engineer</strong> is shortlisted" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert 'href="/items' not in page.text  # a candidate's page never links into the console
    assert web.post(f"/applications/withdrawal/{token}").status_code == 400  # no CSRF token
    assert engine.published == []

    form = {"csrf_token": csrf_token(page.text)}
    done = web.post(f"/applications/withdrawal/{token}", data=form)
    again = web.post(f"/applications/withdrawal/{token}", data=form)  # a second click

    assert (done.status_code, again.status_code) == (200, 200)
    assert 'data-testid="withdrawn"' in done.text and 'data-testid="withdrawn"' in again.text
    assert engine.published == [(Message.INTERVIEW_CANCELLED, "int_open")]  # once
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"
    # A declined application has nothing to withdraw; the page says so.
    record_status(services.db, "application", "app_2", "declined", details)
    over_token = services.withdrawal_links.token_for("app_2")
    over = web.post(f"/applications/withdrawal/{over_token}", data=form)
    assert over.status_code == 409 and 'data-testid="over"' in over.text and "is declined" in over.text
    services.withdrawal_links = WithdrawalLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    assert web.get(f"/applications/withdrawal/{token}").status_code == 410


def test_of_two_withdrawals_at_once_after_the_shortlist_one_is_accepted_and_one_is_a_repeat(
    recording, monkeypatch
):
    # Both read "shortlisted" before either writes: as two requests on two threads can.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    hireflow = web.application.extensions["hireflow"]
    as_first_read = hireflow.status("application", "app_1")
    real_status = hireflow.status
    monkeypatch.setattr(
        hireflow,
        "status",
        lambda kind, business_id: as_first_read if kind == "application" else real_status(kind, business_id),
    )

    first = web.post("/api/applications/app_1/withdrawal")
    second = web.post("/api/applications/app_1/withdrawal")

    assert (first.status_code, second.status_code) == (202, 200)
    monkeypatch.undo()
    assert web.get("/api/applications/app_1").json["status"] == "withdrawn"


def test_a_withdrawal_during_screening_cancels_the_interviews_too(recording):
    # An interview may be asked for before the screening ends; it must not outlive the application.
    web, engine, services = recording
    record_status(services.db, "application", "app_1", "submitted", {"candidate_id": "ada"})
    record_status(services.db, "interview", "int_early", "requested", {"application_id": "app_1"})

    assert web.post("/api/applications/app_1/withdrawal").status_code == 202
    assert engine.published == [
        (Message.INTERVIEW_CANCELLED, "int_early"),
        (Message.APPLICATION_WITHDRAWN, "app_1"),
    ]


def indexed_candidate(candidate_id: str, **contact) -> Candidate:
    """A candidate whose resume was processed; ``contact``: the name and email it gave."""
    return Candidate(
        candidate_id=candidate_id,
        resume_id=f"res_{candidate_id}",
        skills=["python"],
        indexed_at=utcnow(),
        **contact,
    )


def refused_field(response) -> tuple[int, str]:
    """The status of a refused request and the first field its problem names."""
    return response.status_code, response.json["invalid_params"][0]["name"]


def recording_app_with(services: Services, *rows) -> tuple:
    """(client, engine) of an app on ``services`` with ``rows`` stored; the engine keeps each start."""
    engine = RecordsVariables()
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add_all(rows)
    return app.test_client(), engine


def test_an_unlock_charges_and_saves_cards_with_the_employers_customer_at_the_provider(serve, tmp_path):
    # Stripe charges a saved card only together with the customer it is attached to.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    acme = Employer(
        employer_id="acme",
        name="Acme",
        email="hr@acme.example",
        payment_method_ref="pm_card_visa",
        payment_customer_ref="cus_Acme1",
    )
    web, engine = recording_app_with(services, indexed_candidate("ada"), acme)
    body = {"employer_email": "hr@example.com", "candidate_id": "ada", "payment_method_ref": "pm_card_visa"}

    on_file = web.post("/api/unlocks", json={**body, "employer_id": "acme"})
    named = web.post("/api/unlocks", json={**body, "employer_id": "globex", "payment_customer_ref": "cus_G7"})
    unknown = web.post("/api/unlocks", json={**body, "employer_id": "initech"})

    assert [v["payment_customer_ref"] for v in engine.variables] == ["cus_Acme1", "cus_G7", "initech"]
    assert (
        web.post(
            f"/api/unlocks/{on_file.json['id']}/payment-method", json={"payment_method_ref": "pm_1AcmeAmex"}
        ).status_code
        == 202
    )
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["payload"]["data"]["object"]["customer"] for e in events] == ["cus_Acme1"]
    assert (named.status_code, unknown.status_code) == (202, 202)
    bad = web.post("/api/unlocks", json={**body, "employer_id": "x", "payment_customer_ref": "cus 1"})
    assert bad.status_code == 400 and bad.json["invalid_params"][0]["name"] == "payment_customer_ref"


def test_an_unlock_for_an_employer_on_file_takes_what_it_leaves_out_from_the_file(tmp_path):
    # The API once defaulted to the sandbox's test card pm_card_visa and the standard plan,
    # whatever the employer had on file: a live provider refuses such a card.
    services = empty_services(tmp_path)
    initech = Employer(
        employer_id="initech",
        name="Initech",
        email="jobs@initech.example",
        plan="premium",
        payment_method_ref="pm_1InitechCard",
    )
    web, engine = recording_app_with(services, indexed_candidate("ada"), initech)

    on_file = web.post("/api/unlocks", json={"employer_id": "initech", "candidate_id": "ada"})
    not_on_file = web.post("/api/unlocks", json={"employer_id": "umbrella", "candidate_id": "ada"})
    no_card = web.post(
        "/api/unlocks",
        json={"employer_id": "umbrella", "employer_email": "hr@umbrella.example", "candidate_id": "ada"},
    )

    assert on_file.status_code == 202, on_file.json
    started = engine.variables[0]
    assert (started["employer_email"], started["employer_plan"], started["payment_method_ref"]) == (
        "jobs@initech.example",
        "premium",
        "pm_1InitechCard",
    )
    assert refused_field(not_on_file) == (400, "employer_email")
    assert "umbrella is not on file" in not_on_file.json["detail"]
    assert refused_field(no_card) == (400, "payment_method_ref")
    assert len(engine.variables) == 1  # nothing started for the refused requests

    # What a request gives wins over the file.
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("bob"))
    given = {
        "employer_plan": "standard",
        "payment_method_ref": "pm_card_visa",
        "employer_email": "cfo@initech.example",
    }
    own = web.post("/api/unlocks", json={"employer_id": "initech", "candidate_id": "bob", **given})
    assert own.status_code == 202
    assert {name: engine.variables[1][name] for name in given} == given
    # The same unlock asked for with another card is not a repeat: refused, naming the unlock.
    other_card = web.post(
        "/api/unlocks",
        json={"employer_id": "initech", "candidate_id": "ada", "payment_method_ref": "pm_1Other"},
    )
    assert other_card.status_code == 409
    assert f"{on_file.json['id']} was asked for before with other details" in other_card.json["detail"]


def test_an_application_and_an_interview_take_the_candidates_contact_from_their_resume(tmp_path):
    # The console always filled these in from the store; the API now does the same.
    services = empty_services(tmp_path)
    web, engine = recording_app_with(
        services,
        Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
        JobPosting(posting_id="p-acme", employer_id="acme", title="Engineer"),
        JobPosting(posting_id="p-other", employer_id="not-on-file", title="Engineer"),
        indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
        # Indexed before hireflow kept the name and email given with a resume.
        indexed_candidate("old"),
    )
    team = {"recruiter_team_email": "recruiters@example.com"}

    applied = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-acme", **team})
    no_employer = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-other", **team})
    no_contact = web.post("/api/applications", json={"candidate_id": "old", "posting_id": "p-acme", **team})

    assert applied.status_code == 202, applied.json
    started = engine.variables[0]
    assert (started["candidate_name"], started["candidate_email"], started["employer_email"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "hr@acme.example",
    )
    assert refused_field(no_employer) == (400, "employer_email")
    assert "employer not-on-file of the posting is not on file" in no_employer.json["detail"]
    assert refused_field(no_contact) == (400, "candidate_name")
    assert len(engine.variables) == 1

    record_status(services.db, "application", applied.json["id"], "shortlisted", {"candidate_id": "ada"})
    panel = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]
    interview = web.post(
        "/api/interviews",
        json={
            "application_id": applied.json["id"],
            "lead_recruiter_email": "lead@example.com",
            "panel": panel,
        },
    )
    assert interview.status_code == 202, interview.json
    assert (engine.variables[1]["candidate_name"], engine.variables[1]["candidate_email"]) == (
        "Ada Lovelace",
        "ada@example.com",
    )


def test_an_application_takes_its_recruiters_from_the_posting(tmp_path):
    # Every application had to name the recruiters, though a posting's team screens them all.
    services = empty_services(tmp_path)
    web, engine = recording_app_with(
        services,
        Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
        JobPosting(
            posting_id="p-team",
            employer_id="acme",
            title="Engineer",
            recruiter_team_email="team@acme.example",
        ),
        JobPosting(posting_id="p-no-team", employer_id="acme", title="Engineer"),
        indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
        indexed_candidate("bob", name="Bob", email="bob@example.com"),
    )

    from_posting = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-team"})
    named = web.post(
        "/api/applications",
        json={"candidate_id": "bob", "posting_id": "p-team", "recruiter_team_email": "other@acme.example"},
    )
    no_team = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-no-team"})

    assert (from_posting.status_code, named.status_code) == (202, 202), (from_posting.json, named.json)
    assert [started["recruiter_team_email"] for started in engine.variables] == [
        "team@acme.example",
        "other@acme.example",
    ]
    assert refused_field(no_team) == (400, "recruiter_team_email")
    assert "posting p-no-team names no recruiters, so the request must give this" in no_team.json["detail"]
    # The application keeps the posting's title as it read then: its page says what was applied to.
    assert web.get(from_posting.headers["Location"]).json["details"]["posting_title"] == "Engineer"


def test_an_admin_posting_keeps_its_recruiters(tmp_path):
    services = empty_services(tmp_path)
    admin = offline_app(services).test_client()
    posting = {"employer_id": "acme", "title": "Engineer", "recruiter_team_email": "team@acme.example"}

    saved = admin.put("/api/admin/postings/p-1", json=posting, headers=ADMIN)

    assert saved.status_code == 200, saved.json
    assert saved.json["recruiter_team_email"] == "team@acme.example"
    with services.db.sessions() as session:
        assert session.get(JobPosting, "p-1").recruiter_team_email == "team@acme.example"
    # What is on file reads back as it was saved.
    assert admin.get("/api/admin/postings/p-1", headers=ADMIN).json == saved.json
    assert admin.get("/api/admin/postings/p-2", headers=ADMIN).status_code == 404


def test_an_admin_posting_keeps_its_skills_by_the_names_resumes_show(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    admin = offline_app(services).test_client()
    posting = {"employer_id": "acme", "title": "Platform engineer"}

    saved = admin.put(
        "/api/admin/postings/p-1",
        json={
            **posting,
            "required_skills": ["K8s", " Python", "kubernetes"],
            "nice_to_have_skills": ["postgres"],
        },
        headers=ADMIN,
    )

    assert saved.status_code == 200, saved.json
    assert (saved.json["required_skills"], saved.json["nice_to_have_skills"]) == (
        ["kubernetes", "python"],
        ["postgresql"],
    )
    assert [p["postingId"] for p in admin.get("/api/postings?skills=postgresql").json["postings"]] == ["p-1"]
    # A skill no resume can show would decline every applicant: refused, naming the field.
    refused = admin.put(
        "/api/admin/postings/p-1", json={**posting, "required_skills": ["COBOL"]}, headers=ADMIN
    )
    assert refused_field(refused) == (400, "required_skills")
    assert "knows no skill 'cobol'" in refused.json["invalid_params"][0]["reason"]
    # Replaced, the posting is found by its new skills only.
    admin.put("/api/admin/postings/p-1", json={**posting, "required_skills": ["sql"]}, headers=ADMIN)
    assert admin.get("/api/postings?skills=python").json["postings"] == []
    assert len(admin.get("/api/postings?skills=sql").json["postings"]) == 1
    with services.db.sessions() as session:
        rows = session.execute(select(PostingSkill.skill, PostingSkill.required)).all()
    assert rows == [("sql", True)]


def test_a_closed_posting_refuses_new_applications_and_keeps_those_made(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the column's default, on both databases
    engine = RecordsVariables()
    config = {"TESTING": True, "CONSOLE": True, "ADMIN_TOKEN": ADMIN_TOKEN}
    web = create_app(config, engine_client=engine, services=services).test_client()
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                Employer(employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_1"),
                indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),
                indexed_candidate("bob", name="Bob", email="bob@example.com"),
            ]
        )
    posting = {"employer_id": "acme", "title": "Engineer", "recruiter_team_email": "team@acme.example"}
    assert web.put("/api/admin/postings/p-1", json=posting, headers=ADMIN).json["open"] is True
    first = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-1"})
    assert first.status_code == 202, first.json

    # Filled: the employer closes it.
    closed = web.put("/api/admin/postings/p-1", json={**posting, "open": False}, headers=ADMIN)
    assert closed.status_code == 200 and closed.json["open"] is False
    assert web.get("/api/admin/postings/p-1", headers=ADMIN).json["open"] is False
    late = web.post("/api/applications", json={"candidate_id": "bob", "posting_id": "p-1"})
    assert refused_field(late) == (409, "posting_id")
    assert late.json["title"] == "Posting closed"
    assert "job posting p-1 is closed and takes no applications" in late.json["detail"]
    # The application made before goes on, and asking for it again still finds it.
    again = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p-1"})
    assert (again.status_code, again.json["id"], again.json["created"]) == (200, first.json["id"], False)
    assert len(engine.variables) == 1
    assert 'value="p-1"' not in web.get("/").text  # the Apply form offers open postings only

    web.put("/api/admin/postings/p-1", json=posting, headers=ADMIN)  # open again
    assert web.post("/api/applications", json={"candidate_id": "bob", "posting_id": "p-1"}).status_code == 202
    assert 'value="p-1"' in web.get("/").text


def test_a_card_is_published_once_per_save_and_again_after_another_decline(serve, tmp_path):
    # The same card saved again after another decline is a new try: it once waited for a
    # webhook that the provider, replaying the first save's attach, never sent. A repeat of
    # one save is not new, and the provider's attach event is not waited for at all.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    first_decline = {"card": "pm_1Emp1Old", "decline_code": "insufficient_funds", "charge": "1"}
    record_status(
        services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1", "card_declined": first_decline}
    )
    card = {"payment_method_ref": "pm_1Emp1Visa"}

    # The engine is down: the card is saved, and the employer asked to come back.
    down = offline_app(services).test_client().post("/api/unlocks/unl_1/payment-method", json=card)
    assert down.status_code == 503 and down.headers["Retry-After"]
    engine = RecordsMessages()
    app = create_app(
        {"TESTING": True, "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET}, engine_client=engine, services=services
    )
    web = app.test_client()
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202  # a repeat
    [attached] = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    webhook = web.post("/webhooks/payments", **signed_webhook(attached["payload"]))
    assert (webhook.status_code, webhook.json["status"]) == (200, "ignored")
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_1")]
    assert cards_at_the_provider(sandbox)["pm_1Emp1Visa"] == {"unlock_id": "unl_1", "after_charge": "1"}

    # Charge 2, with that card, was declined too; the employer tries the same card again.
    second_decline = {**first_decline, "card": "pm_1Emp1Visa", "charge": "2"}
    record_status(
        services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1", "card_declined": second_decline}
    )
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_1")] * 2
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2
    assert cards_at_the_provider(sandbox)["pm_1Emp1Visa"] == {"unlock_id": "unl_1", "after_charge": "2"}


def test_the_card_page_opens_only_by_its_signed_link(recording, serve, tmp_path):
    web, engine, services = recording
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    record_status(
        services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1", "candidate_id": "ada"}
    )
    token = services.card_links.token_for("unl_open")

    # Unlock ids can be guessed: the address made of one is gone, and only a signature opens the page.
    assert web.get("/items/unlock/unl_open/card").status_code == 404
    assert web.get(f"/unlocks/card/{token[:-2]}xx").status_code == 404
    slot_token = services.slot_links.token_for("unl_open", {"start": "2026-12-01T10:00:00Z"})
    assert web.get(f"/unlocks/card/{slot_token}").status_code == 404  # another kind of link
    forged = CardLinks("another-secret-of-some-length", "http://x").token_for("unl_open")
    assert web.get(f"/unlocks/card/{forged}").status_code == 404

    page = web.get(f"/unlocks/card/{token}")
    assert page.status_code == 200 and "Save card" in page.text
    assert re.search(r"candidate\s+<strong>ada</strong>", page.text)  # what the card pays for
    assert "pm_card_visa" not in page.text  # the employer's card, not a test card filled in
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    form = {"csrf_token": csrf_token(page.text), "payment_method_ref": "pm_card_visa"}
    # With a good CSRF token but a forged link, nothing is saved (the events below show one card).
    assert web.post(f"/unlocks/card/{forged}", data=form).status_code == 404
    saved = web.post(f"/unlocks/card/{token}", data=form)
    assert saved.status_code == 200 and 'data-testid="card-saved"' in saved.text
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 1
    assert cards_at_the_provider(sandbox) == {"pm_card_visa": {"unlock_id": "unl_open"}}
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_open")]
    # A refused card shows the form again, with what was typed and why, to try another one.
    empty = web.post(f"/unlocks/card/{token}", data={**form, "payment_method_ref": ""})
    assert empty.status_code == 400 and 'data-testid="card-error"' in empty.text and "Save card" in empty.text
    record_status(services.db, "unlock", "unl_theirs", "requested", {"employer_id": "emp-2"})
    services.payments.save_card(unlock_id="unl_theirs", customer="emp-2", payment_method="pm_1Emp2Visa")
    taken = web.post(f"/unlocks/card/{token}", data={**form, "payment_method_ref": "pm_1Emp2Visa"})
    assert taken.status_code == 422 and "Save card" in taken.text
    error = re.search(r'data-testid="card-error">(.*?)</p>', taken.text).group(1)
    assert re.sub(r"<[^>]+>", "", error) == (
        "Saved card: the payment provider refused it: The payment method pm_1Emp2Visa is attached to "
        "another customer"
    )
    assert 'value="pm_1Emp2Visa"' in taken.text

    # Paid with the card meanwhile: the link, and the form sent again, say the unlock is done.
    record_status(
        services.db, "unlock", "unl_open", "unlocked", {"employer_id": "emp-1", "candidate_id": "ada"}
    )
    done = web.get(f"/unlocks/card/{token}")
    assert done.status_code == 200 and 'data-testid="card-over"' in done.text and "Save card" not in done.text
    assert re.search(r"candidate\s+<strong>ada</strong>'s contact details are yours", done.text)
    resent = web.post(f"/unlocks/card/{token}", data=form)
    assert resent.status_code == 409 and 'data-testid="card-over"' in resent.text

    services.card_links = CardLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    expired = web.get(f"/unlocks/card/{token}")
    assert expired.status_code == 410 and "expired" in expired.text
    assert expired.mimetype == "text/html"


def test_the_payment_page_opens_only_by_its_signed_link_and_says_what_waits(offline, serve, tmp_path):
    app, services, _ = offline
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_approvals"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_approvals", attempts=1)
    waiting = services.payments.charge(
        unlock_id="unl_3ds", amount=4900, currency="eur", payment_method="pm_card_authenticationRequired"
    )
    charge = {"payment_id": waiting.id, "amount_cents": 4900, "currency": "eur"}
    details = {"employer_id": "emp-1", "candidate_id": "ada", "card_needs_authentication": charge}
    record_status(services.db, "unlock", "unl_3ds", "requested", details)
    record_status(services.db, "unlock", "unl_plain", "requested", {"employer_id": "emp-1"})
    web = app.test_client()
    token = services.payment_links.token_for("unl_3ds")

    card_token = services.card_links.token_for("unl_3ds")
    assert web.get(f"/unlocks/payment/{card_token}").status_code == 404  # another kind of link
    assert web.get(f"/unlocks/payment/{token[:-2]}xx").status_code == 404
    page = web.get(f"/unlocks/payment/{token}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "49.00 EUR" in page.text and re.search(r"candidate\s+<strong>ada</strong>", page.text)
    assert "Approve with my bank" in page.text

    # Approving (a form, so an email scanner following the link approves nothing) leads to
    # the bank by a link: the pages allow forms to post to hireflow only.
    form = {"csrf_token": csrf_token(page.text)}
    assert web.post(f"/unlocks/payment/{token}", data={}).status_code == 400  # no CSRF token
    approving = web.post(f"/unlocks/payment/{token}", data=form)
    assert approving.status_code == 200
    bank_url = re.search(r'href="([^"]+)" data-testid="continue-to-bank"', approving.text).group(1)
    assert bank_url == f"{sandbox.url}/_sandbox/3ds/{waiting.id}"
    answered = requests.post(bank_url, data={"outcome": "complete"}, allow_redirects=False, timeout=5)
    back = urlparse(answered.headers["Location"])
    assert back.path == f"/unlocks/payment/{token}/return"
    returned = web.get(f"{back.path}?{back.query}")
    assert returned.status_code == 200 and 'data-testid="payment-approved"' in returned.text
    # Nothing is published by the page: the provider's webhook tells the process.
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["type"] for e in events] == ["payment_intent.succeeded"]
    again = web.post(f"/unlocks/payment/{token}", data=form)  # approved already: nothing more to do
    assert again.status_code == 200 and 'data-testid="payment-approved"' in again.text
    refused = web.get(f"/unlocks/payment/{token}/return?redirect_status=failed")
    assert 'data-testid="payment-refused"' in refused.text

    # An unlock with no payment to approve, or over already, says so, and approves nothing.
    plain = services.payment_links.token_for("unl_plain")
    assert 'data-testid="payment-over"' in web.get(f"/unlocks/payment/{plain}").text
    nothing = web.post(f"/unlocks/payment/{plain}", data=form)
    assert nothing.status_code == 409 and "no payment of this unlock waits" in nothing.text
    record_status(services.db, "unlock", "unl_3ds", "cancelled")
    over = web.post(f"/unlocks/payment/{token}", data=form)
    assert over.status_code == 409 and "this unlock is cancelled" in over.text
    record_status(services.db, "unlock", "unl_3ds", "unlocked", {"candidate_id": "ada"})
    paid = web.get(f"/unlocks/payment/{token}").text
    assert 'data-testid="payment-over"' in paid and "This unlock is complete: it is paid" in paid

    services.payment_links = PaymentLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    expired = web.get(f"/unlocks/payment/{token}")
    assert expired.status_code == 410 and expired.mimetype == "text/html"


def test_a_marketplace_frontend_starts_a_payment_approval_through_the_api(offline, serve, tmp_path):
    app, services, _ = offline
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_api_approvals"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_api_approvals", attempts=1)
    waiting = services.payments.charge(
        unlock_id="unl_api", amount=2000, currency="eur", payment_method="pm_card_authenticationRequired"
    )
    charge = {"payment_id": waiting.id, "amount_cents": 2000, "currency": "eur"}
    record_status(services.db, "unlock", "unl_api", "requested", {"card_needs_authentication": charge})
    web = app.test_client()
    back = {"return_url": "https://jobs.example.com/unlocks/unl_api?from=bank"}

    # The unlock's status shows the payment waiting, so a frontend knows to offer this.
    assert web.get("/api/unlocks/unl_api").json["details"]["card_needs_authentication"] == charge
    started = web.post("/api/unlocks/unl_api/payment-approval", json=back)
    assert started.status_code == 200
    assert started.json == {"status": "redirect", "redirect_url": f"{sandbox.url}/_sandbox/3ds/{waiting.id}"}
    assert web.post("/api/unlocks/unl_api/payment-approval", json=back).json == started.json  # asked again
    answered = requests.post(
        started.json["redirect_url"], data={"outcome": "complete"}, allow_redirects=False, timeout=5
    )
    assert answered.headers["Location"].startswith(back["return_url"] + "&payment_intent=")
    done = web.post("/api/unlocks/unl_api/payment-approval", json=back)
    assert done.json == {"status": "approved", "redirect_url": None}

    # A return address that is no web address, or none, is refused before the provider hears of it.
    for body in ({"return_url": "javascript:alert(1)"}, {}, {**back, "extra": 1}):
        refused = web.post("/api/unlocks/unl_api/payment-approval", json=body)
        assert refused.status_code == 400, body
    assert web.post("/api/unlocks/unl_nope/payment-approval", json=back).status_code == 404
    record_status(services.db, "unlock", "unl_plain", "requested", {"employer_id": "emp-1"})
    nothing = web.post("/api/unlocks/unl_plain/payment-approval", json=back)
    assert nothing.status_code == 409 and nothing.json["title"] == "Nothing to approve"


def test_an_employer_lists_its_unlocks_with_what_each_waits_for(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    to_approve = {"payment_id": "pi_1", "amount_cents": 2000, "currency": "eur"}
    record_status(
        services.db,
        "unlock",
        "unl_approve",
        "requested",
        {"employer_id": "acme", "candidate_id": "ada", "card_needs_authentication": to_approve},
    )
    declined = {"card": "pm_card_chargeDeclined", "decline_code": "generic_decline"}
    record_status(
        services.db,
        "unlock",
        "unl_card",
        "requested",
        {"employer_id": "acme", "candidate_id": "bob", "card_declined": declined},
    )
    paid = {"with": "credits", "credits": 2}
    # Unlocked after a refused card: what it waited for is over, how it was paid is said.
    record_status(
        services.db,
        "unlock",
        "unl_done",
        "unlocked",
        {"employer_id": "acme", "candidate_id": "cy", "card_declined": declined, "paid": paid},
    )
    record_status(
        services.db, "unlock", "unl_theirs", "requested", {"employer_id": "globex", "candidate_id": "ada"}
    )

    listed = web.get("/api/employers/acme/unlocks")
    assert listed.status_code == 200 and listed.json["next"] is None
    by_id = {u["unlockId"]: u for u in listed.json["unlocks"]}
    assert list(by_id) == ["unl_done", "unl_card", "unl_approve"]  # newest change first
    assert by_id["unl_approve"]["paymentToApprove"] == to_approve
    assert by_id["unl_card"]["cardDeclined"] == declined and by_id["unl_card"]["paymentToApprove"] is None
    assert by_id["unl_done"] == {
        "unlockId": "unl_done",
        "candidateId": "cy",
        "status": "unlocked",
        "updatedAt": by_id["unl_done"]["updatedAt"],
        "paymentToApprove": None,
        "cardDeclined": None,
        "paid": paid,
        "refunded": None,
    }
    open_only = web.get("/api/employers/acme/unlocks?state=open&order=oldest").json["unlocks"]
    assert [u["unlockId"] for u in open_only] == ["unl_approve", "unl_card"]
    assert web.get("/api/employers/nobody/unlocks").json["unlocks"] == []
    assert web.get("/api/employers/acme/unlocks?state=closed").status_code == 400


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


@pytest.mark.parametrize("console", [False, True])
def test_the_pages_from_emails_link_nowhere_into_the_console(tmp_path, console):
    # Candidates and employers open these from their emails. Without a console its links
    # would 404; with one (behind a sign-in proxy) they would lead a candidate to the
    # team's login, and locally they showed a candidate the dashboard, items and mail.
    services = empty_services(tmp_path)
    record_status(services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1"})
    web = offline_app(services, CONSOLE=console).test_client()
    card_page = web.get(f"/unlocks/card/{services.card_links.token_for('unl_open')}")
    refused = web.get("/unlocks/card/not-a-token")
    slot_refused = web.get("/interviews/slot/not-a-token")
    assert (card_page.status_code, refused.status_code, slot_refused.status_code) == (200, 404, 404)
    for page in (card_page, refused, slot_refused):
        assert not re.findall(r'href="/(?:|items[^"]*|tasks|mail|openapi\.json)"', page.text)
        assert "Dashboard" not in page.text
    if console:
        assert "Dashboard" in web.get("/items").text  # the team's own pages keep it


def test_only_a_candidates_latest_resume_shows_what_search_read_from_it(tmp_path):
    services = empty_services(tmp_path)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
    for resume_id in ("res_older", "res_ada"):
        record_status(services.db, "resume", resume_id, "processed", {"candidate_id": "ada"})
    record_status(services.db, "resume", "res_new", "received", {"candidate_id": "bob"})
    web = offline_app(services, CONSOLE=True).test_client()

    latest, older, unprocessed = (
        web.get(f"/api/resumes/{r}").json for r in ("res_ada", "res_older", "res_new")
    )

    assert latest["profile"] == {"skills": ["python"], "yearsOfExperience": None}
    assert older["profile"] is None and unprocessed["profile"] is None
    assert "Ada Lovelace" not in str(latest)  # contact details are what an unlock pays for
    page = web.get("/items/resume/res_ada").text
    assert re.search(r'data-testid="profile">skills: python;\s+experience: not found', page)
    assert 'data-testid="profile"' not in web.get("/items/resume/res_older").text


def test_an_interview_in_the_candidates_time_zone_shows_its_slots_there(tmp_path):
    services = empty_services(tmp_path)
    web, engine = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    request = {
        "application_id": "app_1",
        "lead_recruiter_email": "lead@example.com",
        "panel": [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}],
    }

    unknown = web.post("/api/interviews", json={**request, "candidate_timezone": "Europe/Atlantis"})
    started = web.post("/api/interviews", json={**request, "candidate_timezone": "Europe/Berlin"})

    assert refused_field(unknown) == (400, "candidate_timezone")
    assert unknown.json["invalid_params"][0]["reason"] == (
        "Europe/Atlantis is not a time zone the tz database knows, like Europe/Berlin"
    )
    assert started.status_code == 202, started.json
    assert engine.variables[-1]["candidate_timezone"] == "Europe/Berlin"
    slot = {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}
    page = web.get(f"/interviews/slot/{services.slot_links.token_for(started.json['id'], slot)}").text
    assert "Monday 14 December 2026, 10:00 to 11:00 (Europe/Berlin)" in page


def test_each_panelist_works_in_their_zone_and_hours_given_or_on_file(tmp_path):
    services = empty_services(tmp_path)
    web, engine = recording_app_with(services, indexed_candidate("ada", name="Ada", email="ada@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    admin = offline_app(services).test_client()
    part_time = {"days": ["mon", "tue"], "start": "10:00", "end": "14:30"}
    saved = admin.put(
        "/api/admin/interviewers/ivy",
        json={
            "name": "Ivy",
            "email": "ivy@example.com",
            "timezone": "Asia/Tokyo",
            "working_hours": part_time,
        },
        headers=ADMIN,
    )
    assert saved.status_code == 200, saved.json
    assert admin.get("/api/admin/interviewers/ivy", headers=ADMIN).json == saved.json
    assert admin.get("/api/admin/interviewers/max", headers=ADMIN).status_code == 404
    for wrong, field in [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"working_hours": {**part_time, "end": "09:00"}}, "working_hours"),  # before it starts
        ({"working_hours": {**part_time, "start": "10:15"}}, "working_hours.start"),  # off the grid
        ({"working_hours": {**part_time, "days": ["mon", "mon"]}}, "working_hours"),
        ({"working_hours": {**part_time, "days": []}}, "working_hours.days"),
    ]:
        refused = admin.put("/api/admin/interviewers/ivy", json={**saved.json, **wrong}, headers=ADMIN)
        assert refused_field(refused) == (400, field), wrong
    sunday_to_thursday = {"days": ["sun", "mon", "tue", "wed", "thu"], "start": "08:00", "end": "16:00"}
    panel = [
        {"username": "ivy", "email": "ivy@example.com", "name": "Ivy"},  # on file: Tokyo, part time
        {"username": "max", "email": "max@example.com", "name": "Max", "timezone": "Asia/Jerusalem"}
        | {"working_hours": sunday_to_thursday},
        {"username": "ola", "email": "ola@example.com", "name": "Ola"},  # neither: UTC, weekdays 9 to 17
    ]
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com", "panel": panel}

    started = web.post("/api/interviews", json=request)

    assert started.status_code == 202, started.json
    given = [(member["timezone"], member["working_hours"]) for member in engine.variables[-1]["panel"]]
    assert given == [("Asia/Tokyo", part_time), ("Asia/Jerusalem", sunday_to_thursday), (None, None)]
    panel[0]["timezone"] = "Mars/Olympus"
    assert refused_field(web.post("/api/interviews", json=request)) == (400, "panel.0.timezone")
    panel[0].pop("timezone")
    panel[1]["working_hours"] = {**sunday_to_thursday, "end": "07:00"}
    assert refused_field(web.post("/api/interviews", json=request)) == (400, "panel.1.working_hours")
    # The interview form says when and where each interviewer on file works.
    dashboard = offline_app(services, CONSOLE=True).test_client().get("/").text
    zones = re.search(r'data-testid="panel-zones">(.*?)</p>', dashboard, re.S).group(1)
    assert " ".join(zones.split()).endswith("where they work: ivy, Asia/Tokyo mon,tue 10:00-14:30.")


def test_an_interviewer_on_file_joins_a_panel_by_username_alone(tmp_path):
    services = empty_services(tmp_path)
    engine = RecordsVariables()
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    web = app.test_client()
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada", email="ada@example.com"))
        session.add(Interviewer(username="ivy", name="Ivy Interviewer", email="ivy@example.com"))
    record_status(services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada"})
    request = {"application_id": "app_1", "lead_recruiter_email": "lead@example.com"}
    max_in_full = {"username": "max", "email": "max@example.com", "name": "Max"}

    by_username = [{"username": "ivy"}, {"username": "max"}]
    unknown = web.post("/api/interviews", json={**request, "panel": by_username})
    started = web.post("/api/interviews", json={**request, "panel": [{"username": "ivy"}, max_in_full]})

    assert refused_field(unknown) == (400, "panel.1.email")
    assert unknown.json["invalid_params"][0]["reason"] == (
        "no interviewer 'max' is on file, so the request must give this"
    )
    assert started.status_code == 202, started.json
    named = [(m["username"], m["email"], m["name"]) for m in engine.variables[-1]["panel"]]
    assert named == [("ivy", "ivy@example.com", "Ivy Interviewer"), ("max", "max@example.com", "Max")]
    # Asked again with what the file gave written out, it is the same request: one instance.
    ivy_in_full = {"username": "ivy", "email": "ivy@example.com", "name": "Ivy Interviewer"}
    repeated = web.post("/api/interviews", json={**request, "panel": [ivy_in_full, max_in_full]})
    assert (repeated.status_code, repeated.json["id"]) == (200, started.json["id"])
    # The console's panel takes the username alone too, and starts as the interviewers on
    # file, while they fit on one panel.
    dashboard = web.get("/").text
    assert prefilled_panel(dashboard) == "ivy\n"
    form = {"csrf_token": csrf_token(dashboard), **request, "round": "2", "panel": prefilled_panel(dashboard)}
    scheduled = web.post("/interviews", data=form)
    assert scheduled.status_code == 303, scheduled.text
    assert [member["name"] for member in engine.variables[-1]["panel"]] == ["Ivy Interviewer"]
    with services.db.sessions.begin() as session:
        session.add_all(Interviewer(username=n, name=n, email=f"{n}@example.com") for n in "abcdef")
    assert prefilled_panel(web.get("/").text) == ""  # seven: a panel takes six at most


def test_an_interview_escalates_to_the_postings_recruiters_unless_it_names_a_lead(tmp_path):
    services = empty_services(tmp_path)
    posting = JobPosting(posting_id="p-1", title="Engineer", employer_id="acme")
    posting.recruiter_team_email = "team@acme.example"
    web, engine = recording_app_with(
        services, indexed_candidate("ada", name="Ada", email="ada@example.com"), posting
    )
    record_status(
        services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada", "posting_id": "p-1"}
    )
    # An application whose record names no posting (as an old one may) has no recruiters to fall back on.
    record_status(services.db, "application", "app_2", "shortlisted", {"candidate_id": "ada"})
    ivy = [{"username": "ivy", "email": "ivy@example.com", "name": "Ivy"}]

    by_posting = web.post("/api/interviews", json={"application_id": "app_1", "panel": ivy})
    lead = {"lead_recruiter_email": "lead@acme.example"}
    named = web.post("/api/interviews", json={"application_id": "app_1", "round": 2, "panel": ivy, **lead})
    unknown = web.post("/api/interviews", json={"application_id": "app_2", "panel": ivy})

    assert (by_posting.status_code, named.status_code) == (202, 202), (by_posting.json, named.json)
    given = [variables["lead_recruiter_email"] for variables in engine.variables]
    assert given == ["team@acme.example", "lead@acme.example"]
    assert refused_field(unknown) == (400, "lead_recruiter_email")
    assert "the posting of application app_2 names no recruiters" in unknown.json["detail"]


def prefilled_panel(dashboard: str) -> str:
    return re.search(r'<textarea name="panel"[^>]*>(.*?)</textarea>', dashboard, re.S).group(1)


def test_employers_find_candidates_by_skill_and_experience_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the skill rows and their cascade, on both databases
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(54):
            session.add(
                Candidate(
                    candidate_id=f"c{number:02d}",
                    resume_id=f"res_{number}",
                    skills=["python", "sql"] if number % 2 else ["python"],
                    years_of_experience=number % 10,
                    name="Hidden Name",
                    email="hidden@example.com",
                    indexed_at=utcnow(),
                )
            )

    # Most experienced first (9 years: c49, c39, ..., c09; then 8 years), a page of 50 at a
    # time: the 4 left are the last of those with none (c30, c20, c10, c00).
    first = web.get("/api/candidates?skills=python")
    assert first.status_code == 200, first.json
    found_first = [c["candidateId"] for c in first.json["candidates"]]
    assert found_first[:6] == ["c49", "c39", "c29", "c19", "c09", "c48"]
    assert len(found_first) == 50 and first.json["next"] == "0.c40"
    rest = web.get(f"/api/candidates?skills=python&after={first.json['next']}").json
    assert [c["candidateId"] for c in rest["candidates"]] == ["c30", "c20", "c10", "c00"]
    assert rest["next"] is None
    assert sorted(found_first + ["c30", "c20", "c10", "c00"]) == [f"c{n:02d}" for n in range(54)]
    # A cursor this search never gave (a bare id, as pages cut by id once gave) names the field.
    assert refused_field(web.get("/api/candidates?skills=python&after=c49")) == (400, "after")
    assert refused_field(web.get(f"/api/candidates?after={'9' * 30}.c49")) == (400, "after")

    # Every skill asked for (any case), and the experience; never the contact details.
    found = web.get("/api/candidates?skills=SQL,%20Python&min_years=8").json
    assert found == {
        "candidates": [
            {"candidateId": f"c{n:02d}", "skills": ["python", "sql"], "yearsOfExperience": n % 10}
            for n in (49, 39, 29, 19, 9)
        ],
        "next": None,
    }
    assert "Hidden" not in web.get("/api/candidates").text

    # A new resume's skills replace the old; an erased candidate is gone from search.
    with services.db.sessions.begin() as session:
        session.get(Candidate, "c09").skills = ["python"]
        session.execute(delete(Candidate).where(Candidate.candidate_id == "c19"))
    again = web.get("/api/candidates?skills=sql&min_years=8").json["candidates"]
    assert [c["candidateId"] for c in again] == ["c49", "c39", "c29"]
    with services.db.sessions() as session:
        assert session.scalars(select(CandidateSkill).where(CandidateSkill.candidate_id == "c19")).all() == []


def test_a_search_reads_candidates_in_the_order_of_their_index(tmp_path):
    """SQLite walks ix_candidates_experience for the page: no sort of every match."""
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()
    searches = []

    def keep_search(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM candidates" in statement and "ORDER BY" in statement:
            searches.append((statement, parameters))

    event.listen(services.db.engine, "before_cursor_execute", keep_search)
    assert web.get("/api/candidates?skills=python&min_years=2&after=3.c1").status_code == 200
    [(statement, parameters)] = searches
    with services.db.engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("ix_candidates_experience" in step for step in plan), (statement, plan)
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_the_candidates_page_finds_them_and_leads_to_their_unlock(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))

    page = web.get("/candidates?skills=Python&min_years=").text
    [row] = re.findall(r'<table data-testid="candidates">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert '<a href="/items?q=ada">ada</a>' in row and "Ada Lovelace" not in page
    assert '<a href="/?candidate_id=ada#unlock">Unlock</a>' in row
    assert 'value="python"' in page  # the skills as search read them
    assert 'data-testid="no-candidates"' in web.get("/candidates?skills=kafka").text
    refused = web.get("/candidates?skills=python,+cobol")
    assert refused.status_code == 400 and 'value="python, cobol"' in refused.text  # as typed
    assert "skills: search knows no skill &#39;cobol&#39;; it knows: python," in refused.text

    # The unlock form opens with the candidate filled in.
    dashboard = web.get("/?candidate_id=ada").text
    assert re.search(r'name="candidate_id" required list="known-candidates"\s+value="ada"', dashboard)


def test_the_candidates_page_ranks_the_best_for_a_posting_each_to_unlock_for_its_employer(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"),  # python
                JobPosting(
                    posting_id="p-py", employer_id="acme", title="Python engineer", required_skills=["python"]
                ),
                JobPosting(
                    posting_id="p-rust", employer_id="acme", title="Rust engineer", required_skills=["rust"]
                ),
            ]
        )

    page = web.get("/candidates?posting_id=p-py&skills=&min_years=")

    assert page.status_code == 200
    [row] = re.findall(r'<table data-testid="fits">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert " ".join(re.sub(r"<[^>]+>", " ", row).split()) == "ada 100 python nothing not found Unlock"
    assert '<a href="/?candidate_id=ada&amp;employer_id=acme#unlock">Unlock</a>' in row
    assert '<option value="p-py" selected>Python engineer</option>' in page.text
    assert '<a href="/items?q=p-py&amp;kind=application" data-testid="posting-applications">' in page.text
    assert 'data-testid="no-fits"' in web.get("/candidates?posting_id=p-rust").text
    unknown = web.get("/candidates?posting_id=p-gone")
    assert unknown.status_code == 404 and "no job posting p-gone" in unknown.text
    # The unlock form opens with the candidate and the posting's employer chosen.
    with services.db.sessions.begin() as session:
        session.add(
            Employer(
                employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_card_visa"
            )
        )
    dashboard = web.get("/?candidate_id=ada&employer_id=acme").text
    assert '<option value="acme" selected>' in dashboard


def test_a_candidate_search_names_what_is_wrong_with_its_question(tmp_path):
    web = offline_app(empty_services(tmp_path)).test_client()
    unknown = web.get("/api/candidates?skills=python,pyton")
    assert refused_field(unknown) == (400, "skills")
    assert "search knows no skill 'pyton'; it knows: python, java," in unknown.json["detail"]
    for url, field in [
        ("/api/candidates?min_years=-1", "min_years"),
        ("/api/candidates?min_years=many", "min_years"),
        ("/api/candidates?after=a%20b", "after"),
        ("/api/candidates?skill=python", "skill"),
        ("/api/candidates?skills=" + ",".join(["python", "java", "sql", "go", "rust", "css"] * 2), None),
    ]:
        answer = web.get(url)
        if field is None:  # repeated names count once
            assert answer.status_code == 200, answer.json
        else:
            assert refused_field(answer) == (400, field), url
    too_many = quote(",".join(list(SKILLS)[:11]))  # c++ and c# among them
    assert "at most 10 skills at once" in web.get(f"/api/candidates?skills={too_many}").json["detail"]
    assert web.get(f"/api/candidates?skills={quote('C++, c#')}").status_code == 200
    # Known skills, but longer than the document's maxLength of 500.
    too_long = web.get("/api/candidates?skills=" + "python," * 72)
    assert refused_field(too_long) == (400, "skills")
    assert "at most 500 characters" in too_long.json["detail"]


def test_a_candidate_search_takes_a_skill_as_resumes_write_it(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        session.add(
            Candidate(
                candidate_id="kim",
                resume_id="res_kim",
                skills=["javascript", "kubernetes", "postgresql"],
                indexed_at=utcnow(),
            )
        )
    found = web.get("/api/candidates?skills=K8s,js,postgres,kubernetes").json["candidates"]
    assert [candidate["candidateId"] for candidate in found] == ["kim"]
    page = web.get("/candidates?skills=k8s,+JS").text
    assert 'value="kubernetes, javascript"' in page  # the names search keeps them by


def test_a_job_board_lists_the_open_postings_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(52):
            session.add(
                JobPosting(
                    posting_id=f"p{number:02d}",
                    employer_id="acme",
                    title=f"Engineer {number}",
                    required_skills=["python"],
                    nice_to_have_skills=["sql"],
                    min_years=2,
                    recruiter_team_email="team@acme.example",
                    open=number != 50,  # p50 is filled
                )
            )

    first = web.get("/api/postings")
    assert first.status_code == 200, first.json
    assert len(first.json["postings"]) == 50 and first.json["next"] == "p49"
    assert first.json["postings"][0] == {
        "postingId": "p00",
        "employerId": "acme",
        "title": "Engineer 0",
        "requiredSkills": ["python"],
        "niceToHaveSkills": ["sql"],
        "minYears": 2,
    }
    rest = web.get("/api/postings?after=p49").json
    assert (rest["postings"][0]["postingId"], len(rest["postings"]), rest["next"]) == ("p51", 1, None)
    assert "team@acme.example" not in first.text  # who screens stays inside
    # One posting's page, open or closed; who screens stays inside there too.
    assert web.get("/api/postings/p00").json == {**first.json["postings"][0], "open": True}
    filled = web.get("/api/postings/p50")
    assert filled.json["open"] is False and "team@acme.example" not in filled.text
    assert web.get("/api/postings/p99").status_code == 404
    assert refused_field(web.get("/api/postings?after=a%20b")) == (400, "after")
    assert refused_field(web.get("/api/postings?state=closed")) == (400, "state")


def test_a_job_board_finds_the_postings_that_ask_for_skills(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for posting_id, required, nice, is_open in [
            ("p-data", ["python", "sql"], ["spark"], True),
            ("p-ops", ["kubernetes"], ["python"], True),
            ("p-web", ["javascript"], [], True),
            ("p-filled", ["python", "spark"], [], False),
        ]:
            session.add(
                JobPosting(
                    posting_id=posting_id,
                    employer_id="acme",
                    title=posting_id,
                    required_skills=required,
                    nice_to_have_skills=nice,
                    open=is_open,
                )
            )

    def found(skills: str) -> list[str]:
        answer = web.get(f"/api/postings?skills={skills}")
        assert answer.status_code == 200, answer.json
        return [posting["postingId"] for posting in answer.json["postings"]]

    # Asked for, required or nice to have; every skill given; as resumes write them.
    assert found("python") == ["p-data", "p-ops"]
    assert found("Python,SPARK") == ["p-data"]
    assert found("k8s") == ["p-ops"]
    assert found("rust") == []
    refused = web.get("/api/postings?skills=cobol")
    assert refused_field(refused) == (400, "skills")
    assert "it knows: python, java" in refused.json["invalid_params"][0]["reason"]
    # Known skills, but longer than the document's maxLength of 500.
    too_long = web.get("/api/postings?skills=" + "python," * 72)
    assert refused_field(too_long) == (400, "skills")
    assert "at most 500 characters" in too_long.json["detail"]


def test_an_employer_sees_the_candidates_who_fit_a_posting_best_and_why(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the counting query, on both databases
    web = offline_app(services).test_client()

    def candidate(candidate_id, skills, years):
        return Candidate(
            candidate_id=candidate_id,
            resume_id=f"res_{candidate_id}",
            skills=skills,
            years_of_experience=years,
            name="Hidden Name",
            email="hidden@example.com",
            indexed_at=utcnow(),
        )

    with services.db.sessions.begin() as session:
        session.add_all(
            [
                JobPosting(
                    posting_id="p-data",
                    employer_id="acme",
                    title="Data engineer",
                    required_skills=["python", "sql", "spark"],
                    nice_to_have_skills=["kafka", "python"],
                    min_years=3,
                ),
                JobPosting(
                    posting_id="p-any", employer_id="acme", title="Any", nice_to_have_skills=["docker"]
                ),
                candidate("ada", ["python", "sql", "spark", "kafka"], 6),
                candidate("bob", ["python"], 1),
                candidate("cas", ["javascript", "docker"], None),
                candidate("dan", ["sql", "spark"], None),
            ]
        )

    fits = web.get("/api/postings/p-data/candidates?limit=2")

    assert fits.status_code == 200, fits.json
    assert fits.json == {
        "postingId": "p-data",
        "candidates": [
            {
                "candidateId": "ada",
                "yearsOfExperience": 6,
                "score": 100,
                "matchedSkills": ["python", "sql", "spark"],
                "missingSkills": [],
                "matchedNiceToHave": ["kafka", "python"],
                "meetsExperience": True,
            },
            {
                "candidateId": "dan",
                "yearsOfExperience": None,
                "score": 47,  # 70 * 2/3, no nice-to-have, no experience read
                "matchedSkills": ["sql", "spark"],
                "missingSkills": ["python"],
                "matchedNiceToHave": [],
                "meetsExperience": False,
            },
        ],
    }
    assert "Hidden Name" not in fits.text  # contact details are what an unlock pays for
    everyone = web.get("/api/postings/p-data/candidates").json["candidates"]
    # Not cas, who has none of the skills it requires; bob: 70 * 1/3 + 20 * 1/2.
    assert [(c["candidateId"], c["score"]) for c in everyone] == [("ada", 100), ("dan", 47), ("bob", 33)]
    # A posting that requires nothing fits everyone; the nice-to-have decides.
    anyone = web.get("/api/postings/p-any/candidates").json["candidates"]
    assert [(c["candidateId"], c["score"]) for c in anyone] == [
        ("cas", 100),
        ("ada", 80),
        ("bob", 80),
        ("dan", 80),
    ]
    assert web.get("/api/postings/p-none/candidates").status_code == 404
    assert refused_field(web.get("/api/postings/p-data/candidates?limit=51")) == (400, "limit")


def test_a_candidate_sees_the_open_postings_that_fit_best_and_why(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services, CONSOLE=True).test_client()

    def posting(posting_id, required, nice=(), min_years=0, is_open=True):
        return JobPosting(
            posting_id=posting_id,
            employer_id="acme",
            title=f"Job {posting_id}",
            required_skills=list(required),
            nice_to_have_skills=list(nice),
            min_years=min_years,
            open=is_open,
        )

    with services.db.sessions.begin() as session:
        session.add_all(
            [
                posting("p-data", ["python", "sql", "spark"], ["kafka"], min_years=3),
                posting("p-web", ["javascript", "react"]),
                posting("p-py", ["python", "sql"], ["docker"], min_years=5),
                posting("p-filled", ["python", "sql"], ["docker"], is_open=False),
                Candidate(
                    candidate_id="ada",
                    resume_id="res_ada",
                    skills=["python", "sql", "docker"],
                    years_of_experience=6,
                    indexed_at=utcnow(),
                ),
            ]
        )
    record_status(services.db, "resume", "res_ada", "processed", {"candidate_id": "ada"})

    fits = web.get("/api/candidates/ada/postings?limit=2")
    assert fits.status_code == 200, fits.json
    assert fits.json == {
        "candidateId": "ada",
        "postings": [
            {
                "postingId": "p-py",
                "title": "Job p-py",
                "employerId": "acme",
                "score": 100,
                "matchedSkills": ["python", "sql"],
                "missingSkills": [],
                "matchedNiceToHave": ["docker"],
                "meetsExperience": True,
            },
            {
                "postingId": "p-data",
                "title": "Job p-data",
                "employerId": "acme",
                "score": 57,  # 70 * 2/3 + 0 + 10
                "matchedSkills": ["python", "sql"],
                "missingSkills": ["spark"],
                "matchedNiceToHave": [],
                "meetsExperience": True,
            },
        ],
    }
    everything = web.get("/api/candidates/ada/postings").json["postings"]
    # Not the filled one, nor p-web, which asks for none of her skills (though it would score 30).
    assert [p["postingId"] for p in everything] == ["p-py", "p-data"]
    assert web.get("/api/candidates/bob/postings").status_code == 404
    assert refused_field(web.get("/api/candidates/ada/postings?limit=0")) == (400, "limit")

    # The resume's page lists the best three, each with an Apply that fills in the form.
    page = web.get("/items/resume/res_ada").text
    fits_shown = re.search(r'data-testid="fits">(.*?)</dd>', page, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", fits_shown).split()) == (
        "Job p-py: scores 100 (has python, sql) Apply "
        "Job p-data: scores 57 (has python, sql; lacks spark) Apply"
    )
    assert '<a href="/?candidate_id=ada&amp;posting_id=p-py#apply">Apply</a>' in fits_shown
    # Once she applied, the posting leads to her application instead.
    applied = {"candidate_id": "ada", "posting_id": "p-py"}
    record_status(services.db, "application", "app_1", "submitted", applied)
    page = web.get("/items/resume/res_ada").text
    fits_shown = re.search(r'data-testid="fits">(.*?)</dd>', page, re.S).group(1)
    assert '<a href="/items/application/app_1">applied (submitted)</a>' in fits_shown
    assert "posting_id=p-py" not in fits_shown and "posting_id=p-data" in fits_shown
    record_status(services.db, "application", "app_1", "withdrawn", applied)  # she may apply again
    assert "posting_id=p-py#apply" in web.get("/items/resume/res_ada").text
    form = web.get("/?candidate_id=ada&posting_id=p-py").text
    assert '<option value="p-py" selected>' in form
    assert re.search(r'name="candidate_id" required list="known-candidates"\s+value="ada"', form)


def test_an_employer_lists_the_contacts_its_unlocks_opened_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    granted = datetime(2026, 12, 2, 9, 30)
    with services.db.sessions.begin() as session:
        for number in range(51):
            candidate_id = f"c{number:02d}"
            session.add(
                indexed_candidate(candidate_id, name=f"Name {number}", email=f"{candidate_id}@example.com")
            )
            session.add(
                ContactAccess(
                    employer_id="acme",
                    candidate_id=candidate_id,
                    unlock_id=f"unl_{number}",
                    granted_at=granted,
                )
            )
        session.add(
            ContactAccess(employer_id="globex", candidate_id="c07", unlock_id="unl_g", granted_at=granted)
        )

    first = web.get("/api/employers/acme/contacts")
    assert first.status_code == 200, first.json
    assert (len(first.json["contacts"]), first.json["next"]) == (50, "c49")
    assert first.json["contacts"][0] == {
        "candidateId": "c00",
        "employerId": "acme",
        "unlockId": "unl_0",
        "grantedAt": "2026-12-02T09:30:00Z",
        "name": "Name 0",
        "email": "c00@example.com",
    }
    # Each as the single lookup gives it.
    assert first.json["contacts"][7] == web.get("/api/candidates/c07/contact?employer_id=acme").json
    rest = web.get("/api/employers/acme/contacts?after=c49").json
    assert ([c["candidateId"] for c in rest["contacts"]], rest["next"]) == (["c50"], None)
    assert [c["unlockId"] for c in web.get("/api/employers/globex/contacts").json["contacts"]] == ["unl_g"]
    assert web.get("/api/employers/initech/contacts").json == {
        "employerId": "initech",
        "contacts": [],
        "next": None,
    }
    assert refused_field(web.get("/api/employers/a%20b/contacts")) == (400, "employer_id")
    assert refused_field(web.get("/api/employers/acme/contacts?after=a%20b")) == (400, "after")


def test_an_employer_lists_the_applications_to_its_posting_a_page_at_a_time(tmp_path, store_url):
    # An employer learned of applications only from the shortlisted emails: it had no list
    # of who applied, how each scored and where each stands.
    services = empty_services(tmp_path, store_url)  # the posting's index, on both databases
    web = offline_app(services, CONSOLE=True).test_client()
    start = datetime(2026, 12, 2, 9, 0)
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                JobPosting(posting_id="p-data", employer_id="acme", title="Data engineer"),
                JobPosting(posting_id="p-web", employer_id="acme", title="Web developer"),
            ]
        )
        for number in range(52):
            session.add(
                BusinessRecord(
                    kind="application",
                    business_id=f"app_{number:02d}",
                    status="shortlisted" if number % 2 else "screening",
                    details={
                        "candidate_id": f"c{number:02d}",
                        "posting_id": "p-data",
                        "match_score": number,
                        "matched_skills": ["python"],
                    },
                    updated_at=start + timedelta(minutes=number),
                )
            )
        session.add(
            BusinessRecord(
                kind="application",
                business_id="app_web",
                status="requested",  # not scored yet
                details={"candidate_id": "c51", "posting_id": "p-web"},
                updated_at=start,
            )
        )
        for employer_id, candidate_id in [("acme", "c51"), ("acme", "c50"), ("globex", "c49")]:
            session.add(
                ContactAccess(
                    employer_id=employer_id, candidate_id=candidate_id, unlock_id="unl_x", granted_at=start
                )
            )

    first = web.get("/api/postings/p-data/applications")

    assert first.status_code == 200, first.json
    assert (len(first.json["applications"]), first.json["postingId"]) == (50, "p-data")
    assert first.json["applications"][:2] == [
        {
            "applicationId": "app_51",
            "candidateId": "c51",
            "status": "shortlisted",
            "updatedAt": "2026-12-02T09:51:00Z",
            "matchScore": 51,
            "matchedSkills": ["python"],
            "contactUnlocked": True,
        },
        {
            "applicationId": "app_50",
            "candidateId": "c50",
            "status": "screening",
            "updatedAt": "2026-12-02T09:50:00Z",
            "matchScore": 50,
            "matchedSkills": ["python"],
            "contactUnlocked": True,
        },
    ]
    # Another employer's unlock opens nothing for this one.
    assert first.json["applications"][2]["contactUnlocked"] is False
    rest = web.get("/api/postings/p-data/applications", query_string={"after": first.json["next"]}).json
    assert ([a["applicationId"] for a in rest["applications"]], rest["next"]) == (["app_01", "app_00"], None)
    waiting = web.get("/api/postings/p-data/applications?state=open&order=oldest").json["applications"]
    assert [a["applicationId"] for a in waiting][:3] == ["app_00", "app_02", "app_04"]
    assert len(waiting) == 26
    assert web.get("/api/postings/p-web/applications").json["applications"] == [
        {
            "applicationId": "app_web",
            "candidateId": "c51",
            "status": "requested",
            "updatedAt": "2026-12-02T09:00:00Z",
            "matchScore": None,
            "matchedSkills": [],
            "contactUnlocked": True,
        }
    ]
    # The console's Items page finds a posting's applications by its id.
    assert listed(web.get("/items?q=p-web").text) == ["app_web"]
    assert web.get("/api/postings/p-none/applications").status_code == 404
    assert refused_field(web.get("/api/postings/p-data/applications?state=maybe")) == (400, "state")
    assert refused_field(web.get("/api/postings/p-data/applications?after=yesterday")) == (400, "after")
    assert refused_field(web.get("/api/postings/a%20b/applications")) == (400, "posting_id")


def test_an_employer_lists_its_postings_with_their_applications_counted(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the counting query, on both databases
    web = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(51):
            session.add(
                JobPosting(
                    posting_id=f"acme-{number:02d}",
                    employer_id="acme",
                    title=f"Role {number}",
                    required_skills=["python"],
                    open=number != 1,
                )
            )
        session.add(JobPosting(posting_id="globex-1", employer_id="globex", title="Other"))
        for number, (posting_id, status) in enumerate(
            [
                ("acme-00", "submitted"),
                ("acme-00", "submitted"),
                ("acme-00", "shortlisted"),
                ("acme-01", "declined"),
                ("globex-1", "submitted"),
            ]
        ):
            session.add(
                BusinessRecord(
                    kind="application",
                    business_id=f"app_{number}",
                    status=status,
                    details={"candidate_id": f"c{number}", "posting_id": posting_id},
                    updated_at=utcnow(),
                )
            )

    first = web.get("/api/employers/acme/postings")

    assert first.status_code == 200, first.json
    assert (len(first.json["postings"]), first.json["next"]) == (50, "acme-49")
    assert first.json["postings"][0] == {
        "postingId": "acme-00",
        "employerId": "acme",
        "title": "Role 0",
        "requiredSkills": ["python"],
        "niceToHaveSkills": [],
        "minYears": 0,
        "open": True,
        "applications": {"total": 3, "byStatus": {"shortlisted": 1, "submitted": 2}},
    }
    assert first.json["postings"][2]["applications"] == {"total": 0, "byStatus": {}}
    rest = web.get("/api/employers/acme/postings?after=acme-49").json
    assert ([p["postingId"] for p in rest["postings"]], rest["next"]) == (["acme-50"], None)
    closed = web.get("/api/employers/acme/postings?state=closed").json["postings"]
    assert [(p["postingId"], p["open"], p["applications"]["total"]) for p in closed] == [
        ("acme-01", False, 1)
    ]
    assert len(web.get("/api/employers/acme/postings?state=open").json["postings"]) == 50
    assert web.get("/api/employers/initech/postings").json == {
        "employerId": "initech",
        "postings": [],
        "next": None,
    }
    assert refused_field(web.get("/api/employers/acme/postings?state=draft")) == (400, "state")
    assert refused_field(web.get("/api/employers/a%20b/postings")) == (400, "employer_id")


OPEN_POSTING_LINKS = "Best candidates Apply a candidate"


def test_the_postings_page_counts_each_postings_applications_and_leads_to_them(tmp_path):
    services = empty_services(tmp_path)
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        session.add_all(
            [
                Employer(
                    employer_id="acme",
                    name="Acme",
                    email="hr@acme.example",
                    payment_method_ref="pm_card_visa",
                ),
                JobPosting(posting_id="p-data", employer_id="acme", title="Data engineer"),
                JobPosting(posting_id="p-old", employer_id="acme", title="Filled role", open=False),
                JobPosting(posting_id="p-web", employer_id="globex", title="Web developer"),
            ]
        )
    for number, status in enumerate(["submitted", "shortlisted", "shortlisted"]):
        record_status(
            services.db,
            "application",
            f"app_{number}",
            status,
            {"candidate_id": f"c{number}", "posting_id": "p-data"},
        )

    page = web.get("/postings")

    assert page.status_code == 200
    [body] = re.findall(r'<table data-testid="postings">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    text = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]
    assert text == [
        "Data engineer p-data acme yes 3 shortlisted 2, submitted 1 Applications " + OPEN_POSTING_LINKS,
        "Filled role p-old acme closed 0 - Applications",
        "Web developer p-web globex yes 0 - Applications " + OPEN_POSTING_LINKS,
    ]
    assert '<a href="/items?q=p-data&amp;kind=application">Applications</a>' in rows[0]
    assert '<a href="/candidates?posting_id=p-data">Best candidates</a>' in rows[0]
    assert '<a href="/?posting_id=p-data#apply">Apply a candidate</a>' in rows[0]
    assert '<a href="/postings?employer_id=acme&amp;state=any">acme</a>' in rows[0]
    acme_open = web.get("/postings?employer_id=acme&state=open&after=").text
    assert (
        "Data engineer" in acme_open and "Filled role" not in acme_open and "Web developer" not in acme_open
    )
    assert '<a href="/postings">Postings</a>' in page.text  # in the console's navigation
    assert web.get("/postings?state=draft").status_code == 400


def test_the_consoles_lists_offer_the_first_hundred_and_the_one_a_link_asks_for(tmp_path, store_url):
    # A marketplace has thousands of postings and employers: a form's list offers the first
    # hundred, says others exist, and the links of other pages fill in any one.
    services = empty_services(tmp_path, store_url)  # the orders and limits, on both databases
    web = offline_app(services, CONSOLE=True).test_client()
    with services.db.sessions.begin() as session:
        for n in range(101):
            employer_id = f"e-{n:03}"
            session.add(
                Employer(
                    employer_id=employer_id,
                    name=f"Employer {n:03}",
                    email="hr@example.com",
                    payment_method_ref="pm_card_visa",
                ),
            )
            session.add(JobPosting(posting_id=f"p-{n:03}", title=f"Role {n:03}", employer_id=employer_id))

    def offered(page: str, name: str) -> list[str]:
        select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
        return re.findall(r'<option value="([^"]+)"', select)

    dashboard = web.get("/").text
    assert offered(dashboard, "posting_id")[-1] == "p-099" and len(offered(dashboard, "posting_id")) == 100
    assert offered(dashboard, "employer_id")[-1] == "e-099"
    assert 'data-testid="more-postings"' in dashboard and 'data-testid="more-employers"' in dashboard
    linked = web.get("/?posting_id=p-100&employer_id=e-100").text
    assert '<option value="p-100" selected>Role 100</option>' in linked
    assert re.search(r'<option value="e-100" selected>Employer 100', linked)
    ranking = web.get("/candidates?posting_id=p-100").text
    assert '<option value="p-100" selected>Role 100</option>' in ranking
    assert 'data-testid="more-postings"' in ranking
    postings = web.get("/postings?employer_id=e-100").text
    assert '<option value="e-100" selected>Employer 100</option>' in postings
    assert 'data-testid="more-employers"' in postings
    with services.db.sessions.begin() as session:
        session.execute(delete(JobPosting).where(JobPosting.posting_id == "p-100"))
        session.execute(delete(Employer).where(Employer.employer_id == "e-100"))
    assert "more-postings" not in web.get("/").text and "more-employers" not in web.get("/").text


def test_a_candidate_may_see_everything_hireflow_keeps_about_them(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)  # the outbox's LIKE lookup, on both databases
    web = offline_app(services).test_client()
    sent = datetime(2026, 12, 2, 9, 0)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
        session.add(ContactAccess(employer_id="acme", candidate_id="ada", unlock_id="unl_1", granted_at=sent))
        for dedupe_key, recipient in [
            ("application-shortlisted:app_1:2251", "ada@example.com"),
            ("employer-shortlisted:app_1:2252", "hiring@acme.example"),  # about her, not to her
            ("application-shortlisted:app_9:2253", "ada@example.com"),  # another candidate's item
        ]:
            session.add(
                EmailOutboxEntry(
                    dedupe_key=dedupe_key,
                    recipient=recipient,
                    template=dedupe_key.split(":")[0],
                    status="sent",
                    claimed_until=sent,
                    sent_at=sent,
                    first_tried_at=sent,
                )
            )
    record_status(
        services.db, "application", "app_1", "shortlisted", {"candidate_id": "ada", "posting_id": "p"}
    )
    record_status(services.db, "unlock", "unl_1", "unlocked", {"candidate_id": "ada", "employer_id": "acme"})

    kept = web.get("/api/candidates/ada")

    assert kept.status_code == 200, kept.json
    assert (
        kept.json["profile"]["name"] == "Ada Lovelace" and kept.json["profile"]["email"] == "ada@example.com"
    )
    assert [(i["kind"], i["id"], i["status"]) for i in kept.json["items"]] == [
        ("application", "app_1", "shortlisted"),
        ("unlock", "unl_1", "unlocked"),
    ]
    assert kept.json["contactAccess"] == [
        {"employerId": "acme", "unlockId": "unl_1", "grantedAt": "2026-12-02T09:00:00Z"}
    ]
    assert kept.json["emails"] == [
        {"template": "application-shortlisted", "status": "sent", "sentAt": "2026-12-02T09:00:00Z"}
    ]
    assert web.get("/api/candidates/bob").status_code == 404
    assert refused_field(web.get("/api/candidates/a%20b")) == (400, "candidate_id")


def test_a_contact_lookup_names_what_is_wrong_with_its_question(tmp_path):
    web = offline_app(empty_services(tmp_path)).test_client()
    for url, field in [
        ("/api/candidates/ada/contact", "employer_id"),
        ("/api/candidates/ada/contact?employer_id=a%20b", "employer_id"),
        ("/api/candidates/ada/contact?employer_id=acme&x=1", "x"),
        ("/api/candidates/a%20b/contact?employer_id=acme", "candidate_id"),
    ]:
        assert refused_field(web.get(url)) == (400, field), url
    assert web.get("/api/candidates/ada/contact?employer_id=acme").status_code == 404


def test_the_admin_api_lists_what_is_on_file_a_page_at_a_time(tmp_path, store_url):
    # A back office reconciling its records with hireflow's could ask only by id.
    services = empty_services(tmp_path, store_url)
    admin = offline_app(services).test_client()
    with services.db.sessions.begin() as session:
        for number in range(101):
            session.add(
                JobPosting(posting_id=f"p{number:03d}", employer_id="acme", title="T", open=number != 5)
            )
        session.add(Interviewer(username="ivy", name="Ivy", email="ivy@example.com", timezone="Asia/Tokyo"))
        session.add(
            Employer(
                employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_card_visa"
            )
        )

    first = admin.get("/api/admin/postings", headers=ADMIN)

    assert first.status_code == 200, first.json
    assert (len(first.json["postings"]), first.json["next"]) == (100, "p099")
    # Each as the GET by id answers, closed ones too.
    assert first.json["postings"][5] == admin.get("/api/admin/postings/p005", headers=ADMIN).json
    assert first.json["postings"][5]["open"] is False
    rest = admin.get("/api/admin/postings?after=p099", headers=ADMIN).json
    assert ([p["posting_id"] for p in rest["postings"]], rest["next"]) == (["p100"], None)
    interviewers = admin.get("/api/admin/interviewers", headers=ADMIN).json
    assert interviewers == {
        "interviewers": [admin.get("/api/admin/interviewers/ivy", headers=ADMIN).json],
        "next": None,
    }
    [acme] = admin.get("/api/admin/employers", headers=ADMIN).json["employers"]
    on_file = admin.get("/api/admin/employers/acme", headers=ADMIN).json
    assert acme == {key: value for key, value in on_file.items() if key != "credits"}
    assert refused_field(admin.get("/api/admin/postings?after=a%20b", headers=ADMIN)) == (400, "after")
    assert admin.get("/api/admin/employers").status_code == 401


def test_the_admin_api_keeps_employers_and_adds_their_credits_once_per_purchase(tmp_path, store_url):
    # Employers and their credits came only from make seed's demo data: a real marketplace
    # had no way to add an employer or the credits it bought.
    services = empty_services(tmp_path, store_url)  # the ledger's unique keys, on both databases
    admin = offline_app(services).test_client()
    acme = {"name": "Acme", "email": "hr@acme.example", "plan": "premium", "payment_method_ref": "pm_1Acme"}

    saved = admin.put("/api/admin/employers/acme", json=acme, headers=ADMIN)
    bought = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 10, "reference": "inv-1"}, headers=ADMIN
    )
    again = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 10, "reference": "inv-1"}, headers=ADMIN
    )
    other_amount = admin.post(
        "/api/admin/employers/acme/credits", json={"amount": 99, "reference": "inv-1"}, headers=ADMIN
    )
    CreditsLedger(services.db).spend("acme", "unl_1", 3)

    assert saved.status_code == 200, saved.json
    assert saved.json["payment_customer_ref"] is None and saved.json["credits"] == {
        "balance": 0,
        "movements": [],
    }
    assert (bought.status_code, bought.json["created"], bought.json["balance"]) == (201, True, 10)
    assert (again.status_code, again.json["created"], again.json["balance"]) == (200, False, 10)
    assert other_amount.status_code == 409
    assert "purchase inv-1 added 10 credits before" in other_amount.json["detail"]
    shown = admin.get("/api/admin/employers/acme", headers=ADMIN).json
    assert shown["plan"] == "premium" and shown["credits"]["balance"] == 7
    assert [(m["kind"], m["amount"], m["reference"]) for m in shown["credits"]["movements"]] == [
        ("spend", 3, "unl_1"),
        ("top_up", 10, "inv-1"),
    ]
    # The unlock form and the API take the employer from the file from now on.
    with services.db.sessions() as session:
        assert session.get(Employer, "acme").payment_method_ref == "pm_1Acme"

    # A purchase reference is the employer's own: another employer's inv-1 is another top-up.
    admin.put("/api/admin/employers/globex", json={**acme, "name": "Globex"}, headers=ADMIN)
    globex = admin.post(
        "/api/admin/employers/globex/credits", json={"amount": 2, "reference": "inv-1"}, headers=ADMIN
    )
    assert (globex.status_code, globex.json["balance"]) == (201, 2)

    unknown = admin.post(
        "/api/admin/employers/nobody/credits", json={"amount": 1, "reference": "x"}, headers=ADMIN
    )
    assert unknown.status_code == 404 and "PUT /api/admin/employers/nobody" in unknown.json["detail"]
    assert admin.get("/api/admin/employers/nobody", headers=ADMIN).status_code == 404
    for body, field in [
        ({**acme, "payment_method_ref": "4242424242424242"}, "payment_method_ref"),  # never a card number
        ({**acme, "email": "hr"}, "email"),
        ({**acme, "plan": "gold"}, "plan"),
    ]:
        assert refused_field(admin.put("/api/admin/employers/acme", json=body, headers=ADMIN)) == (400, field)
    for body, field in [({"amount": 0, "reference": "inv-2"}, "amount"), ({"amount": 1}, "reference")]:
        refused = admin.post("/api/admin/employers/acme/credits", json=body, headers=ADMIN)
        assert refused_field(refused) == (400, field)
    assert admin.get("/api/admin/employers/acme").status_code == 401
    assert CreditsLedger(services.db).balance("acme") == 7
    # The longest ids fit the ledger's reference (PostgreSQL enforces its length).
    longest, purchase = "e" * 100, "p" * 99
    admin.put(f"/api/admin/employers/{longest}", json=acme, headers=ADMIN)
    top_up = admin.post(
        f"/api/admin/employers/{longest}/credits", json={"amount": 1, "reference": purchase}, headers=ADMIN
    )
    assert top_up.status_code == 201, top_up.json
    assert (
        admin.get(f"/api/admin/employers/{longest}", headers=ADMIN).json["credits"]["movements"][0][
            "reference"
        ]
        == purchase
    )


def test_an_item_page_links_its_candidates_items_and_shows_a_paid_charge_once(tmp_path):
    # The page listed the same card payment twice (as charged and as paid), and a
    # candidate id led nowhere, though the Items page finds everything of theirs.
    services = empty_services(tmp_path)
    charge = {"payment_id": "pi_1", "amount_cents": 3000, "currency": "eur"}
    record_status(services.db, "unlock", "unl_1", "requested", {"employer_id": "acme", "candidate_id": "ada"})
    record_details(services.db, "unlock", "unl_1", "requested", card_charged=charge)
    web = offline_app(services, CONSOLE=True).test_client()

    charged = web.get("/items/unlock/unl_1").text
    record_details(services.db, "unlock", "unl_1", "requested", paid={"with": "card", **charge})
    paid = web.get("/items/unlock/unl_1").text

    assert "<dt>card charged</dt>" in charged and "<dt>paid</dt>" not in charged
    assert "<dt>paid</dt>" in paid and "<dt>card charged</dt>" not in paid
    assert paid.count("pi_1") == 1
    assert re.search(r'ada <a href="/items\?q=ada" data-testid="candidate-items">', paid)
    # The API keeps both records: the sweep of a lost engine reads the first.
    assert set(web.get("/api/unlocks/unl_1").json["details"]) >= {"card_charged", "paid"}


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


def test_the_mail_page_shows_the_newest_mails_and_says_how_many_there_are(tmp_path, serve, monkeypatch):
    from hireflow.sandboxes.mail_capture import create_mail_capture
    from webapp.blueprints import ui

    capture = serve(create_mail_capture(tmp_path / "mail.sqlite3", "SG.key"))
    for number in range(3):
        requests.post(
            f"{capture.url}/v3/mail/send",
            headers={"Authorization": "Bearer SG.key"},
            json={
                "personalizations": [{"to": [{"email": "ada@example.com"}]}],
                "from": {"email": "no-reply@hireflow.example"},
                "subject": f"Mail {number}",
                "content": [
                    {"type": "text/plain", "value": f"Open http://127.0.0.1:5000/items/resume/res_{number}"}
                ],
            },
            timeout=5,
        ).raise_for_status()
    monkeypatch.setattr(ui, "MAIL_SHOWN", 2)
    web = offline_app(empty_services(tmp_path), MAIL_CAPTURE_URL=capture.url).test_client()

    page = web.get("/mail")
    assert page.status_code == 200
    assert re.findall(r"<h2>(Mail \d)</h2>", page.text) == ["Mail 2", "Mail 1"]  # newest first
    assert "The newest 2 of 3 emails" in page.text
    assert 'href="http://127.0.0.1:5000/items/resume/res_2"' in page.text
    to_nobody = web.get("/mail", query_string={"to": "nobody@example.com"})
    assert "No mail yet." in to_nobody.text and "mail-count" not in to_nobody.text


def test_the_mail_page_offers_each_attachment_as_a_download(tmp_path, serve):
    # The invitation emails say "the calendar invitation is attached"; the page showed none.
    from hireflow.sandboxes.mail_capture import create_mail_capture

    capture = serve(create_mail_capture(tmp_path / "mail.sqlite3", "SG.key"))
    invitation = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    attachments = [
        {
            "content": base64.b64encode(invitation).decode(),
            "filename": "invitation.ics",
            "type": "text/calendar",
        },
        {
            "content": base64.b64encode(b"<script>x</script>").decode(),
            "filename": "../page.html",
            "type": "text/html",
        },
    ]
    requests.post(
        f"{capture.url}/v3/mail/send",
        headers={"Authorization": "Bearer SG.key"},
        json={
            "personalizations": [{"to": [{"email": "ada@example.com"}]}],
            "from": {"email": "no-reply@hireflow.example"},
            "subject": "Your interview",
            "content": [{"type": "text/plain", "value": "The calendar invitation is attached."}],
            "attachments": attachments,
        },
        timeout=5,
    ).raise_for_status()
    web = offline_app(empty_services(tmp_path), MAIL_CAPTURE_URL=capture.url).test_client()

    page = web.get("/mail").text
    links = re.findall(r'<a href="([^"]+)" data-testid="attachment">([^<]+)</a>', page)
    assert [name for _, name in links] == ["invitation.ics", "../page.html"]
    assert f"(text/calendar, {len(invitation)} bytes)" in page
    ics = web.get(links[0][0])
    assert (ics.status_code, ics.data, ics.mimetype) == (200, invitation, "text/calendar")
    assert ics.headers["Content-Disposition"] == "attachment; filename=invitation.ics"
    # Never served as a page of this site, nor under a name that climbs out of a folder.
    html = web.get(links[1][0])
    assert html.mimetype == "application/octet-stream"
    assert html.headers["Content-Disposition"] == "attachment; filename=page.html"

    message_path = links[0][0].rsplit("/attachments/", 1)[0]
    assert web.get(f"{message_path}/attachments/2").status_code == 404
    assert web.get("/mail/no-such-mail/attachments/0").status_code == 404
