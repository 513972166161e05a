"""Recruiters in Tasklist and operators in Operate, in a real browser (issue 6).

These need Camunda's own web apps, so they run only on the pinned cluster. On the
embedded engine they are skipped, and the end of the run says so. Their selectors
follow Camunda's own end-to-end suite (the login form's "Username" and "password"
fields, Tasklist's "Assign to me" and "Complete Task", Operate's incidents banner and
retry button). This session had no cluster, so they have never run here.

Screenshots land in build/test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from hireflow.browser import launch
from hireflow.constants import Message
from hireflow.engine.embedded import EmbeddedEngineClient
from hireflow.paths import PROJECT_ROOT
from tests.engine_helpers import (
    describe_instance,
    process_variable,
    unique_key,
    wait_for,
    wait_for_user_task,
    wait_until_completed,
    wait_until_element,
)

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]
ARTIFACTS = PROJECT_ROOT / "build" / "test-artifacts"
UI_TIMEOUT_MS = 60_000


@pytest.fixture
def web_apps(process_engine) -> str:
    """The cluster's base URL, where /tasklist and /operate live."""
    if isinstance(process_engine.client, EmbeddedEngineClient):
        pytest.skip("real engine unavailable: Tasklist and Operate come only with the pinned cluster")
    return process_engine.client.rest_url


@pytest.fixture
def browser_page():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser.new_page(viewport={"width": 1440, "height": 900})
        finally:
            browser.close()


def set_payment_faults(local_world, **plan) -> None:
    requests.post(f"{local_world.payments_url}/_sandbox/faults", json=plan, timeout=5).raise_for_status()


def log_in(page: Page, base_url: str, app: str, username: str) -> None:
    """Log in through the web app's own form (local logins: password = user name)."""
    page.goto(f"{base_url}/{app}/login")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="password").fill(username)
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=UI_TIMEOUT_MS)


