"""Every page of the webapp checked by axe-core in headless Chromium: WCAG 2.1 A and AA.

Candidates and employers open some of these pages from their emails (a slot, a card, a
payment, a withdrawal); the team works in the rest. Each is served in the states that
change what it shows: a list with rows, a form refused with its reasons, an error.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.browser import launch
from hireflow.sandboxes.mail_capture import create_mail_capture
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.seed import load_demo_data
from hireflow.serving import serve_in_thread
from hireflow.store import ContactAccess, utcnow
from job_workers.records import record_details, record_status
from job_workers.services import Services
from tests.accessibility import accessibility_violations
from tests.offline_webapp import StartsInstancesInState, empty_services, indexed_candidate, send_to_capture
from webapp import create_app
from webapp.local_forms import bundled_forms, user_task_form_ids

# The user tasks of the models, each with its form, as the embedded engine lists them.
PEOPLES_TASKS = sorted(user_task_form_ids())


class PeopleAtWork(StartsInstancesInState):
    """An embedded engine's double with an open task for every form, and an incident."""

    def __init__(self):
        super().__init__("ACTIVE", has_incident=True)

    def get_process_instance(self, key):
        process_id = PEOPLES_TASKS[int(key) - 200][0] if int(key) >= 200 else "resume-unlock"
        return {**super().get_process_instance(key), "processDefinitionId": process_id}

    def search_user_tasks(self, **filter_):
        tasks = [
            {
                "userTaskKey": str(100 + n),
                "processInstanceKey": str(200 + n),
                "elementId": element_id,
                "elementInstanceKey": str(300 + n),
                "candidateGroups": ["recruiters"],
                "dueDate": "2026-12-14T09:00:00Z",
            }
            for n, (_, element_id) in enumerate(PEOPLES_TASKS)
        ]
        return [t for t in tasks if filter_.get("userTaskKey", t["userTaskKey"]) == t["userTaskKey"]]

    def search_variables(self, **filter_):
        return []

    def get_user_task_form(self, key):
        """The form of the bundled models, as the engine links it (by deployment)."""
        form_id = user_task_form_ids()[PEOPLES_TASKS[int(key) - 100]]
        return {
            "formKey": str(900 + int(key)),
            "formId": form_id,
            "version": 1,
            "schema": bundled_forms()[form_id],
        }

    def search_incidents(self, **filter_):
        return [
            {
                "incidentKey": "77",
                "elementId": "ChargeCard",
                "processDefinitionId": "resume-unlock",
                "processInstanceKey": "7",
                "errorMessage": "Payment gateway unreachable after 5 tries, at ChargeCard for unlock unl_1",
            }
        ]

    def clock_now_ms(self):
        return int(time.time() * 1000)


MAIL_KEY = "SG.accessibility"
PAYMENT_KEY = "sk_test_accessibility"
SLOT = {"start": "2026-12-14T09:00:00Z", "end": "2026-12-14T10:00:00Z"}


@dataclass
class Site:
    url: str  # the webapp, on a cluster's engine double
    tasks_url: str  # the webapp, on an embedded engine's double: its own task and incident pages
    services: Services


def task_key(element_id: str) -> str:
    """The key ``PeopleAtWork`` gives the open task of a model's user task."""
    return str(100 + [element for _, element in PEOPLES_TASKS].index(element_id))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """The webapp with demo data, an item of every kind, a captured mail and a payment to approve."""
    folder = tmp_path_factory.mktemp("accessibility")
    servers = [
        serve_in_thread(create_mail_capture(folder / "mail.sqlite3", MAIL_KEY)),
        serve_in_thread(create_payment_sandbox(folder / "payments.sqlite3", PAYMENT_KEY)),
    ]
    mail, payments = servers
    services = empty_services(folder)
    services.payments = StripeStylePaymentGateway(payments.url, PAYMENT_KEY, attempts=1)
    load_demo_data(services.db)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
        # Globex's paid unlock: its contact page shows what it opened.
        session.add(
            ContactAccess(employer_id="globex", candidate_id="ada", unlock_id="unl_2", granted_at=utcnow())
        )
    record_status(services.db, "resume", "res_ada", "processed", {"candidate_id": "ada"})
    record_status(
        services.db, "unlock", "unl_2", "unlocked", {"employer_id": "globex", "candidate_id": "ada"}
    )
    record_status(
        services.db,
        "application",
        "app_1",
        "shortlisted",
        {"candidate_id": "ada", "posting_id": "demo-python-engineer"},
    )
    # Its offer is the slot pages' time: the link to ask for other times lists it.
    record_status(
        services.db, "interview", "int_1", "requested", {"application_id": "app_1", "offered_slots": [SLOT]}
    )
    waiting = services.payments.charge(
        unlock_id="unl_1", amount=4900, currency="eur", payment_method="pm_card_authenticationRequired"
    )
    charge = {"payment_id": waiting.id, "amount_cents": 4900, "currency": "eur"}
    record_status(services.db, "unlock", "unl_1", "requested", {"employer_id": "acme", "candidate_id": "ada"})
    record_details(services.db, "unlock", "unl_1", "requested", card_needs_authentication=charge)
    send_to_capture(
        mail.url, MAIL_KEY, "Your resume is processed", "See http://127.0.0.1:5000/items/resume/res_ada"
    )
    app = create_app(
        {"CONSOLE": True, "MAIL_CAPTURE_URL": mail.url},
        engine_client=StartsInstancesInState("ACTIVE"),
        services=services,
    )
    servers.append(serve_in_thread(app))
    # The embedded engine's stand-ins for Tasklist and Operate: /tasks and its forms.
    tasks_app = create_app(
        {"CONSOLE": True, "ENGINE_CONTROL_URL": "http://127.0.0.1:9"},
        engine_client=PeopleAtWork(),
        services=services,
    )
    servers.append(serve_in_thread(tasks_app))
    yield Site(url=servers[-2].url, tasks_url=servers[-1].url, services=services)
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser_page(browser):
    """A page for axe: the app's Content-Security-Policy would refuse its script tag."""
    return browser.new_context(bypass_csp=True).new_page()


