"""The HTML console: items and their pages, forms that keep what was typed, incidents
retried, postings and mail, on engine doubles instead of an engine."""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import delete

from hireflow.adapters.calendar import Slot, StoreCalendar
from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.constants import Message
from hireflow.store import BusinessRecord, ContactAccess, Employer, JobPosting, utcnow
from job_workers.records import record_details, record_status
from job_workers.services import Services
from tests.offline_webapp import (
    RecordsVariables,
    StartsInstancesInState,
    add_first_status,
    empty_services,
    indexed_candidate,
    listed,
    offline_app,
    refused_field,
    send_to_capture,
    stored_files,
)
from tests.resume_samples import pdf_resume
from tests.web_helpers import ADMIN, ADMIN_TOKEN, csrf_token
from webapp import create_app
from webapp.domain import FINAL_STATUSES, FIRST_STATUS


class EndedInstances(CamundaRestClient):
    """A client whose every instance has completed: the status rule is tested without an engine."""

    def get_process_instance(self, key):
        return {"processInstanceKey": str(key), "state": "COMPLETED"}


def change_checked_every(page: str) -> int | None:
    """Every how many seconds an item page asks whether the item changed; None: never."""
    found = re.search(r'item-refresh\.js" defer data-seconds="(\d+)"', page)
    return int(found.group(1)) if found else None


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
    assert "<dt>Matched skills</dt>" in page
    assert "python, sql" in page and "['python'" not in page
    assert re.search(r"<dt>Missing skills</dt>\s*<dd>none</dd>", page)
    page = app.test_client().get("/items/interview/int_1").text
    assert re.search(r"<dt>Given back</dt>\s*<dd>booking released: yes</dd>", page)
    page = app.test_client().get("/items/interview/int_2").text
    assert re.search(r"<dt>Given back</dt>\s*<dd>none</dd>", page)
    feedback = [
        {"panelist": "ivy", "rating": 5, "recommendation": "hire", "notes": "sharp"},
        {"panelist": "leo", "rating": 3, "recommendation": "next-round", "notes": "ok"},
    ]
    record_status(
        services.db, "interview", "int_3", "done", {"application_id": "app_1", "feedback": feedback}
    )
    page = app.test_client().get("/items/interview/int_3").text
    assert '<a href="/items/application/app_1">app_1</a>' in page  # the application it is for
    # Each panelist's feedback is a row, each of its fields a column.
    columns = re.findall(r'<th scope="col">([^<]*)</th>', page)
    assert columns == ["Panelist", "Rating", "Recommendation", "Notes"]
    rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", page)
    assert [re.findall(r"<td>([^<]*)</td>", row) for row in rows] == [
        ["ivy", "5", "hire", "sharp"],
        ["leo", "3", "next-round", "ok"],
    ]


def test_times_in_an_items_details_read_as_in_the_emails(tmp_path):
    # The offered slots read "2026-12-09T15:00:00Z" to a recruiter, who had to convert them.
    services = empty_services(tmp_path)
    app = console_on_ended_instances(services)
    details = {
        "offered_slots": [{"start": "2026-12-09T15:00:00Z", "end": "2026-12-09T16:00:00Z"}],
        "last_move": {"time": "2026-12-09T15:00:00Z"},
        "reference": "20261209",  # no time: shown as it is
    }
    record_status(services.db, "interview", "int_4", "requested", details)
    page = app.test_client().get("/items/interview/int_4").text
    when = '<time datetime="2026-12-09T15:00:00Z">Wednesday 9 December 2026, 15:00 UTC</time>'
    rows = re.findall(r"<tr>((?:<td>.*?</td>)+)</tr>", page)
    assert [re.findall(r"<td>(.*?)</td>", row) for row in rows] == [
        [when, '<time datetime="2026-12-09T16:00:00Z">Wednesday 9 December 2026, 16:00 UTC</time>']
    ]
    assert re.search(rf"<dt>Last move</dt>\s*<dd>time: {re.escape(when)}</dd>", page)
    assert re.search(r"<dt>Reference</dt>\s*<dd>20261209</dd>", page)


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


