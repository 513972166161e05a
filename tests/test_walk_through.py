"""The README's walk-through in a real browser: one candidate through the four processes (issue 5).

A person must be able to take one candidate through resume upload, submission, unlocking and
interview scheduling from the webapp's pages and Tasklist alone, on the demo data. This test
does what the README's *Walk one candidate through the four processes* tells a newcomer to
do, click by click, on the real server and engine with the product's worker. Emails are read
on the console's Mail page and their links followed, as a person reads them. On the embedded
engine, the people's tasks (screening, feedback) are done on the console's Tasks page, which
stands in for Tasklist there; Tasklist itself is tested in test_tasklist_operate_browser.

Two things are not a person's clicks: the links in emails name ``make run``'s address and are
followed on the test server's instead, and the engine's clock is moved past the interview, as
a person would wait for it. Each step's page is kept as a screenshot in build/test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from hireflow.browser import launch
from hireflow.paths import PROJECT_ROOT
from hireflow.seed import load_demo_data
from tests.engine_helpers import advance_engine_clock_past, unique_key, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

ARTIFACTS = PROJECT_ROOT / "build" / "test-artifacts"
SAMPLES = PROJECT_ROOT / "docs" / "samples"
# A step runs a few jobs; a page that waits longer than this has stopped following its item.
STEP_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def page(live_webapp, local_world, process_engine) -> Iterator[Page]:
    """A browser page on the live webapp, with the demo data loaded as ``make run`` loads it."""
    if not process_engine.control_url:
        pytest.skip("on a cluster, people's tasks are done in Tasklist: test_tasklist_operate_browser")
    load_demo_data(local_world.services.db)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(base_url=live_webapp.url)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def form_under(page: Page, heading: str) -> Locator:
    """The dashboard's form in the card of that heading."""
    return page.locator("section", has=page.get_by_role("heading", name=heading)).locator("form")


def newest_email(page: Page, to: str, subject: str | re.Pattern) -> Locator:
    """The newest email to ``to`` whose subject has ``subject``, on the Mail page, once it came."""

    def the_email() -> Locator | None:
        page.goto(f"/mail?to={to}")
        emails = page.locator("article", has=page.get_by_role("heading", name=subject))
        return emails.first if emails.count() else None

    return wait_for(the_email, what=f"an email to {to}: {subject!r}", seen=lambda: page.inner_text("main"))


def follow_link_in_email(page: Page, to: str, subject: str | re.Pattern, link_path: str) -> None:
    """Follow the first link to ``link_path`` in the newest email to ``to`` with that subject."""
    href = newest_email(page, to, subject).locator(f'a[href*="{link_path}"]').first.get_attribute("href")
    page.goto(urlparse(href).path)  # the link names make run's address, :5000


def status_of(page: Page) -> Locator:
    return page.get_by_test_id("status")


def reload_until_visible(page: Page, locator: Locator) -> None:
    """An item's page reloads when its status changes; a step inside one status needs a reload."""

    def reloaded_and_there() -> int:
        page.reload()
        return locator.count()

    wait_for(
        reloaded_and_there,
        what=f"{locator} on {page.url}",
        seen=lambda: page.inner_text("main"),
    )


def screenshot(page: Page, step: str) -> None:
    page.screenshot(path=ARTIFACTS / f"walk-through-{step}.png", full_page=True)


def upload_resume(page: Page, candidate_id: str, email: str) -> None:
    """Step 1: Ada's resume, read and indexed; she is told by email."""
    page.goto("/")
    form = form_under(page, "Upload a resume")
    form.get_by_label("Candidate id").fill(candidate_id)
    form.get_by_label("Name").fill("Ada Lovelace")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Resume").set_input_files(SAMPLES / "ada-lovelace.pdf")
    form.get_by_role("button", name="Upload").click()
    expect(status_of(page)).to_have_text("processed")
    expect(page.get_by_text("experience: 8 years")).to_be_visible()
    expect(page.get_by_test_id("fits")).to_contain_text("Apply")  # the postings that fit her best
    screenshot(page, "1-resume")
    expect(newest_email(page, email, "We received your resume, Ada Lovelace")).to_contain_text("python")


