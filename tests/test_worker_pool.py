"""The worker pool's supervisor, health and metrics, with real processes (issue 3).

Completing a job once after a SIGKILL needs the engine and lives with the engine tests;
here the supervisor's own duties are checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from hireflow.lifetime import process_running
from hireflow.serving import serve_in_thread
from job_workers.__main__ import worker_command
from job_workers.supervisor import LONGEST_TEMP_DIR, Supervisor, create_status_app, how_it_ended

BEATING = "import pathlib,sys,time\nwhile True:\n    pathlib.Path(sys.argv[1]).touch(); time.sleep(0.2)"
SILENT = "import time\ntime.sleep(600)"
# Starts a forkserver, as the parser sandbox does: its socket goes below TMPDIR. Then beats.
FORKSERVER_THEN_BEATING = (
    "import multiprocessing,pathlib,sys,time\n"
    "if __name__ == '__main__':\n"
    "    child = multiprocessing.get_context('forkserver').Process(target=int)\n"
    "    child.start(); child.join()\n"
    "    while True:\n"
    "        pathlib.Path(sys.argv[1]).touch(); time.sleep(0.2)\n"
)


def child(code: str):
    return lambda name, beat: [sys.executable, "-c", code, str(beat)]


def wait_until(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def make_supervisor(tmp_path):
    created: list[Supervisor] = []

    def make(code: str, size: int = 2, **kwargs) -> Supervisor:
        supervisor = Supervisor(
            size=size, command=child(code), state_dir=tmp_path / "pool", grace_seconds=5, **kwargs
        )
        created.append(supervisor)
        supervisor.start()
        return supervisor

    yield make
    for supervisor in created:
        supervisor.stop()


def pids(supervisor: Supervisor) -> list[int | None]:
    return [w["pid"] for w in supervisor.health()["workers"]]


def test_a_worker_killed_with_sigkill_is_restarted(make_supervisor):
    supervisor = make_supervisor(BEATING)
    victim, other = pids(supervisor)
    os.kill(victim, signal.SIGKILL)

    def replaced():
        supervisor.check_once()
        now = pids(supervisor)
        return now[0] not in (None, victim) and now[1] == other

    wait_until(replaced, what="a new process in the killed worker's slot")
    assert supervisor.health()["ok"]
    assert supervisor.health()["workers"][0]["restarts"] == 1


def test_sigkills_in_a_row_restart_at_once_but_a_worker_that_keeps_exiting_waits_longer(make_supervisor):
    killed = make_supervisor(BEATING, size=1)
    for _ in range(3):  # as the chaos suite and the OOM killer do
        [victim] = pids(killed)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: killed.slots[0].process.poll() is not None, what="the kill to land")
        killed.check_once()
        assert killed.slots[0].restart_at <= time.monotonic(), "a SIGKILLed worker comes back at once"
        killed.check_once()
        assert pids(killed)[0] not in (None, victim)

    failing = make_supervisor("import sys\nsys.exit(2)", size=1)
    delays = []
    for _ in range(3):
        wait_until(lambda: failing.slots[0].process.poll() is not None, what="the worker to exit")
        failing.check_once()
        delays.append(failing.slots[0].restart_at - time.monotonic())
        failing.slots[0].restart_at = 0.0  # skip the wait: only its length is under test
        failing.check_once()
    assert 0 < delays[0] < delays[1] < delays[2]


@pytest.fixture
def short_temp_root():
    # Not below tmp_path: pytest's paths can pass LONGEST_TEMP_DIR, and the test would then
    # check nothing.
    with tempfile.TemporaryDirectory(prefix="hireflow-test-") as root:
        yield Path(root)


def test_a_killed_workers_leftovers_go_when_its_slot_restarts_and_all_go_at_stop(
    make_supervisor, short_temp_root
):
    supervisor = make_supervisor(FORKSERVER_THEN_BEATING, size=1, temp_root=short_temp_root)
    slot_dir = short_temp_root / "worker-0"

    def left_behind():
        return sorted(p.name for p in slot_dir.glob("pymp-*/listener-*"))

    wait_until(lambda: left_behind(), what="the worker's forkserver socket in its own TMPDIR")
    first = left_behind()
    [victim] = pids(supervisor)
    os.kill(victim, signal.SIGKILL)  # no chance to remove its socket itself

    def replaced():
        supervisor.check_once()
        return pids(supervisor)[0] not in (None, victim)

    wait_until(replaced, what="a new process in the killed worker's slot")
    wait_until(lambda: left_behind() not in ([], first), what="the new worker's own socket")
    assert len(left_behind()) == 1, "the killed worker's socket went before the restart"
    supervisor.stop()
    assert not slot_dir.exists()


def test_a_slot_directory_too_long_for_a_socket_is_not_used(tmp_path):
    too_long = tmp_path / ("x" * LONGEST_TEMP_DIR)
    supervisor = Supervisor(size=1, command=child(SILENT), state_dir=tmp_path / "pool", temp_root=too_long)
    assert supervisor.temp_dir(supervisor.slots[0]) is None
    fits = Supervisor(size=1, command=child(SILENT), state_dir=tmp_path / "pool", temp_root=Path("/tmp/h"))
    assert fits.temp_dir(fits.slots[0]) == Path("/tmp/h/worker-0")


def test_a_worker_that_stops_beating_is_killed_and_restarted(make_supervisor):
    supervisor = make_supervisor(SILENT, size=1, stale_after_seconds=1.0)
    [stalled] = pids(supervisor)

    def replaced():
        supervisor.check_once()
        return pids(supervisor)[0] not in (None, stalled)

    wait_until(replaced, what="the stalled worker to be replaced")
    assert b'hireflow_worker_restarts_total{reason="stalled"} 1.0' in supervisor.metrics_text()


def test_after_the_pool_itself_was_paused_its_workers_get_time_to_beat_again(make_supervisor):
    # Ctrl-Z on make run, or a laptop's sleep: the workers were paused too, and their
    # heartbeats are as old as the pause. Before, the first check killed them all.
    supervisor = make_supervisor(SILENT, size=2, stale_after_seconds=2.0)
    workers = pids(supervisor)
    supervisor.check_once()
    long_ago = time.time() - 120
    for slot in supervisor.slots:
        os.utime(supervisor.heartbeat_file(slot), (long_ago, long_ago))
    supervisor._pause_watch.last_check = long_ago  # its last check, before the pause

    supervisor.check_once()
    assert pids(supervisor) == workers

    def replaced():  # a worker that still does not beat is stuck after all
        supervisor.check_once()
        return all(pid not in workers for pid in pids(supervisor))

    wait_until(replaced, timeout=10, what="the silent workers to be replaced once their time is up")


def test_health_and_metrics_are_served_over_http(make_supervisor):
    supervisor = make_supervisor(BEATING)
    supervisor.check_once()
    server = serve_in_thread(create_status_app(supervisor))
    try:
        health = requests.get(f"{server.url}/healthz", timeout=5)
        assert health.status_code == 200
        assert len(health.json()["workers"]) == 2
        metrics = requests.get(f"{server.url}/metrics", timeout=5)
        assert "hireflow_worker_processes_alive 2.0" in metrics.text
        os.kill(pids(supervisor)[0], signal.SIGKILL)
        wait_until(
            lambda: requests.get(f"{server.url}/healthz", timeout=5).status_code == 503,
            what="health to report the dead worker",
        )
    finally:
        server.shutdown()


# A pool of two that prints its workers' pids; each worker asks to end with the pool, as the
# real worker process does first thing.
POOL_OF_TWO = """
import sys, threading
from pathlib import Path
from job_workers.supervisor import Supervisor
worker = "from hireflow.lifetime import end_with_parent\\nend_with_parent('w')\\n" + sys.argv[2]
pool = Supervisor(size=2, command=lambda name, beat: [sys.executable, "-c", worker, str(beat)],
                  state_dir=Path(sys.argv[1]))
