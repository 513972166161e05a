"""The whole product as real processes, for a chaos run: engine, sandboxes, worker pool, webapp.

Every part runs as its own operating-system process, started the way ``make run``
starts it, so the chaos scenarios can SIGKILL any of them. The engine is the pinned
Camunda cluster when the registry serves it, else the embedded Zeebe engine (the same
fallback ``make test`` uses), with its log kept in a file so that it survives a SIGKILL
as a broker does: the restarted engine replays it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import requests
from sqlalchemy import func, select

from chaos.engine_watch import EngineWatch
from hireflow.camunda_rest import CamundaRestClient
from hireflow.engine import DistributionUnavailable, EngineProfile, fetch, find_java, start, stop
from hireflow.engine.embedded import (
    EmbeddedEngine,
    EmbeddedEngineClient,
    HeapUse,
    embedded_version,
    fetch_embedded,
    free_ports_for,
)
from hireflow.engine.process import engine_pid
from hireflow.engine.profiles import CAMUNDA_DEPLOY_DIR
from hireflow.lifetime import child_environment
from hireflow.run import model_files
from hireflow.store import BusinessRecord, Database

PAYMENT_KEY = "sk_test_chaos"
MAIL_KEY = "SG.chaos"
ADMIN_TOKEN = "chaos-admin-token"
WEBHOOK_SECRET = "whsec_chaos"
SLOT_LINK_SECRET = "chaos-slot-link-secret"
START_TIMEOUT_S = 90.0
RECORDS_TIMEOUT_S = 120.0


class ChaosSetupError(RuntimeError):
    """A part of the product did not start; the message says which and where its log is."""


def wait_healthy(
    url: str, process: subprocess.Popen, log_path: Path, timeout: float = START_TIMEOUT_S
) -> None:
    """Poll ``url`` until it answers 2xx; fail with the log's tail if the process dies first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            raise ChaosSetupError(f"{url} did not become healthy; {log_path}:\n{tail}")
        time.sleep(0.2)


@dataclass
class Component:
    """One product process (``python -m module``) with its log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    health_url: str
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> Component:
        """Start it and wait until it is healthy. Call it from the main thread: the process
        ends with the chaos run, even a SIGKILLed one (``hireflow.lifetime``)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, env=child_environment(self.env), stdout=log, stderr=subprocess.STDOUT
            )
        wait_healthy(self.health_url, self.process, self.log_path)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def chaos_profile(data_dir: Path) -> EngineProfile:
    """The pinned cluster for chaos runs: its own ports and data, beside `make run` and tests."""
    return EngineProfile(
        name="chaos",
        http_port=8188,
        grpc_port=26700,
        management_port=9800,
        command_port=26701,
        internal_port=26702,
        data_dir=data_dir,
        config_dirs=(CAMUNDA_DEPLOY_DIR / "config",),
    )


@dataclass
class Engine:
    """The engine under test, and how to SIGKILL it and start it again on its data."""

    description: str
    grpc_address: str
    client: CamundaRestClient
    control_url: str  # the embedded engine's control port; empty on the cluster
    # SIGKILL the engine and start it again on its data; None if its state would be lost.
    kill_and_restart: Callable[[], None] | None
    close: Callable[[], None]
    pid: Callable[[], int | None] = lambda: None  # the engine's process, for CPU sampling
    # What to look at when a scenario missed the bar: the engine's logged problems, threads.
    diagnostics: Callable[[], str] = lambda: ""
    # The embedded engine's Java heap after its last collection (it holds its log); None elsewhere.
    heap_use: Callable[[], HeapUse | None] = lambda: None


