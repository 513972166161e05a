"""The pool supervisor: keeps N worker processes alive and reports health and metrics.

A worker that exits is restarted (with growing delay if it keeps crashing). A worker
whose heartbeat stops is killed and restarted: its event loop is stuck. When the
supervisor itself was paused (Ctrl-Z, SIGSTOP, a suspended machine or VM), its workers
were too, and their heartbeats count from when it runs again. A worker that
refused its settings (``EXIT_BAD_SETTINGS``) stops the pool instead: no restart can help.

Given ``temp_root``, each slot's process gets a temporary directory of its own there
(``TMPDIR``), emptied before each start: what a SIGKILLed process left behind (its
multiprocessing sockets, a half-written file) goes with it instead of piling up in /tmp.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, jsonify
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hireflow.backoff import Backoff
from hireflow.lifetime import PauseWatch, child_environment

log = logging.getLogger(__name__)

RESTART_BACKOFF = Backoff(base_seconds=1.0, cap_seconds=60.0)
# The exit code of a worker process that refused its settings (a SettingError): it is not
# restarted, since every process reads the same settings and would fail the same way.
# sysexits.h's EX_CONFIG, so no other failure (Python's 1, argparse's 2) is taken for it.
EXIT_BAD_SETTINGS = 78
# A worker that ran this long is healthy again: its next crash restarts it at once.
STABLE_AFTER_SECONDS = 60.0
# Linux caps a Unix socket's path at 107 bytes, and multiprocessing puts its sockets 32 bytes
# below TMPDIR (/pymp-xxxxxxxx/listener-xxxxxxxx). A slot's directory longer than this is not
# used: the process keeps the TMPDIR it inherits, so its parser sandbox can still start.
LONGEST_TEMP_DIR = 107 - 32


def how_it_ended(returncode: int) -> str:
    """``was killed by SIGKILL`` for a negative return code, else ``exited with code N``."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Slot:
    """One place in the pool and the process that fills it."""

    index: int
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    crashes_in_a_row: int = 0
    restart_at: float = 0.0
    restarts: int = 0

    @property
    def name(self) -> str:
        return f"worker-{self.index}"