def test_a_form_asking_again_with_other_details_leads_to_what_was_asked_for_before(tmp_path):
    # It was an error page saying "a different request needs a business key of its own":
    # the forms show no business key, and the page offered only the way back.
    services = empty_services(tmp_path)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada"))
        session.add(
            Employer(
                employer_id="globex", name="Globex", email="hr@globex.example", payment_method_ref="pm_1"
            )
        )
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=RecordsVariables(), services=services)
    web = app.test_client()
    token = csrf_token(web.get("/").text)
    unlock = {"csrf_token": token, "employer_id": "globex", "candidate_id": "ada"}
    first = web.post("/unlocks", data=unlock)
    assert first.status_code == 303
    earlier = urlparse(first.headers["Location"]).path

    another_card = web.post("/unlocks", data={**unlock, "payment_method_ref": "pm_card_async"})

    assert another_card.status_code == 409 and another_card.mimetype == "text/html"
    refusal = another_card.text.split('data-testid="refusal-unlock"')[1].split("</div>")[0]
    assert "This employer asked to unlock this candidate before, with other details" in refusal
    assert "another unlock starts once that one is cancelled or refunded" in refusal
    assert f'<a href="{earlier}" data-testid="asked-before">' in refusal
    assert 'value="pm_card_async"' in another_card.text  # the form as typed
    # The same details again are a repeat: they lead to the unlock they started.
    assert urlparse(web.post("/unlocks", data=unlock).headers["Location"]).path == earlier
    # The same file uploaded again for another email.
    upload = {"csrf_token": token, "candidate_id": "ada", "candidate_name": "Ada"}
    resume = pdf_resume()
    sent = web.post(
        "/resumes",
        data={**upload, "candidate_email": "ada@example.com", "file": (io.BytesIO(resume), "cv.pdf")},
    )
    assert sent.status_code == 303
    again = web.post(
        "/resumes",
        data={**upload, "candidate_email": "ada@work.example", "file": (io.BytesIO(resume), "cv.pdf")},
    )
    assert again.status_code == 409
    assert "This candidate uploaded this file before" in again.text
    assert f'<a href="{urlparse(sent.headers["Location"]).path}" data-testid="asked-before">' in again.text


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
    # A form sent with no file chosen (the browser checks, but a script may not).
    typed = {"candidate_id": "ada", "candidate_name": "Ada", "candidate_email": "ada@example.com"}
    no_file = web.post("/resumes", data={"csrf_token": token, **typed})
    assert no_file.status_code == 400
    assert reasons_beside_fields(no_file.text, "upload") == {"file": "choose a resume file to upload"}
    assert 'value="ada@example.com"' in no_file.text
    # A wrong field and no file: both reasons at once, not the file's on the second try.
    both = web.post("/resumes", data={"csrf_token": token, **typed, "candidate_email": "ada@"})
    assert both.status_code == 400
    assert list(reasons_beside_fields(both.text, "upload")) == ["candidate_email", "file"]


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
    assert change_checked_every(page) == 15


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


class RetryingAChargeItsJobNamingNoTask(RetryingACharge):
    """The same, the failed job's search result without its elementId, as Camunda 8.9 allows
    ("may be missing on job failure"): its element instance names the task."""

    def search_jobs(self, **filter_):
        jobs = [{**job, "elementInstanceKey": "70"} for job in super().search_jobs(**filter_)]
        for job in jobs:
            del job["elementId"]
        return jobs

    def search_element_instances(self, **filter_):
        if filter_.get("elementInstanceKey") == "70":
            return [{"elementInstanceKey": "70", "elementId": "ChargeCard"}]
        return super().search_element_instances(**filter_)


@pytest.mark.parametrize("engine_double", [RetryingACharge, RetryingAChargeItsJobNamingNoTask])
def test_a_step_that_failed_and_is_retried_says_why_and_how_many_tries_are_left(tmp_path, engine_double):
    services = empty_services(tmp_path)
    engine = engine_double()
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
    assert change_checked_every(page) == 15  # the backoff takes seconds to minutes


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
    assert change_checked_every(page) == 15  # stopped: no fast reload under the button
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


def console_with_admin_api(engine, tmp_path):
    """A test client of the console and the admin API, as on the embedded engine, on ``engine``."""
    config = {
        "TESTING": True,
        "CONSOLE": True,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ENGINE_CONTROL_URL": "http://127.0.0.1:9",
    }
    return create_app(config, engine_client=engine, services=empty_services(tmp_path)).test_client()