def signed_pages(services) -> dict[str, str]:
    return {
        "slot": f"/interviews/slot/{services.slot_links.token_for('int_1', SLOT)}",
        "reschedule": f"/interviews/reschedule/{services.reschedule_links.token_for('int_1', SLOT['start'])}",
        "other-times": "/interviews/other-times/"
        + services.other_times_links.token_for("int_1", SLOT["start"]),
        "card": f"/unlocks/card/{services.card_links.token_for('unl_1')}",
        "payment": f"/unlocks/payment/{services.payment_links.token_for('unl_1')}",
        "contact": f"/unlocks/contact/{services.contact_links.token_for('unl_2')}",
        "unlock-offer": f"/applications/unlock/{services.unlock_links.token_for('app_1')}",
        "withdrawal": f"/applications/withdrawal/{services.withdrawal_links.token_for('app_1')}",
    }


# Each page, with the status it answers.
CONSOLE_PAGES = {
    "dashboard": ("/", 200),
    "items": ("/items", 200),
    "items-found": ("/items?q=ada", 200),
    "postings": ("/postings", 200),
    "candidates": ("/candidates?skills=python", 200),
    "candidates-refused": ("/candidates?skills=no-such-skill", 400),
    "candidates-for-a-posting": ("/candidates?posting_id=demo-python-engineer", 200),
    "resume": ("/items/resume/res_ada", 200),
    "application": ("/items/application/app_1", 200),
    "unlock": ("/items/unlock/unl_1", 200),
    "interview": ("/items/interview/int_1", 200),
    "mail": ("/mail", 200),
    "not-found": ("/items/resume/res_nobody", 404),
    "bad-link": ("/interviews/slot/not-a-token", 404),
}


TEMPLATES = Path(__file__).parent.parent / "webapp" / "templates"


def test_every_table_header_cell_says_what_it_heads():
    # axe passes a header row without scope; WCAG technique H63 asks for it, so assistive
    # technology is told which cells each header heads rather than left to guess.
    headers = [
        (template.name, tag)
        for template in sorted(TEMPLATES.glob("*.html"))
        for tag in re.findall(r"<th\b[^>]*>", template.read_text())
    ]
    assert len(headers) > 30  # the templates' tables are found
    assert [(name, tag) for name, tag in headers if 'scope="' not in tag] == []


@pytest.mark.parametrize(
    "name",
    [
        *CONSOLE_PAGES,
        "slot",
        "reschedule",
        "other-times",
        "card",
        "payment",
        "contact",
        "unlock-offer",
        "withdrawal",
    ],
)
def test_the_page_meets_wcag_2_1_aa(site, browser_page, name):
    path, status = CONSOLE_PAGES.get(name) or (signed_pages(site.services)[name], 200)
    assert browser_page.goto(site.url + path).status == status
    assert accessibility_violations(browser_page) == []


def test_a_refused_form_with_its_reasons_meets_wcag_2_1_aa(site, browser_page):
    browser_page.goto(site.url + "/")
    form = browser_page.locator("#interview form")
    form.locator("[name=application_id]").fill("app_nobody")
    form.locator("[name=panel]").fill("nobody-on-file")
    form.locator("button[type=submit]").click()
    browser_page.wait_for_selector('[data-testid="refusal-interview"]')
    assert accessibility_violations(browser_page) == []


def test_an_item_page_reloads_when_the_item_changes_and_not_before(site, browser):
    browser_page = browser.new_page()  # under the app's Content-Security-Policy
    record_status(site.services.db, "resume", "res_running", "received", {})
    browser_page.goto(site.url + "/items/resume/res_running")
    browser_page.evaluate("window.sameDocument = true")  # gone once the page reloads
    browser_page.wait_for_timeout(4_500)  # the page asked twice by now (every 2 s), in vain

    assert browser_page.evaluate("window.sameDocument === true")
    record_status(site.services.db, "resume", "res_running", "rejected", {"reason": "not a PDF"})
    expect(browser_page.get_by_test_id("status")).to_have_text("rejected", timeout=10_000)
    assert browser_page.evaluate("window.sameDocument === undefined")


@pytest.mark.parametrize("task", ["list", *(element_id for _, element_id in PEOPLES_TASKS)])
def test_the_stand_in_for_tasklist_meets_wcag_2_1_aa(site, browser_page, task):
    path = "/tasks" if task == "list" else f"/tasks/{task_key(task)}"
    assert browser_page.goto(site.tasks_url + path).status == 200
    assert accessibility_violations(browser_page) == []


def test_a_task_form_refused_with_its_reasons_meets_wcag_2_1_aa(site, browser_page):
    browser_page.goto(f"{site.tasks_url}/tasks/{task_key('ScreenApplication')}")
    browser_page.evaluate("document.querySelector('form.task-form').noValidate = true")
    browser_page.locator("form.task-form button[type=submit]").click()
    browser_page.wait_for_selector(".field-error")
    # Each reason is tied to its field, as a screen reader announces it there.
    for field in browser_page.locator('[aria-invalid="true"]').all():
        reason = browser_page.locator(f"#{field.get_attribute('aria-describedby')}")
        assert reason.text_content().strip()
    assert browser_page.locator('[aria-invalid="true"]').count() >= 1
    assert accessibility_violations(browser_page) == []