pool.start()
print(*(slot.process.pid for slot in pool.slots), flush=True)
pool.run_until(threading.Event())
"""


def test_a_pool_killed_with_sigkill_leaves_no_worker_running(tmp_path):
    # Each worker would go on taking jobs, with nobody to stop or restart it.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("HIREFLOW_PARENT_PID", None)
    pool = subprocess.Popen(
        [sys.executable, "-c", POOL_OF_TWO, str(tmp_path), BEATING],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        workers = [int(pid) for pid in pool.stdout.readline().split()]
        started = time.time()
        beats = list(tmp_path.glob("*.heartbeat"))
        # A beat after their start: they run, and asked to end with the pool first.
        wait_until(lambda: all(b.stat().st_mtime > started for b in beats), what="both workers to beat")
    finally:
        pool.kill()
        pool.wait()

    try:
        wait_until(lambda: not any(map(process_running, workers)), timeout=15, what="the workers to end")
    finally:
        for pid in filter(process_running, workers):
            os.kill(pid, signal.SIGKILL)


def without_an_engine(tmp_path: Path) -> dict[str, str]:
    """The environment of a worker (or pool) with its own data, whose engine never answers.

    Nothing listens at its gateway's address, so its workers keep reconnecting and run on.
    """
    env = {
        **os.environ,
        "ZEEBE_ADDRESS": "127.0.0.1:9",
        "HIREFLOW_DATA_DIR": str(tmp_path / "var"),
        "HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'domain.sqlite3'}",
    }
    env.pop("HIREFLOW_PARENT_PID", None)  # started by the test, not by a launcher
    return env


def stopped_once_it_beats(process: subprocess.Popen, beat: Path, signum: int) -> str:
    """Send ``signum`` once a worker has touched ``beat`` itself; it must exit 0. Its stderr."""
    try:
        wait_until(beat.exists, timeout=30, what="the first heartbeat")
        first = beat.stat().st_mtime
        wait_until(lambda: beat.stat().st_mtime > first, timeout=30, what="a heartbeat of the worker's own")
        process.send_signal(signum)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    return process.stderr.read()


# SIGHUP: a closed terminal, which reaches every process of make run.
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_real_worker_process_beats_and_stops_cleanly_on_a_signal(tmp_path, signum):
    beat = tmp_path / "worker.heartbeat"
    env = {**without_an_engine(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    process = subprocess.Popen(worker_command("worker-0", beat), env=env, stderr=subprocess.PIPE, text=True)
    log = stopped_once_it_beats(process, beat, signum)
    assert "worker=worker-0" in log
    assert "worker worker-0 stopped" in log


def test_the_pool_stops_its_workers_cleanly_when_its_terminal_closes(tmp_path):
    # A closed terminal sends SIGHUP to make run's whole process group. The pool and its
    # workers ended at once before, in the middle of their jobs.
    pool = subprocess.Popen(
        [sys.executable, "-m", "job_workers", "--processes", "1", "--status-port", "0"],
        env=without_an_engine(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    # To the pool only, once its worker runs: the worker hears of it from the pool.
    log = stopped_once_it_beats(pool, tmp_path / "var" / "worker-pool" / "worker-0.heartbeat", signal.SIGHUP)
    assert "worker pool stopping" in log
    assert "worker worker-0 stopped" in log


def test_every_worker_command_runs_the_worker_module():
    command = worker_command("worker-3", Path("/tmp/x.heartbeat"))
    assert command[1:] == [
        "-m",
        "job_workers.worker",
        "--name",
        "worker-3",
        "--heartbeat-file",
        "/tmp/x.heartbeat",
        "--held-jobs-file",
        "/tmp/x.held-jobs",  # one per slot, kept across restarts
    ]


def test_the_supervisor_says_how_a_worker_ended_in_words():
    assert how_it_ended(-9) == "was killed by SIGKILL"
    assert how_it_ended(-15) == "was killed by SIGTERM"
    assert how_it_ended(2) == "exited with code 2"
