"""`make run`'s foreground supervision: nothing is left running, and a crash stops the rest."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hireflow import run
from hireflow.engine import find_java
from hireflow.engine.embedded import EmbeddedEngine, free_ports_for
from hireflow.lifetime import process_running
from hireflow.paths import PROJECT_ROOT
from hireflow.run import run_components

RUN_COMPONENTS = """
import signal, sys
from hireflow import run
# As a background job of a shell script starts: with SIGINT ignored.
signal.signal(signal.SIGINT, signal.SIG_IGN)
run.stop_on_termination()
components = [tuple(c.split("=")) for c in sys.argv[1:]]
sys.exit(run.run_components(components=components))
"""

# The ports run_components checks before it starts anything.
PORT_VARIABLES = ("HIREFLOW_WEB_PORT", "HIREFLOW_WEB_METRICS_PORT", "HIREFLOW_WORKER_STATUS_PORT")


@pytest.fixture
def start_supervisor() -> Iterator:
    """``start_supervisor(pids, *components)`` runs ``run_components`` in a process of its own.

    What a failing test leaves running, the supervisor and its stand-ins, is SIGKILLed afterwards.
    """
    started: list[subprocess.Popen] = []
    pid_folders: list[Path] = []

    def start(pids: Path, *components: str) -> subprocess.Popen:
        pid_folders.append(pids)
        # Ports of their own, so a `make run` on this machine does not fail the port check.
        ports = {name: str(port) for name, port in free_ports_for(PORT_VARIABLES).items()}
        env = {**os.environ, **ports, "STAND_IN_PIDS": str(pids), "PYTHONPATH": str(PROJECT_ROOT)}
        started.append(
            subprocess.Popen(
                [sys.executable, "-c", RUN_COMPONENTS, *components],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        return started[-1]

    yield start
    for supervisor in started:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    for pid in (int(path.stem) for folder in pid_folders for path in folder.glob("*.pid")):
        if process_running(pid):
            os.kill(pid, signal.SIGKILL)


def wait_for_pids(pids: Path, count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [int(p.stem) for p in pids.glob("*.pid")]
        if len(found) == count:
            return found
        time.sleep(0.1)
    pytest.fail(f"{count} stand-in(s) did not start within {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_make_run_stops_every_component(start_supervisor, tmp_path, signum):
    supervisor = start_supervisor(tmp_path, "first=tests.stand_in.runs", "second=tests.stand_in.runs")
    children = wait_for_pids(tmp_path, 2)

    supervisor.send_signal(signum)
    output, _ = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 0, output
    assert not [pid for pid in children if process_running(pid)]


def test_a_second_ctrl_c_kills_what_is_still_stopping_and_says_so(start_supervisor, tmp_path):
    supervisor = start_supervisor(
        tmp_path, "worker pool=tests.stand_in.stubborn", "webapp=tests.stand_in.runs"
    )
    children = wait_for_pids(tmp_path, 2)

    supervisor.send_signal(signal.SIGINT)
    time.sleep(1)  # the webapp stopped; the pool is still finishing its jobs
    supervisor.send_signal(signal.SIGINT)
    output, _ = supervisor.communicate(timeout=30)

    assert "!! Interrupted again: killing worker pool." in output
    assert "Traceback" not in output
    assert not [pid for pid in children if process_running(pid)]


def test_a_ctrl_c_before_the_components_run_is_one_line(monkeypatch, capsys):
    # A first start can take minutes (the engine's download, the log's replay).
    def starting():
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "main", starting)
    assert run.cli() == 130
    assert capsys.readouterr().out == "\n!! Interrupted.\n"


def test_a_make_run_killed_with_sigkill_leaves_no_component_running(start_supervisor, tmp_path):
    # Before, they ran on, holding their ports: the next make run refused to start.
    supervisor = start_supervisor(tmp_path, "first=tests.stand_in.runs", "second=tests.stand_in.runs")
    children = wait_for_pids(tmp_path, 2)

    supervisor.kill()
    supervisor.communicate(timeout=30)

    deadline = time.monotonic() + 15
    while running := [pid for pid in children if process_running(pid)]:
        if time.monotonic() > deadline:
            for pid in running:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"{running} still ran 15 s after make run was killed")
        time.sleep(0.1)


def test_a_component_that_ends_stops_the_others_and_fails_the_run(start_supervisor, tmp_path):
    supervisor = start_supervisor(
        tmp_path, "worker pool=tests.stand_in.crashes", "webapp=tests.stand_in.runs"
    )
    [webapp] = wait_for_pids(tmp_path, 1)

    output, _ = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 1
    assert "The worker pool exited with code 3, so the others were stopped." in output
    assert not process_running(webapp)


def test_a_taken_port_is_named_before_anything_starts(tmp_path, monkeypatch, capsys):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("HIREFLOW_WEB_PORT", str(port))
        monkeypatch.setenv("STAND_IN_PIDS", str(tmp_path))

        code = run_components(components=[("webapp", "tests.stand_in.runs")])

    assert code == 2
    assert f"Port {port}, where the webapp listens (HIREFLOW_WEB_PORT), is taken" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.pid"))  # nothing was started


def test_make_run_names_a_taken_port_before_it_starts_the_engine(monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the engine was fetched or started")

    # main reads the command line: make run's, not the one pytest was started with.
    monkeypatch.setattr(sys, "argv", ["python -m hireflow.run"])
    monkeypatch.setattr(run, "stop_on_termination", lambda: None)
    monkeypatch.setattr(run, "fetch", must_not_run)
    monkeypatch.setattr(run, "start_embedded_engine", must_not_run)
    monkeypatch.setattr(run, "start", must_not_run)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("HIREFLOW_WEB_PORT", str(port))

        code = run.main()

    assert code == 2
    output = capsys.readouterr().out
    assert f"Port {port}, where the webapp listens (HIREFLOW_WEB_PORT), is taken" in output
    assert "Nothing was started." in output


def test_the_step_after_start_sees_the_components_running_and_a_failure_in_it_stops_them(
    tmp_path, monkeypatch
):
    # make run gives back a lost engine's card charges there: the payment sandbox must be up.
    for name, port in free_ports_for(PORT_VARIABLES).items():
        monkeypatch.setenv(name, str(port))
    monkeypatch.setenv("STAND_IN_PIDS", str(tmp_path))
    seen = {}

    def after_start(env: dict[str, str]) -> None:
        [seen["pid"]] = wait_for_pids(tmp_path, 1)
        seen["env"] = env
        raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError, match="the step failed"):
        run_components(components=[("webapp", "tests.stand_in.runs")], after_start=after_start)

    assert process_running(seen["pid"]) is False  # stopped, not left behind
    assert seen["env"]["PAYMENT_WEBHOOK_URL"].endswith("/webhooks/payments")  # the components' environment


@contextmanager
def answering_health(answer: dict) -> Iterator[int]:
    """A local HTTP server whose every GET answers ``answer`` as JSON; yields its port."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def an_engine_that_ends(tmp_path: Path, last_words: str, linger_s: float = 0.0) -> EmbeddedEngine:
    """An embedded engine object whose process, once the stand-in webapp has started (its
    pid file in ``tmp_path``) and ``linger_s`` later, prints ``last_words`` to its log and exits 3.

    The engine's own exit (a heap run out mid-run) takes minutes of load to bring about;
    here a stand-in process ends as the JVM does, and what is tested is make run's watch.
    """
    engine = EmbeddedEngine(tmp_path, find_java(), tmp_path / "engine.log", heap="1g")
    with engine.log_path.open("w") as log:
        script = (
            "import pathlib, sys, time\n"
            f"while not list(pathlib.Path({str(tmp_path)!r}).glob('*.pid')): time.sleep(0.1)\n"
            f"time.sleep({linger_s})\n"
            f"print({last_words!r}); sys.exit(3)"
        )
        engine._process = subprocess.Popen([sys.executable, "-c", script], stdout=log)
    return engine