def start_engine(root: Path, out=sys.stderr) -> Engine:
    """The pinned cluster if it can be fetched, else the embedded engine."""
    java = find_java()
    try:
        dist = fetch(out=out)
    except DistributionUnavailable as unavailable:
        print(
            f"!! {unavailable}\n!! Running on the embedded Zeebe engine {embedded_version()} instead.",
            file=out,
        )
        # Its log is kept in a file too, so a SIGKILLed engine comes back with its state.
        embedded = EmbeddedEngine(
            fetch_embedded(out=out), java, root / "engine.log", state_file=root / "engine-state.log"
        ).start()

        def kill_and_restart_embedded() -> None:
            embedded.kill()
            embedded.start()

        return Engine(
            f"the embedded Zeebe engine {embedded_version()}",
            embedded.grpc_address,
            # Its record reads grow with the run: give a loaded 2-core machine time to answer.
            EmbeddedEngineClient(embedded.control_url, timeout=RECORDS_TIMEOUT_S),
            embedded.control_url,
            kill_and_restart=kill_and_restart_embedded,
            close=embedded.stop,
            pid=lambda: embedded.pid,
            diagnostics=embedded.diagnostics,
            heap_use=embedded.heap_use,
        )
    profile = chaos_profile(root / "engine")

    def kill_and_restart() -> None:
        pid = engine_pid(profile)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while engine_pid(profile) is not None:
                time.sleep(0.2)
        start(profile, dist, java, out=out)

    start(profile, dist, java, out=out)
    return Engine(
        f"Camunda {dist.version}",
        profile.grpc_address,
        CamundaRestClient(profile.rest_url, profile.management_url),
        "",
        kill_and_restart=kill_and_restart,
        close=lambda: stop(profile, out=out),
        pid=lambda: engine_pid(profile),
    )


@dataclass
class ChaosWorld:
    """Everything running, with handles for the scenarios and the checker."""

    root: Path
    engine: Engine
    db: Database
    payments_url: str
    mail_url: str
    web_url: str
    pool_status_url: str
    components: dict[str, Component] = field(default_factory=dict)
    # Asks the engine every few seconds whether it still processes commands.
    engine_watch: EngineWatch | None = None
    _cache: dict[str, tuple[float, object]] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def _fetch(self, url: str, max_age_s: float) -> object:
        """GET ``url`` as JSON, shared for ``max_age_s`` by the many flows polling the same thing."""
        with self._cache_lock:
            cached = self._cache.get(url)
            if cached and time.monotonic() - cached[0] < max_age_s:
                return cached[1]
            response = requests.get(url, timeout=15)
            response.raise_for_status()
            self._cache[url] = (time.monotonic(), response.json())
            return self._cache[url][1]

    def ledger(self, max_age_s: float = 0.0) -> dict:
        """The payment sandbox's intents and refunds."""
        return self._fetch(f"{self.payments_url}/_sandbox/ledger", max_age_s)

    def mails(self, max_age_s: float = 0.0) -> list[dict]:
        """Every mail the capture accepted."""
        return self._fetch(f"{self.mail_url}/_capture/messages", max_age_s)

    def mails_to(self, address: str) -> list[dict]:
        """The mails to ``address``, asked of the capture (not cut from every mail it holds)."""
        return self._fetch(f"{self.mail_url}/_capture/messages?{urlencode({'to': address})}", 0.5)

    def payment_ids_by_unlock(self) -> dict[str, str]:
        """Each unlock's payment intent id, from the ledger's metadata."""
        intents = self.ledger(max_age_s=0.2)["payment_intents"]
        return {p["metadata"]["unlock_id"]: p["id"] for p in intents if "unlock_id" in p["metadata"]}

    def worker_pids(self) -> list[int]:
        """The pool's live worker processes (the supervisor restarts any that die)."""
        health = requests.get(f"{self.pool_status_url}/healthz", timeout=5).json()
        return [w["pid"] for w in health["workers"] if w["alive"] and w["pid"]]

    def settle_payment(self, payment_id: str) -> bool:
        """Let the payment sandbox settle an asynchronous payment now; True once it has."""
        try:
            response = requests.post(
                f"{self.payments_url}/_sandbox/payment_intents/{payment_id}/succeed", timeout=5
            )
        except requests.RequestException:
            return False
        return response.status_code in (200, 409)  # 409: settled before

    def webhook_backlog(self) -> dict:
        """The payment sandbox's events not yet taken by the webapp."""
        return requests.get(f"{self.payments_url}/healthz", timeout=5).json()["webhooks"]

    def webapp_worker_pids(self) -> list[int]:
        """The webapp's gunicorn workers: the children of its master process."""
        master = self.components["webapp"].process
        if master is None or master.poll() is not None:
            return []
        try:
            children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def set_payment_faults(self, **plan) -> None:
        requests.post(f"{self.payments_url}/_sandbox/faults", json=plan, timeout=5).raise_for_status()

    def set_mail_faults(self, **plan) -> None:
        requests.post(f"{self.mail_url}/_capture/faults", json=plan, timeout=5).raise_for_status()

    def lift_faults(self) -> None:
        self.set_payment_faults(rates={}, next_count={})
        self.set_mail_faults(rates={}, next_count={})


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class DatabaseNotEmpty(RuntimeError):
    """The domain database given for a chaos run already holds business items."""