def test_an_operator_retries_every_incident_of_one_cause_at_once(tmp_path):
    # After an hour's payment outage, dozens of unlocks stop at ChargeCard: one Retry each,
    # on each item's page, was all the console and the admin API offered.
    engine = StoppedByAnOutage()
    web = console_with_admin_api(engine, tmp_path)

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


@pytest.mark.parametrize("key", ["\u00b2", "\u0663", "12x", "9" * 20])
def test_a_key_in_a_console_address_is_refused_before_the_engine_is_asked(tmp_path, key):
    # str.isdigit took "²" (superscript two) and "٣" (Arabic-Indic three): such a key was
    # sent on to the engine instead of being refused as a bad address.
    engine = StoppedByAnOutage()
    web = console_with_admin_api(engine, tmp_path)
    listed_for = web.get("/tasks", query_string={"instance": key})
    assert listed_for.status_code == 400 and "instance: a process instance key" in listed_for.text
    task = web.get(f"/tasks/{key}")
    assert task.status_code == 404 and "is not a task key" in task.text
    form = {"csrf_token": csrf_token(web.get("/tasks").text)}
    restarted = web.post(f"/tasks/stalled-jobs/{key}/restart", data=form)
    assert restarted.status_code == 400 and "job_key: a job key" in restarted.text
    assert refused_field(web.post(f"/api/admin/stalled-jobs/{key}/restart", headers=ADMIN)) == (
        400,
        "job_key",
    )
    assert engine.calls == []


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
    # A step may be running: the page asks often whether it changed.
    assert change_checked_every(page.text) == (None if status in FINAL_STATUSES[kind] else 2)


