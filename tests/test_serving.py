"""The sandboxes' command line (``hireflow.serving.run_sandbox_cli``), run as ``make run`` runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from hireflow.serving import serve_in_thread, stop_serving_once


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the sandbox exited with {process.returncode} before it served")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout} s")


def serve_a_missing_page_and_stop(
    module: str, db: Path, signum: int = signal.SIGTERM, **env: str
) -> tuple[subprocess.Popen, str, int]:
    """Run the sandbox ``module``, ask it for a page it lacks, stop it with ``signum``: its
    process, output and port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert requests.get(f"http://127.0.0.1:{port}/no-such-page", timeout=5).status_code == 404
    finally:
        process.send_signal(signum)
        output, _ = process.communicate(timeout=15)
    return process, output, port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("module", ["hireflow.sandboxes.payments", "hireflow.sandboxes.mail_capture"])
def test_a_sandbox_logs_plain_lines_but_not_probes_and_stops_cleanly_on_a_signal(module, signum, tmp_path):
    process, output, port = serve_a_missing_page_and_stop(module, tmp_path / "sandbox.db", signum)

    # Kubernetes and `docker stop` send SIGTERM, a closed terminal SIGHUP: a clean stop,
    # not a death by signal.
    assert process.returncode == 0, output
    assert f"serving on http://127.0.0.1:{port}" in output
    assert '"GET /no-such-page HTTP/1.1" 404' in output
    assert "/healthz" not in output  # passing probes are not logged
    # Log files stay readable: no terminal colour codes, no banner meant for a terminal.
    assert "\x1b[" not in output
    assert "development server" not in output


def test_a_sandbox_stops_on_its_first_ctrl_c_and_ignores_the_next():
    # Ctrl-C twice in make run's terminal reaches the sandbox twice: the second used to
    # interrupt the server's own close, with a traceback.
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with pytest.raises(KeyboardInterrupt):
            stop_serving_once(signal.SIGINT, None)
        assert {signal.getsignal(signum) for signum in saved} == {signal.SIG_IGN}
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_a_sandbox_logs_json_lines_where_the_images_ask_for_them(tmp_path):
    """The images set HIREFLOW_LOG_FORMAT=json; a log shipper then reads every program alike."""
    _, output, port = serve_a_missing_page_and_stop(
        "hireflow.sandboxes.mail_capture", tmp_path / "mail.db", HIREFLOW_LOG_FORMAT="json"
    )
    entries = [json.loads(line) for line in output.splitlines()]
    messages = [entry["message"] for entry in entries]
    assert any(f"serving on http://127.0.0.1:{port}" in message for message in messages)
    assert any('"GET /no-such-page HTTP/1.1" 404' in message for message in messages)


UNREADABLE_REQUEST_LINES = (
    b"GARBAGE\x1b[31m\r\n\r\n",
    b"GET /healthz\x0b2026-12-06 ERROR forged HTTP/1.1\r\n\r\n",
)


def test_a_request_line_the_server_cannot_read_gets_a_400_and_one_escaped_line(caplog):
    """The pool's status server and the sandboxes answered no bytes at all, and printed a traceback."""
    server = serve_in_thread(Flask("status"))
    host, port = server.server.server_address[:2]
    try:
        with caplog.at_level("INFO", logger="werkzeug"):
            for garbage in UNREADABLE_REQUEST_LINES:
                with socket.create_connection((host, port), timeout=5) as client:
                    client.sendall(garbage)
                    assert client.recv(100).startswith(b"HTTP/1.1 400 ")
    finally:
        server.shutdown()
    access_lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert access_lines == [
        '127.0.0.1 "GARBAGE\x1b[31m" 400 -',
        '127.0.0.1 "GET /healthz\x0b2026-12-06 ERROR forged HTTP/1.1" 400 -',
    ]


@pytest.mark.parametrize("module", ["hireflow.sandboxes.payments", "hireflow.sandboxes.mail_capture"])
def test_a_sandbox_names_a_database_it_cannot_use_in_one_line(module, tmp_path):
    not_a_database = tmp_path / "sandbox.sqlite3"
    not_a_database.write_text("garbage, not SQLite")
    run = subprocess.run(
        [sys.executable, "-m", module, "--port", str(free_port()), "--db", str(not_a_database)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert f"sandbox not started: its database {not_a_database} cannot be used: file is not a database" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr
