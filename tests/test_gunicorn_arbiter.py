"""The webapp's gunicorn arbiter after a pause of its own (webapp/gunicorn_arbiter.py)."""

from __future__ import annotations

import logging
import signal
import time
from types import SimpleNamespace

from hireflow.lifetime import PauseWatch
from webapp.gunicorn_arbiter import PauseTolerantArbiter


def arbiter_with_a_late_worker(last_report: float) -> tuple[PauseTolerantArbiter, list]:
    """An arbiter (not started) with one worker that last reported at ``last_report``."""
    arbiter = PauseTolerantArbiter.__new__(PauseTolerantArbiter)
    killed: list = []
    arbiter.timeout = 60
    arbiter.log = logging.getLogger("test-arbiter")
    late = SimpleNamespace(aborted=False, tmp=SimpleNamespace(last_update=lambda: last_report))
    arbiter.WORKERS = {4242: late}
    arbiter.kill_worker = lambda pid, sig: killed.append((pid, sig))
    arbiter.pause_watch = PauseWatch(time.monotonic)
    arbiter.grace_until = 0.0
    return arbiter, killed


def test_after_a_pause_a_late_worker_gets_its_timeout_again_before_it_is_killed(caplog):
    # Ctrl-Z on make run for 75 s: gunicorn killed a healthy worker ("WORKER TIMEOUT").
    now = time.monotonic()
    arbiter, killed = arbiter_with_a_late_worker(last_report=now - 75)
    arbiter.pause_watch.last_check = now - 75  # the arbiter's check before the pause

    with caplog.at_level(logging.WARNING):
        arbiter.murder_workers()
    assert killed == []
    assert "did not run for 75 s (paused); its workers have 60 s from now to report" in caplog.text

    arbiter.grace_until = time.monotonic() - 1  # the grace is over; it never reported
    arbiter.murder_workers()
    assert killed == [(4242, signal.SIGABRT)]


def test_without_a_pause_a_late_worker_is_killed_as_gunicorn_does():
    now = time.monotonic()
    arbiter, killed = arbiter_with_a_late_worker(last_report=now - 75)
    arbiter.pause_watch.last_check = now - 1  # checked a moment ago

    arbiter.murder_workers()
    assert killed == [(4242, signal.SIGABRT)]