def test_the_item_page_answers_304_while_what_it_shows_is_unchanged(tmp_path):
    # Its script asks so every few seconds, and reloads the page on a 200 only.
    services = empty_services(tmp_path)
    engine = StartsInstancesInState("ACTIVE")
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    add_first_status(services, "resume", "res_1", "received")
    web = app.test_client()

    first = web.get("/items/resume/res_1")
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    assert f'data-shown="{tag[3:-1]}"' in first.text
    unchanged = web.get("/items/resume/res_1", headers={"If-None-Match": tag})
    assert (unchanged.status_code, unchanged.data) == (304, b"")
    record_status(services.db, "resume", "res_1", "rejected", {"reason": "not a PDF"})
    changed = web.get("/items/resume/res_1", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and 'data-testid="status">rejected<' in changed.text
    assert changed.headers["ETag"] != tag and change_checked_every(changed.text) is None


def test_a_cached_item_page_is_not_shown_with_forms_that_would_be_refused(tmp_path, monkeypatch):
    # A 304 shows the browser's copy, with the CSRF tokens it was rendered with.
    services = empty_services(tmp_path)
    app = create_app(
        {"TESTING": True, "CONSOLE": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services
    )
    add_first_status(services, "interview", "int_1", "requested")
    web = app.test_client()
    tag = web.get("/items/interview/int_1").headers["ETag"]
    assert web.get("/items/interview/int_1", headers={"If-None-Match": tag}).status_code == 304

    # Half the tokens' lifetime later, the page is rendered again with a new token.
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + app.config["WTF_CSRF_TIME_LIMIT"] / 2)
    later = web.get("/items/interview/int_1", headers={"If-None-Match": tag})
    assert later.status_code == 200 and "Cancel interview" in later.text
    assert (
        web.get("/items/interview/int_1", headers={"If-None-Match": later.headers["ETag"]}).status_code == 304
    )
    # So is it for a new session (its cookie lost, or signed with the secret of a former start).
    web.delete_cookie("session")
    assert (
        web.get("/items/interview/int_1", headers={"If-None-Match": later.headers["ETag"]}).status_code == 200
    )


def test_the_item_pages_withdraw_and_cancel_buttons_publish_once_and_refuse_what_is_over(recording):
    web, engine, services = recording
    add_first_status(services, "application", "app_1", "submitted")
    add_first_status(services, "interview", "int_1", "requested")
    form = {"csrf_token": csrf_token(web.get("/items/application/app_1").text)}

    for _ in range(2):  # a second click publishes nothing more
        withdrawn = web.post("/items/application/app_1/withdraw", data=form)
        assert (withdrawn.status_code, withdrawn.location) == (303, "/items/application/app_1")
        cancelled = web.post("/items/interview/int_1/cancel", data=form)
        assert (cancelled.status_code, cancelled.location) == (303, "/items/interview/int_1")
    assert engine.published == [
        (Message.APPLICATION_WITHDRAWN, "app_1"),
        (Message.INTERVIEW_CANCELLED, "int_1"),
    ]
    # Over already: the page says why nothing was done.
    record_status(services.db, "interview", "int_2", "done", {})
    over = web.post("/items/interview/int_2/cancel", data=form)
    assert over.status_code == 409 and over.mimetype == "text/html" and "it cannot be cancelled" in over.text
    assert len(engine.published) == 2


def test_a_booked_interviews_page_moves_it_to_another_time_once(recording):
    web, engine, services = recording
    add_first_status(services, "interview", "int_1", "requested")
    record_details(services.db, "interview", "int_1", "requested", process_instance_key="1001")
    assert "Move to another time" not in web.get("/items/interview/int_1").text  # nothing booked
    start = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(days=2)
    StoreCalendar(services.db).book("int_1", ["ivy"], Slot(start, start + timedelta(hours=1)))
    engine.active = [{"elementId": "InterviewBooked", "type": "SUB_PROCESS", "state": "ACTIVE"}]
    page = web.get("/items/interview/int_1").text
    assert 'data-testid="reschedule">Move to another time' in page
    form = {
        "csrf_token": csrf_token(page),
        "booked_start": re.search(r'name="booked_start" value="([^"]+)"', page)[1],
    }
    assert form["booked_start"] == start.isoformat() + "Z"
    for _ in range(2):  # a second click publishes nothing more
        moved = web.post("/items/interview/int_1/reschedule", data=form)
        assert (moved.status_code, moved.location) == (303, "/items/interview/int_1")
    assert engine.published == [(Message.INTERVIEW_RESCHEDULE_REQUESTED, "int_1")]
    # The page says who asked to move it, and when.
    asked = web.get("/items/interview/int_1").text
    assert "Move requests" in asked and "a recruiter, in the console" in asked
    [kept] = web.get("/api/interviews/int_1").json["details"]["move_requests"]
    assert kept["asker"] == "recruiter"  # the notice of the move says the recruiter asked
    # A page left open from before the interview was booked again moves nothing.
    StoreCalendar(services.db).cancel("int_1")
    record_details(
        services.db, "interview", "int_1", "requested", rescheduled_from=[{"start": form["booked_start"]}]
    )
    later = start + timedelta(days=1)
    StoreCalendar(services.db).book("int_1", ["ivy"], Slot(later, later + timedelta(hours=1)))
    stale = web.post("/items/interview/int_1/reschedule", data=form)
    assert stale.status_code == 409 and "a time it is no longer booked at" in stale.text
    assert len(engine.published) == 1
    # Moved as often as it may be: the page says so instead of offering a button that fails.
    two_moves = [{"start": form["booked_start"]}, {"start": later.isoformat() + "Z"}]
    record_details(services.db, "interview", "int_1", "requested", rescheduled_from=two_moves)
    page = web.get("/items/interview/int_1").text
    assert "Move to another time" not in page and 'data-testid="moves-used">Moved 2 of 2 times' in page


def test_an_interviews_page_offers_the_candidate_other_times_once(recording):
    # A recruiter on the phone with a candidate whom no time suits need not wait 5 days for
    # the follow-up task, nor ask the candidate to find the email's link.
    web, engine, services = recording
    times = [{"start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}]
    details = {"process_instance_key": "1001", "offered_slots": times}
    record_status(services.db, "interview", "int_1", "requested", details)
    assert "offer others" not in web.get("/items/interview/int_1").text  # not waiting for the choice
    engine.active = [{"elementId": "AwaitSlotChoice", "type": "RECEIVE_TASK", "state": "ACTIVE"}]
    page = web.get("/items/interview/int_1").text
    assert 'data-testid="other-times">None of these times suits the candidate: offer others' in page
    form = {
        "csrf_token": csrf_token(page),
        "offer_start": re.search(r'name="offer_start" value="([^"]+)"', page)[1],
    }
    assert form["offer_start"] == times[0]["start"]
    for _ in range(2):  # a second click publishes nothing more
        asked = web.post("/items/interview/int_1/other-times", data=form)
        assert (asked.status_code, asked.location) == (303, "/items/interview/int_1")
    assert engine.published == [(Message.INTERVIEW_OTHER_TIMES_REQUESTED, "int_1")]
    assert "offer others" not in web.get("/items/interview/int_1").text  # new times on their way
    # The new offer, after as many turned down as allowed: the page says what happens instead.
    later = [{"start": "2030-03-11T09:00:00Z", "end": "2030-03-11T10:00:00Z"}]
    new_offer = {"offered_slots": later, "offers_turned_down": 2}
    record_details(services.db, "interview", "int_1", "requested", forget=("other_times_asked",), **new_offer)
    page = web.get("/items/interview/int_1").text
    assert "offer others" not in page and 'data-testid="offers-used">The candidate turned down 2 of 2' in page
    # The page left open from before turns down nothing more: the offer it names was.
    assert web.post("/items/interview/int_1/other-times", data=form).status_code == 303
    assert len(engine.published) == 1


def test_a_form_sent_too_late_or_without_its_token_is_refused_in_words(recording, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="webapp.security")
    web, engine, services = recording
    add_first_status(services, "interview", "int_1", "requested")
    form = {"csrf_token": csrf_token(web.get("/items/interview/int_1").text)}

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + web.application.config["WTF_CSRF_TIME_LIMIT"] + 1)
    late = web.post("/items/interview/int_1/cancel", data=form)
    assert late.status_code == 400 and late.mimetype == "text/html"
    assert "Form not accepted" in late.text and "more than 8 hours ago" in late.text
    assert "reload the page" in late.text and "CSRF" not in late.text
    assert "form refused on POST /items/interview/int_1/cancel: The CSRF token has expired." in caplog.text
    without_token = web.post("/items/interview/int_1/cancel")
    assert without_token.status_code == 400 and "could not be checked" in without_token.text
    assert engine.published == []


def test_the_status_api_answers_304_while_the_status_is_unchanged(tmp_path):
    # For a marketplace backend that polls an item, as the item's page does.
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services)
    add_first_status(services, "unlock", "unl_1", "requested")
    web = app.test_client()

    first = web.get("/api/unlocks/unl_1")
    tag = first.headers["ETag"]
    unchanged = web.get("/api/unlocks/unl_1", headers={"If-None-Match": tag})
    assert (unchanged.status_code, unchanged.data, unchanged.headers["ETag"]) == (304, b"", tag)
    assert web.get("/api/unlocks/unl_1", headers={"If-None-Match": '"another"'}).status_code == 200
    record_status(services.db, "unlock", "unl_1", "unlocked", {})
    changed = web.get("/api/unlocks/unl_1", headers={"If-None-Match": tag})
    assert (changed.status_code, changed.json["status"]) == (200, "unlocked")


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

    assert "<dt>Card charged</dt>" in charged and "<dt>Paid</dt>" not in charged
    assert "<dt>Paid</dt>" in paid and "<dt>Card charged</dt>" not in paid
    assert paid.count("pi_1") == 1
    assert re.search(r'ada <a href="/items\?q=ada" data-testid="candidate-items">', paid)
    # The API keeps both records: the sweep of a lost engine reads the first.
    assert set(web.get("/api/unlocks/unl_1").json["details"]) >= {"card_charged", "paid"}


def test_the_mail_page_shows_the_newest_mails_and_says_how_many_there_are(tmp_path, serve, monkeypatch):
    from hireflow.sandboxes.mail_capture import create_mail_capture
    from webapp.blueprints import ui

    capture = serve(create_mail_capture(tmp_path / "mail.sqlite3", "SG.key"))
    for number in range(3):
        send_to_capture(
            capture.url, "SG.key", f"Mail {number}", f"Open http://127.0.0.1:5000/items/resume/res_{number}"
        )
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
            "type": "text/calendar; method=REQUEST",  # as the invitation step sends it
        },
        {
            "content": base64.b64encode(b"<script>x</script>").decode(),
            "filename": "../page.html",
            "type": "text/html",
        },
    ]
    send_to_capture(
        capture.url, "SG.key", "Your interview", "The calendar invitation is attached.", attachments
    )
    web = offline_app(empty_services(tmp_path), MAIL_CAPTURE_URL=capture.url).test_client()

    page = web.get("/mail").text
    links = re.findall(r'<a href="([^"]+)" data-testid="attachment">([^<]+)</a>', page)
    assert [name for _, name in links] == ["invitation.ics", "../page.html"]
    assert f"(text/calendar; method=REQUEST, {len(invitation)} bytes)" in page
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
