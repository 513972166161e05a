"""The webapp through its real server: ``python -m webapp`` (gunicorn) on localhost (issue 5)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from hireflow.browser import launch
from hireflow.paths import PROJECT_ROOT
from hireflow.sandboxes.payment_webhooks import WebhookDispatcher, WebhookSettings
from tests.engine_helpers import unique_key, wait_for
from tests.resume_samples import pdf_resume
from tests.web_helpers import WEBHOOK_SECRET, payment_succeeded, signed_webhook
from webapp.blueprints.ui import URL_IN_TEXT
from webapp.gunicorn_worker import LONGEST_DETAIL

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("hireflow_worker")]

ARTIFACTS = PROJECT_ROOT / "build" / "test-artifacts"


def test_the_server_is_ready_and_processes_an_upload(live_webapp):
    ready = requests.get(f"{live_webapp.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["engine"]["ok"] is True
    assert ready.headers["X-Frame-Options"] == "DENY"

    candidate_id = unique_key("cand")
    upload = requests.post(
        f"{live_webapp.url}/api/resumes",
        data={"candidate_id": candidate_id, "candidate_name": "Ada", "candidate_email": "ada@example.com"},
        files={"file": ("resume.pdf", pdf_resume(pages=1), "application/pdf")},
        timeout=30,
    )
    assert upload.status_code == 202, upload.text
    status_url = f"{live_webapp.url}{upload.headers['Location']}"
    wait_for(
        lambda: requests.get(status_url, timeout=10).json()["status"] == "processed",
        what="the resume to be processed",
        seen=lambda: requests.get(status_url, timeout=10).json(),
    )


def answered(live_webapp, route: str, status: str) -> float:
    """The master's count of GET requests to ``route`` answered with ``status``."""
    text = requests.get(live_webapp.metrics_url, timeout=10).text
    sample = f'hireflow_web_requests_total{{method="GET",route="{route}",status="{status}"}} '
    lines = [line for line in text.splitlines() if line.startswith(sample)]
    return float(lines[0].removeprefix(sample)) if lines else 0.0


def web_workers(live_webapp) -> list[int]:
    """The pids of the gunicorn master's worker processes."""
    pid = live_webapp.process.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_the_master_serves_the_workers_request_metrics_on_its_own_port(live_webapp):
    before = answered(live_webapp, "/api/unlocks/<business_id>", "404")
    for n in range(3):
        assert requests.get(f"{live_webapp.url}/api/unlocks/unl_nope_{n}", timeout=10).status_code == 404
    # Counted in the worker process, summed by the master, under the route rather than each path.
    assert answered(live_webapp, "/api/unlocks/<business_id>", "404") == before + 3
    # Not on the public port, where an Ingress would expose it.
    assert requests.get(f"{live_webapp.url}/metrics", timeout=10).status_code == 404


def test_a_web_worker_that_exits_takes_no_counts_with_it(live_webapp):
    route = "/api/interviews/<business_id>"
    for n in range(2):
        requests.get(f"{live_webapp.url}/api/interviews/int_nope_{n}", timeout=10)
    before = answered(live_webapp, route, "404")
    assert before >= 2
    [worker] = web_workers(live_webapp)
    os.kill(worker, signal.SIGTERM)  # a graceful exit, as on a reload: the worker runs sys.exit
    wait_for(
        lambda: web_workers(live_webapp) not in ([], [worker]),
        what="gunicorn to start a new worker",
        seen=lambda: web_workers(live_webapp),
    )
    healthz = f"{live_webapp.url}/healthz"
    wait_for(
        lambda: requests.get(healthz, timeout=10).ok, what="the new worker to serve", seen=lambda: healthz
    )
    # The old worker's counts stay in the sum: its exit removed no one's metrics files.
    assert answered(live_webapp, route, "404") >= before