def open_world(
    stack: ExitStack,
    root: Path,
    *,
    worker_processes: int = 2,
    database_url: str | None = None,
    out=sys.stderr,
) -> ChaosWorld:
    """Start every part under ``root`` (logs and data there); ``stack`` stops them.

    The domain store is a new SQLite file under ``root``, or ``database_url`` (PostgreSQL,
    as in production), which must hold no business items: the checker counts them all.
    """
    root.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{root / 'hireflow.sqlite3'}"
    db = Database(database_url)
    db.create_schema()
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(BusinessRecord)):
            raise DatabaseNotEmpty(
                f"{db.engine.url.render_as_string(hide_password=True)} already holds business items; "
                "give a chaos run an empty database"
            )
    engine = start_engine(root, out=out)
    stack.callback(engine.close)
    engine.client.deploy(model_files())
    ports = free_ports_for(("payments", "mail", "pool", "web"))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "HIREFLOW_DATA_DIR": str(root / "data"),
        "HIREFLOW_DATABASE_URL": database_url,
        "HIREFLOW_FILES_DIR": str(root / "files"),
        "ZEEBE_GRPC_ADDRESS": engine.grpc_address,
        "CAMUNDA_AUTH_STRATEGY": "NONE",
        "PAYMENT_API_URL": urls["payments"],
        "PAYMENT_API_KEY": PAYMENT_KEY,
        "SENDGRID_HOST": urls["mail"],
        "SENDGRID_API_KEY": MAIL_KEY,
        "SENDGRID_ACTIVITY_LAG_SECONDS": "0",  # the capture lists a mail at once
        "HIREFLOW_SLOT_LINK_SECRET": SLOT_LINK_SECRET,
        "HIREFLOW_PUBLIC_URL": urls["web"],
        "HIREFLOW_MAIL_CAPTURE_URL": urls["mail"],
        "HIREFLOW_WEB_METRICS_PORT": "0",  # not measured here; and 9465 may be make run's
        "HIREFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # The sandbox delivers its events to the webapp, as a provider does, but settles an
        # asynchronous payment only when a flow asks (a day is longer than any run): most
        # scenarios deliver their webhooks themselves (twice, shuffled, early).
        "PAYMENT_WEBHOOK_URL": f"{urls['web']}/webhooks/payments",
        "PAYMENT_SETTLE_AFTER_SECONDS": "86400",
        "HIREFLOW_ENGINE_CONTROL_URL": engine.control_url,
        "HIREFLOW_ENGINE_REST_URL": engine.client.rest_url,
        "HIREFLOW_WEB_PORT": str(ports["web"]),
        "HIREFLOW_WEB_WORKERS": "1",
        "HIREFLOW_WEB_THREADS": "16",
        "HIREFLOW_LOG_FORMAT": "text",
    }
    components = [
        Component(
            "payment sandbox",
            _python_module(
                "hireflow.sandboxes.payments",
                "--port",
                str(ports["payments"]),
                "--db",
                str(root / "payments.sqlite3"),
                "--api-key",
                PAYMENT_KEY,
            ),
            env,
            f"{urls['payments']}/healthz",
            root / "payments.log",
        ),
        Component(
            "mail capture",
            _python_module(
                "hireflow.sandboxes.mail_capture",
                "--port",
                str(ports["mail"]),
                "--db",
                str(root / "mail.sqlite3"),
                "--api-key",
                MAIL_KEY,
            ),
            env,
            f"{urls['mail']}/healthz",
            root / "mail.log",
        ),
        Component(
            "worker pool",
            _python_module(
                "job_workers", "--processes", str(worker_processes), "--status-port", str(ports["pool"])
            ),
            env,
            f"{urls['pool']}/healthz",
            root / "workers.log",
        ),
        Component("webapp", _python_module("webapp"), env, f"{urls['web']}/healthz", root / "webapp.log"),
    ]
    world = ChaosWorld(root, engine, db, urls["payments"], urls["mail"], urls["web"], urls["pool"])
    # A probe answers in well under a second; one left 15 s without answer counts as silence.
    world.engine_watch = EngineWatch(engine.client.with_timeout(15.0).publish_message).start()
    stack.callback(world.engine_watch.stop)
    for component in components:
        print(f"  starting the {component.name} (log: {component.log_path})", file=out, flush=True)
        stack.callback(component.stop)
        world.components[component.name] = component.start()
    return world