def apply_and_screen(page: Page, candidate_id: str) -> str:
    """Step 2: Ada applies to the posting that sends her to screening, and the recruiter
    shortlists her on the task's form. Returns the application's page."""
    # Her resume's page lists the postings that fit her best, each with an Apply link; in the
    # test run's shared database other tests' postings fill that list, so she is applied from
    # the posting's employer's Postings page, whose Apply link fills in the same form.
    page.goto("/postings?employer_id=globex")
    demo = page.get_by_role("row").filter(has_text="Data engineer (demo)")
    demo.get_by_role("link", name="Apply a candidate").click()
    form_under(page, "Apply to a posting").get_by_label("Candidate id").fill(candidate_id)
    # Python engineer fits her outright (forwarded); Data engineer lacks spark: screening.
    form_under(page, "Apply to a posting").get_by_role("button", name="Apply").click()
    expect(status_of(page)).to_have_text("submitted")
    application_page = page.url
    task = page.get_by_role("link", name="do it here")
    reload_until_visible(page, task)
    task.click()
    expect(page.get_by_role("heading", name="Screen the application")).to_be_visible()
    page.get_by_label("Shortlist: send to the employer").check()
    page.get_by_label("Note for the file").fill("Strong SQL; Spark can be learned.")
    screenshot(page, "2-screening-task")
    page.get_by_role("button", name="Complete").click()
    assert page.url == application_page  # the task's form leads back to its item
    expect(status_of(page)).to_have_text("shortlisted")
    screenshot(page, "2-application")
    return application_page


def unlock(page: Page, candidate_id: str, employer: str) -> str:
    """Step 3: an employer finds Ada by skill and unlocks her. Returns the unlock's id."""
    page.goto("/candidates")
    page.get_by_label("Skills, all of them").fill("python, bpmn, camunda")
    page.get_by_label("Years of experience, at least").fill("8")
    page.get_by_role("button", name="Find").click()
    found = page.get_by_role("row").filter(has=page.get_by_role("link", name=candidate_id, exact=True))
    found.get_by_role("link", name="Unlock").click()
    form = form_under(page, "Unlock a candidate")
    form.get_by_role("combobox", name="Employer", exact=True).select_option(employer)
    form.get_by_role("button", name="Unlock").click()
    page.wait_for_url("**/items/unlock/*")
    return page.url.rsplit("/", 1)[-1]


def see_contact_details(page: Page, unlock_id: str, email: str, paid_with: str) -> None:
    page.goto(f"/items/unlock/{unlock_id}")
    expect(status_of(page)).to_have_text("unlocked")
    expect(page.get_by_test_id("contact")).to_have_text(f"Contact details: Ada Lovelace <{email}>")
    expect(page.get_by_text(f"with: {paid_with}")).to_be_visible()


def schedule_interview(page: Page, application_page: str) -> str:
    """Step 4: from the shortlisted application, an interview with the demo panel, Ada in New
    York. Returns the interview's id."""
    page.goto(application_page)
    page.get_by_role("link", name="Schedule an interview").click()
    form = form_under(page, "Schedule an interview")
    form.get_by_label("Candidate's time zone").fill("America/New_York")
    form.get_by_role("button", name="Schedule").click()
    expect(status_of(page)).to_have_text("requested")
    return page.url.rsplit("/", 1)[-1]


def give_feedback(page: Page, interview_id: str, panelist: str, rating: int, zone: str) -> None:
    """A panelist's feedback task on the Tasks page, found by its interview and assignee; its
    form gives the interview's start in the panelist's ``zone`` (as their invitation did)."""
    page.goto("/tasks")
    theirs = (
        page.get_by_role("row")
        .filter(has=page.get_by_role("link", name=f"interview {interview_id}"))
        .filter(has=page.get_by_role("cell", name=panelist, exact=True))
    )
    theirs.get_by_role("link", name="Give interview feedback").click()
    start = page.locator("p").filter(has_text="Interview start (your time)")
    expect(start).to_contain_text(zone)
    page.get_by_label("Rating").fill(str(rating))
    page.get_by_label("Hire", exact=True).check()
    page.get_by_label("Notes").fill(f"{panelist}: explains her reasoning clearly")
    page.get_by_role("button", name="Complete").click()
    assert page.url.endswith(f"/items/interview/{interview_id}")