@pytest.mark.parametrize(
    ("last_words", "said"),
    [
        (
            "Terminating due to java.lang.OutOfMemoryError: Java heap space",
            "ran out of its 1g Java heap. Give it more with HIREFLOW_EMBEDDED_ENGINE_HEAP",
        ),
        ("something else went wrong", "its log: "),
    ],
)
def test_when_the_embedded_engine_ends_the_components_stop_and_make_run_says_why(
    tmp_path, monkeypatch, capsys, last_words, said
):
    for name, port in free_ports_for(PORT_VARIABLES).items():
        monkeypatch.setenv(name, str(port))
    monkeypatch.setenv("STAND_IN_PIDS", str(tmp_path))
    engine = an_engine_that_ends(tmp_path, last_words)

    code = run_components(components=[("webapp", "tests.stand_in.runs")], engine=engine)

    assert code == 1
    out = capsys.readouterr().out
    assert "!! The engine exited with code 3, so the components were stopped; " in out
    assert said in out
    # Heap advice only when the engine's output says its heap ran out.
    assert ("ran out of" in out) == ("OutOfMemoryError" in last_words)
    [webapp] = [int(p.stem) for p in tmp_path.glob("*.pid")]
    assert not process_running(webapp)


def test_make_run_warns_when_the_engines_heap_is_nearly_full(tmp_path, monkeypatch, capsys):
    for name, port in free_ports_for(PORT_VARIABLES).items():
        monkeypatch.setenv(name, str(port))
    monkeypatch.setenv("STAND_IN_PIDS", str(tmp_path))
    engine = an_engine_that_ends(tmp_path, "something else went wrong", linger_s=1.5)
    health = {"status": "UP", "heap": {"usedAfterGcBytes": 850 * 2**20, "maxBytes": 1024 * 2**20}}
    with answering_health(health) as port:
        engine.control_port = port  # the stand-in's health answers for the engine

        run_components(components=[("webapp", "tests.stand_in.runs")], engine=engine)

    out = capsys.readouterr().out
    assert "!! The engine's heap is 83% full after its last garbage collection (850 of 1024 MB)" in out
    assert out.count("heap is") == 1