@dataclass
class Supervisor:
    """Starts ``size`` processes from ``command(name, heartbeat_file)`` and keeps them running."""

    size: int
    command: Callable[[str, Path], list[str]]
    state_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stale_after_seconds: float = 60.0
    grace_seconds: float = 40.0
    # Where each slot's temporary directory goes (see the module's docstring); None: no own one.
    temp_root: Path | None = None
    slots: list[Slot] = field(init=False)
    # Set when a process exited with EXIT_BAD_SETTINGS: ``run_until`` returns.
    refused_settings: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.slots = [Slot(i) for i in range(self.size)]
        self._lock = threading.Lock()
        # By the wall clock, as the heartbeats' times are: it goes on while a machine sleeps.
        self._pause_watch = PauseWatch(time.time)
        # Heartbeats older than this count from it: when the pool ran again after a pause.
        self._beats_count_from = 0.0
        self.registry = CollectorRegistry()
        self._restarts = Counter(
            "hireflow_worker_restarts_total", "Worker processes restarted", ["reason"], registry=self.registry
        )
        self._alive = Gauge(
            "hireflow_worker_processes_alive", "Worker processes running", registry=self.registry
        )

    def heartbeat_file(self, slot: Slot) -> Path:
        return self.state_dir / f"{slot.name}.heartbeat"

    def temp_dir(self, slot: Slot) -> Path | None:
        """The slot's own temporary directory, or None when it has none (see ``temp_root``)."""
        if self.temp_root is None:
            return None
        directory = self.temp_root / slot.name
        return directory if len(os.fsencode(directory)) <= LONGEST_TEMP_DIR else None

    def _spawn(self, slot: Slot) -> None:
        beat = self.heartbeat_file(slot)
        beat.touch()  # counts from now, so a slow start is not taken for a stall
        # The process ends with this one, even if this one is SIGKILLed (hireflow.lifetime).
        env = child_environment(self.env)
        temp_dir = self.temp_dir(slot)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)  # what the slot's last process left
            temp_dir.mkdir(parents=True)
            env["TMPDIR"] = str(temp_dir)
        slot.process = subprocess.Popen(self.command(slot.name, beat), env=env)
        slot.started_at = time.monotonic()
        log.info("started %s (pid %d)", slot.name, slot.process.pid)

    def start(self) -> None:
        with self._lock:
            for slot in self.slots:
                self._spawn(slot)

    def check_once(self) -> None:
        """Restart exited processes when their delay is over; kill stalled ones."""
        now = time.monotonic()
        with self._lock:
            self._notice_a_pause()
            for slot in self.slots:
                process = slot.process
                if process is None:
                    if now >= slot.restart_at:
                        self._spawn(slot)
                        slot.restarts += 1
                    continue
                code = process.poll()
                if code is not None:
                    self._on_exit(slot, code, now)
                elif self._stalled(slot, now):
                    log.error("%s (pid %d) stopped beating; killing it", slot.name, process.pid)
                    self._restarts.labels("stalled").inc()
                    process.kill()
                    process.wait()
                    self._forget(slot)
                    slot.restart_at = now
            self._alive.set(sum(1 for s in self.slots if s.process and s.process.poll() is None))

    def _notice_a_pause(self) -> None:
        paused = self._pause_watch.paused_for()
        if paused:
            # The workers were most likely paused as well: their heartbeats are as old as the
            # pause, through no fault of theirs. Killing them all would only lose their jobs.
            self._beats_count_from = self._pause_watch.last_check
            log.warning(
                "the pool did not run for %.0f s (paused, or the machine slept); its workers "
                "have %.0f s from now to beat again",
                paused,
                self.stale_after_seconds,
            )

    def _stalled(self, slot: Slot, now: float) -> bool:
        try:
            age = time.time() - max(self.heartbeat_file(slot).stat().st_mtime, self._beats_count_from)
        except FileNotFoundError:
            age = now - slot.started_at
        return age > self.stale_after_seconds

    def _on_exit(self, slot: Slot, code: int, now: float) -> None:
        ran_for = now - slot.started_at
        if code == EXIT_BAD_SETTINGS:
            log.error(
                "%s (pid %d) refused its settings (its message is above); the pool stops: "
                "every process would fail the same way",
                slot.name,
                slot.process.pid,
            )
            self.refused_settings = True
            self._forget(slot)
            slot.restart_at = float("inf")
            return
        if ran_for >= STABLE_AFTER_SECONDS:
            slot.crashes_in_a_row = 0
        elif code != -signal.SIGKILL:
            slot.crashes_in_a_row += 1
        # A worker that exits by itself again and again (bad settings, refused credentials)
        # waits longer each time. One SIGKILLed from outside (an operator, the OOM killer, a
        # node drain, the chaos suite) did nothing wrong: it comes back at once, however
        # often that happens, so a burst of kills does not leave the pool half empty.
        delay = RESTART_BACKOFF.ceiling(slot.crashes_in_a_row) if slot.crashes_in_a_row else 0.0
        log.error(
            "%s (pid %d) %s after %.0f s; restarting in %.0f s",
            slot.name,
            slot.process.pid,
            how_it_ended(code),
            ran_for,
            delay,
        )
        self._restarts.labels("exited").inc()
        self._forget(slot)
        slot.restart_at = now + delay

    def _forget(self, slot: Slot) -> None:
        if slot.process is not None and "PROMETHEUS_MULTIPROC_DIR" in self.env:
            multiprocess.mark_process_dead(slot.process.pid, self.env["PROMETHEUS_MULTIPROC_DIR"])
        slot.process = None

    def health(self) -> dict:
        """Each slot's pid and state; ``ok`` when every slot has a live process."""
        with self._lock:
            workers = [
                {
                    "name": s.name,
                    "pid": s.process.pid if s.process else None,
                    "alive": bool(s.process and s.process.poll() is None),
                    "restarts": s.restarts,
                }
                for s in self.slots
            ]
        return {"ok": all(w["alive"] for w in workers), "workers": workers}

    def metrics_text(self) -> bytes:
        """The workers' metrics summed across processes, plus the supervisor's own."""
        text = generate_latest(self.registry)
        path = self.env.get("PROMETHEUS_MULTIPROC_DIR")
        if path:
            workers = CollectorRegistry()
            multiprocess.MultiProcessCollector(workers, path=path)
            text += generate_latest(workers)
        return text

    def stop(self) -> None:
        """SIGTERM every worker, wait for them to finish running jobs, SIGKILL the rest."""
        with self._lock:
            running = [s.process for s in self.slots if s.process and s.process.poll() is None]
            for process in running:
                process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.grace_seconds
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("pid %d did not stop in %.0f s; killing it", process.pid, self.grace_seconds)
                    process.kill()
                    process.wait()
            for slot in self.slots:
                slot.process = None
                temp_dir = self.temp_dir(slot)
                if temp_dir is not None:
                    shutil.rmtree(temp_dir, ignore_errors=True)

    def run_until(self, stop: threading.Event, every_seconds: float = 0.5) -> None:
        """Check the processes until ``stop`` is set, or one refused its settings."""
        while not stop.wait(every_seconds):
            self.check_once()
            if self.refused_settings:
                return


def create_status_app(supervisor: Supervisor) -> Flask:
    """``/healthz`` (200 when every worker runs, else 503) and ``/metrics`` (Prometheus text)."""
    app = Flask("worker_pool")

    @app.get("/healthz")
    def healthz():
        health = supervisor.health()
        return jsonify(health), 200 if health["ok"] else 503

    @app.get("/metrics")
    def metrics():
        return Response(supervisor.metrics_text(), mimetype=CONTENT_TYPE_LATEST)

    return app