def test_one_candidate_walks_through_the_four_processes_in_the_browser(page, local_world, process_engine):
    candidate_id = unique_key("ada")
    email = f"{candidate_id}@example.com"  # the mail capture is shared by the whole test run

    upload_resume(page, candidate_id, email)

    application_page = apply_and_screen(page, candidate_id)
    application_id = application_page.rsplit("/", 1)[-1]
    follow_link_in_email(
        page, email, "Good news about your application, Ada Lovelace", "/applications/withdrawal/"
    )
    expect(page.get_by_role("button", name=re.compile("Withdraw"))).to_be_visible()  # kept, not pressed

    # Acme pays with its credits; Initech's card is declined, and a new one finishes the unlock.
    by_credits = unlock(page, candidate_id, "acme")
    see_contact_details(page, by_credits, email, "credits")
    by_card = unlock(page, candidate_id, "initech")
    expect(status_of(page)).to_have_text("requested")
    follow_link_in_email(
        page, "jobs@initech.example", f"Please update your card to finish unlock {by_card}", "/unlocks/card/"
    )
    page.get_by_label("Saved card (payment method)").fill("pm_card_visa")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("This unlock is complete")).to_be_visible()
    see_contact_details(page, by_card, email, "card")
    screenshot(page, "3-unlock")

    interview_id = schedule_interview(page, application_page)
    follow_link_in_email(page, email, "Choose your interview time, Ada Lovelace", "/interviews/slot/")
    expect(page.get_by_text("(America/New_York)")).to_be_visible()  # her time, in her zone
    expect(page.get_by_test_id("slot-job")).to_have_text('For the job "Data engineer (demo)"')
    page.get_by_role("button", name="Confirm this slot").click()
    expect(page.get_by_text("we are booking this slot")).to_be_visible()
    page.goto(f"/items/interview/{interview_id}")
    expect(status_of(page)).to_have_text("scheduled")
    expect(page.get_by_test_id("booking")).to_contain_text("with interviewer, lead; for the candidate")
    screenshot(page, "4-interview-booked")
    # Each panelist's invitation gives the time where they work, with the calendar file, and
    # says where their feedback task will wait (make run: the Tasks page; a cluster: Tasklist).
    invitation = newest_email(page, "interviewer@hireflow.example", "Interview with Ada Lovelace on")
    expect(invitation).to_contain_text("(Europe/Berlin)")
    expect(invitation).to_contain_text('The interview with Ada Lovelace for "Data engineer (demo)" is booked')
    expect(invitation).to_contain_text("your feedback form waits for you in the task list")
    expect(invitation.get_by_test_id("attachment")).to_have_text("invitation.ics")

    booking = local_world.services.calendar.booking(interview_id)
    advance_engine_clock_past(process_engine.client, booking.slot.as_variable()["end"])
    page.goto(f"/items/interview/{interview_id}")
    reload_until_visible(page, page.get_by_role("link", name="do it here"))
    give_feedback(page, interview_id, "interviewer", 4, zone="(Europe/Berlin)")
    give_feedback(page, interview_id, "lead", 5, zone="UTC")  # lead gave no zone
    expect(status_of(page)).to_have_text("done")
    feedback_of_lead = (
        page.get_by_test_id("detail-feedback")
        .get_by_role("row")
        .filter(has=page.get_by_role("cell", name="lead", exact=True))
    )
    expect(feedback_of_lead.get_by_role("cell")).to_have_text(["lead", "5", "hire", re.compile(".*")])
    screenshot(page, "4-interview-done")

    page.goto(f"/items?q={candidate_id}")
    expect(page.get_by_role("row")).to_have_count(1 + 4)  # a resume, an application, two unlocks
    page.goto(f"/items?q={application_id}")
    expect(page.get_by_role("link", name=interview_id)).to_be_visible()