def test_the_server_refuses_a_forged_webhook(live_webapp):
    event = signed_webhook(payment_succeeded("evt_forged_live", "pi_live"), secret="whsec_someone_else")
    response = requests.post(f"{live_webapp.url}/webhooks/payments", timeout=10, **event)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [({}, "a" * 5000, 414), ({"X-Padding": "a" * 9000}, "", 431)],
    ids=["request-line-too-long", "header-too-large"],
)
def test_requests_gunicorn_refuses_itself_get_problem_details(live_webapp, headers, query, status):
    response = requests.get(f"{live_webapp.url}/api/resumes?q={query}", headers=headers, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert len(response.json()["detail"]) <= LONGEST_DETAIL


def test_a_malformed_request_line_gets_a_problem_detail(live_webapp):
    address = urlparse(live_webapp.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(b"NOT A REQUEST LINE AT ALL\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/problem+json" in head
    assert json.loads(body)["status"] == 400


def test_a_request_gunicorn_refuses_for_its_body_is_logged_without_its_token(live_webapp):
    address = urlparse(live_webapp.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            b"POST /interviews/slot/SECRET-TOKEN.refused HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"
        )
        assert connection.recv(4096).startswith(b"HTTP/1.1 400 ")
    expected = '"POST /interviews/slot/<token>" 400 '
    deadline = time.monotonic() + 10
    while expected not in live_webapp.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = live_webapp.log_path.read_text()
    # Its access line was lost before: the path was read from an environ key gunicorn leaves out.
    assert expected in log
    assert "SECRET-TOKEN.refused" not in log and "AttributeError" not in log


@pytest.mark.parametrize(
    ("path", "logged", "status"),
    [
        ("/api/resumes", "/api/resumes", 415),  # refused before the upload is read
        ("/interviews/slot/SECRET-TOKEN.chunk", "/interviews/slot/<token>", 400),  # no form token
    ],
)
def test_a_request_answered_before_its_malformed_body_was_read_gets_one_answer(
    live_webapp, path, logged, status
):
    # gunicorn then read the rest, met the bad chunk size and wrote a 400 after the app's
    # answer, which a client would take for the answer to its next request on the connection.
    address = urlparse(live_webapp.url)
    request_id = f"bad-chunk-{status}"
    access_lines_before = live_webapp.log_path.read_text().count(f'"POST {logged}" ')
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: a\r\nX-Request-ID: {request_id}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    warning = f"The rest of a request already answered (POST {logged}) cannot be read"
    deadline = time.monotonic() + 10
    while warning not in live_webapp.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = live_webapp.log_path.read_text()
    assert warning in log
    [line] = [line for line in log.splitlines() if "gunicorn.access" in line and request_id in line]
    assert f'"POST {logged}" {status} ' in line
    assert log.count(f'"POST {logged}" ') == access_lines_before + 1, "one access line: no second answer"
    assert "SECRET-TOKEN" not in log


def access_line(live_webapp, request_id: str) -> tuple[str, str]:
    """The server's log line for the request ``request_id``, once written (up to 10 s), and the whole log."""
    deadline = time.monotonic() + 10
    while request_id not in live_webapp.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = live_webapp.log_path.read_text()
    return next(line for line in log.splitlines() if f"request_id={request_id}" in line), log


def test_the_servers_access_lines_carry_the_request_id_and_no_link_token(live_webapp):
    response = requests.get(
        f"{live_webapp.url}/interviews/slot/NOT-A-REAL-TOKEN.xyz", headers={"X-Request-ID": "live-slot-0001"}
    )
    assert response.headers["X-Request-ID"] == "live-slot-0001"
    line, log = access_line(live_webapp, "live-slot-0001")
    assert f'gunicorn.access: 127.0.0.1 "GET /interviews/slot/<token>" {response.status_code} ' in line
    assert "NOT-A-REAL-TOKEN" not in log
    assert "gunicorn: Booting worker" in log  # gunicorn's own lines in the same format


def test_a_line_break_in_a_requested_path_cannot_forge_a_log_line(live_webapp):
    forged = "2026-12-06 02:00:00,000 ERROR   webapp: forged by a request"
    path = f"/items/x{quote(chr(10) + forged)}/y"  # %0A, a line break, then the forged line
    response = requests.get(f"{live_webapp.url}{path}", headers={"X-Request-ID": "live-forge-01"})
    assert response.status_code == 404
    line, log = access_line(live_webapp, "live-forge-01")
    assert f'"GET /items/x\\n{forged}/y" 404 ' in line
    assert not any(line.startswith(forged) for line in log.splitlines())


def test_a_resume_uploaded_in_the_browser_becomes_processed(live_webapp, tmp_path):
    resume = tmp_path / "Lebenslauf Müller.pdf"
    resume.write_bytes(pdf_resume(pages=2))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(live_webapp.url)
            # By its heading: other forms list postings whose titles may say "resume" too.
            upload = page.get_by_role("heading", name="Upload a resume")
            form = page.locator("section", has=upload).locator("form")
            form.get_by_label("Candidate id").fill(unique_key("browser-cand"))
            form.get_by_label("Name").fill("Grace Hopper")
            form.get_by_label("Email").fill("grace@example.com")
            form.get_by_label("Resume").set_input_files(resume)
            form.get_by_role("button", name="Upload").click()
            # The item page refreshes itself until the status is final.
            expect(page.get_by_test_id("status")).to_have_text("processed", timeout=90_000)
            page.screenshot(path=ARTIFACTS / "ui-resume-processed.png", full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "ui-resume-processed.png").stat().st_size > 0


def test_an_employer_approves_a_payment_at_their_bank_in_the_browser(live_webapp, local_world):
    """In a real browser, as only a browser holds the pages to their Content-Security-Policy:
    the approval leaves hireflow for the bank's page, and the bank sends the employer back."""
    settings = WebhookSettings(
        url=f"{live_webapp.url}/webhooks/payments", secret=WEBHOOK_SECRET, poll_seconds=0.1
    )
    dispatcher = WebhookDispatcher(local_world.payment_records, settings).start()
    try:
        employer_email = f"{unique_key('emp')}@example.com"
        accepted = requests.post(
            f"{live_webapp.url}/api/unlocks",
            json={
                "employer_id": employer_email.split("@")[0],
                "employer_email": employer_email,
                "candidate_id": local_world.add_candidate(),
                "payment_method_ref": "pm_card_authenticationRequired",
            },
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text
        [mail] = wait_for(
            lambda: [
                m for m in local_world.mails_to(employer_email) if "/unlocks/payment/" in (m["text"] or "")
            ],
            what="the approve-the-payment email",
            seen=lambda: local_world.mails_to(employer_email),
        )
        path = urlparse(URL_IN_TEXT.search(mail["text"]).group(0)).path
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page()
                page.goto(f"{live_webapp.url}{path}")
                page.get_by_role("button", name="Approve with my bank").click()
                page.get_by_role("link", name="Continue to your bank").click()
                page.get_by_role("button", name="Complete authentication").click()
                expect(page.get_by_test_id("payment-approved")).to_be_visible(timeout=30_000)
                assert page.url.startswith(f"{live_webapp.url}{path}/return?")
                page.screenshot(path=ARTIFACTS / "ui-payment-approved.png", full_page=True)
            finally:
                browser.close()
        status_url = f"{live_webapp.url}/api/unlocks/{accepted.json()['id']}"
        wait_for(
            lambda: requests.get(status_url, timeout=10).json()["status"] == "unlocked",
            what="the unlock to complete on the provider's webhook",
            seen=lambda: requests.get(status_url, timeout=10).json(),
        )
    finally:
        dispatcher.stop()


def test_the_server_stops_cleanly_on_sigterm(live_webapp):
    """Last in this file: gunicorn finishes in-flight requests and exits 0 on SIGTERM."""
    live_webapp.process.terminate()
    assert live_webapp.process.wait(30) == 0