def complete_in_tasklist(page: Page, base_url: str, task_key: str, fill, shot: str) -> None:
    """Open the task, assign it to me, let ``fill`` fill the form, complete it."""
    page.goto(f"{base_url}/tasklist/{task_key}")
    page.get_by_role("button", name="Assign to me").click(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Unassign")).to_be_visible(timeout=UI_TIMEOUT_MS)
    form = page.get_by_test_id("embedded-form")
    fill(form)
    page.screenshot(path=ARTIFACTS / f"{shot}-form.png", full_page=True)
    page.get_by_role("button", name="Complete Task").click(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Task completed").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=ARTIFACTS / f"{shot}-done.png", full_page=True)


def test_a_recruiter_screens_an_application_in_tasklist(
    web_apps, browser_page, web, process_engine, local_world
):
    candidate_id = local_world.add_candidate(skills=["python"])
    application = web.post(
        "/api/applications",
        json={
            "candidate_id": candidate_id,
            "candidate_name": "Grace Hopper",
            "candidate_email": f"{unique_key('grace')}@example.com",
            "posting_id": local_world.add_posting(["python", "go"]),  # a middling match: screened
            "employer_email": "hiring@acme.example",
            "recruiter_team_email": "recruiters@acme.example",
        },
    )
    assert application.status_code == 202, application.json
    instance = application.json["processInstanceKey"]
    task = wait_for_user_task(process_engine.client, instance, "ScreenApplication")

    log_in(browser_page, web_apps, "tasklist", "recruiter")
    expect(browser_page.get_by_text("Screen the application").first).to_be_visible(timeout=UI_TIMEOUT_MS)

    def approve(form) -> None:
        expect(form.get_by_label("Candidate", exact=True)).to_have_value("Grace Hopper")
        expect(form.get_by_text("Matched skills")).to_be_visible()
        form.get_by_text("Shortlist: send to the employer").click()

    complete_in_tasklist(browser_page, web_apps, task["userTaskKey"], approve, "tasklist-screening")

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "CandidateShortlisted", state="COMPLETED")


def test_an_operator_retries_a_payment_outage_incident_in_operate(
    web_apps, browser_page, web, process_engine, local_world
):
    set_payment_faults(local_world, rates={"server_error": 1.0})  # the gateway is down
    try:
        unlock = web.post(
            "/api/unlocks",
            json={
                "employer_id": unique_key("emp"),
                "employer_email": "hiring@acme.example",
                "candidate_id": local_world.add_candidate(),
                "payment_method_ref": "pm_card_visa",
            },
        )
        assert unlock.status_code == 202, unlock.json
        instance, unlock_id = unlock.json["processInstanceKey"], unlock.json["id"]

        def incident_once_the_backoff_passed():
            # Each failed try waits out its backoff on the engine's clock: move it on.
            process_engine.client.advance_clock(15 * 60_000)
            return process_engine.client.search_incidents(processInstanceKey=instance, state="ACTIVE")

        [incident] = wait_for(
            incident_once_the_backoff_passed,
            what="the charge to exhaust its retries",
            seen=lambda: describe_instance(process_engine.client, instance),
            timeout=180,
            interval=2.0,
        )
        assert f"for unlock {unlock_id}" in incident["errorMessage"]

        page = browser_page
        log_in(page, web_apps, "operate", "demo")
        page.goto(f"{web_apps}/operate/processes/{instance}")
        page.get_by_test_id("incidents-banner").click(timeout=UI_TIMEOUT_MS)
        incidents = page.get_by_test_id("data-list")
        expect(incidents).to_contain_text("Payment gateway unreachable", timeout=UI_TIMEOUT_MS)
        expect(incidents).to_contain_text(f"unlock {unlock_id}")
        page.screenshot(path=ARTIFACTS / "operate-incident.png", full_page=True)
    finally:
        set_payment_faults(local_world, rates={}, next_count={})

    # The gateway is back: the operator retries from the incident's row.
    page.get_by_test_id("retry-operation").first.click(timeout=UI_TIMEOUT_MS)
    wait_until_completed(process_engine.client, instance)
    page.reload()
    expect(page.get_by_test_id("instance-header").get_by_test_id("COMPLETED-icon")).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    page.screenshot(path=ARTIFACTS / "operate-retried.png", full_page=True)


def test_an_interviewer_gives_feedback_in_tasklist(web_apps, browser_page, process_engine, local_world):
    variables = {
        "interview_id": unique_key("interview"),
        "application_id": unique_key("app"),
        "candidate_name": "Katherine Johnson",
        "candidate_email": f"{unique_key('kj')}@example.com",
        "lead_recruiter_email": "lead@hireflow.example",
        # The local interviewer login: the feedback task is assigned by user name.
        "panel": [{"username": "interviewer", "email": "interviewer@hireflow.example", "name": "Ivy"}],
    }
    created = process_engine.client.create_process_instance("interview-scheduling", variables)
    instance = created["processInstanceKey"]
    wait_until_element(process_engine.client, instance, "AwaitSlotChoice")
    slot = process_variable(process_engine.client, instance, "proposed_slots")[0]
    process_engine.client.publish_message(
        Message.INTERVIEW_SLOT_SELECTED, variables["interview_id"], variables={"selected_slot": slot}
    )
    wait_until_element(process_engine.client, instance, "DayBeforeInterview")
    process_engine.client.advance_clock(15 * 24 * 60 * 60_000)  # past the interview
    task = wait_for_user_task(process_engine.client, instance, "GiveFeedback")
    assert task.get("assignee") == "interviewer", describe_instance(process_engine.client, instance)

    log_in(browser_page, web_apps, "tasklist", "interviewer")

    def give_feedback(form) -> None:
        expect(form.get_by_label("Candidate", exact=True)).to_have_value("Katherine Johnson")
        form.get_by_label(re.compile("Rating")).fill("4")
        form.get_by_text("Hire", exact=True).click()
        form.get_by_label(re.compile("Notes")).fill("Clear thinking, strong on SQL.")

    complete_in_tasklist(browser_page, web_apps, task["userTaskKey"], give_feedback, "tasklist-feedback")

    wait_until_completed(process_engine.client, instance)
    wait_until_element(process_engine.client, instance, "InterviewDone", state="COMPLETED")
    # The form's answers, collected per panelist by the task's output mapping.
    [feedback] = process_variable(process_engine.client, instance, "feedback")
    answers = (feedback["panelist"], feedback["rating"], feedback["recommendation"])
    assert answers == ("interviewer", 4, "hire")
