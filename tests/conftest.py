"""Shared fixtures: the real test engine, a REST client, and the models under test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from hireflow import bpmn_coverage
from hireflow.adapters.calendar import StoreCalendar
from hireflow.adapters.email import EmailOutbox, SendGridMailer
from hireflow.adapters.file_store import LocalFileStore
from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.camunda_connection import ConnectionSettings
from hireflow.camunda_rest import CamundaRestClient
from hireflow.engine import (
    DistributionUnavailable,
    EngineProfile,
    FetchError,
    fetch,
    find_java,
    profile_for_tests,
    start,
    stop,
)
from hireflow.engine.embedded import (
    EmbeddedEngine,
    EmbeddedEngineClient,
    embedded_version,
    fetch_embedded,
    free_port,
)
from hireflow.engine.process import engine_pid
from hireflow.engine.profiles import camunda_version
from hireflow.lifetime import child_environment
from hireflow.paths import PROJECT_ROOT
from hireflow.sandboxes.mail_capture import create_mail_capture
from hireflow.sandboxes.payments import PaymentLedger, create_payment_sandbox
from hireflow.serving import serve_in_thread
from hireflow.signed_links import (
    CardLinks,
    ContactLinks,
    OtherTimesLinks,
    PaymentLinks,
    RescheduleLinks,
    SlotLinks,
    UnlockLinks,
    WithdrawalLinks,
)
from hireflow.store import Candidate, Database, JobPosting, utcnow
from job_workers.metrics import PoolMetrics
from job_workers.services import Services
from job_workers.worker import WorkerSettings, build_worker
from tests.engine_helpers import running_pyzeebe_worker, unique_key
from tests.postgres import fresh_database, running_postgres
from tests.web_helpers import ADMIN_TOKEN, WEBHOOK_SECRET

# The webapp tests' fixtures (an app with no engine, one recording what it would publish).
pytest_plugins = ["tests.offline_webapp"]

FIXTURES = Path(__file__).parent / "fixtures"
MODELS_DIR = PROJECT_ROOT / "bpmn"
REQUIRE_ENGINE = os.environ.get("HIREFLOW_REQUIRE_ENGINE") == "1"
# Which engine the process tests ran on, for the summary at the end of the run.
PROCESS_ENGINE_USED: list[str] = []
# The BPMN coverage of the process tests, read from the engine before it stops.
COVERAGE_DIR = PROJECT_ROOT / "build" / "coverage"
BPMN_COVERAGE_SUMMARY: list[str] = []


@pytest.fixture
def serve() -> Iterator:
    """``serve(app)`` runs a Flask app on a free local port for this test; returns its server."""
    running = []

    def start(app):
        running.append(serve_in_thread(app))
        return running[-1]

    yield start
    for server in running:
        server.shutdown()


@contextmanager
def _pinned_engine(dist) -> Iterator[EngineProfile]:
    """Start the pinned cluster unless it runs; stop it afterwards if this run started it."""
    profile = profile_for_tests()
    started_here = engine_pid(profile) is None
    start(profile, dist, find_java())
    try:
        yield profile
    finally:
        if started_here and os.environ.get("HIREFLOW_KEEP_TEST_ENGINE") != "1":
            stop(profile)


@pytest.fixture(scope="session")
def engine() -> Iterator[EngineProfile]:
    """The real Camunda 8 test engine (the pinned cluster), started if it is not running.

    An engine this session started is stopped at the end, unless
    HIREFLOW_KEEP_TEST_ENGINE=1 (faster reruns). One that already ran is left running.

    If the registry does not serve the pinned distribution, these tests are skipped
    with Maven's exact report, never run against a stand-in. HIREFLOW_REQUIRE_ENGINE=1
    turns that skip into a failure.
    """
    try:
        dist = fetch()
    except DistributionUnavailable as exc:
        if REQUIRE_ENGINE:
            pytest.fail(str(exc))
        pytest.skip(f"real engine unavailable: {exc}")
    with _pinned_engine(dist) as profile:
        yield profile


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the run (Debian's package); yields its admin URL."""
    with running_postgres() as admin_url:
        yield admin_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty domain store, once on SQLite (the default) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'domain.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


@dataclass(frozen=True)
class ProcessEngine:
    """The Zeebe engine process tests run on: where workers connect, and a client to ask it."""

    description: str
    grpc_address: str
    client: CamundaRestClient  # on the embedded engine, its EmbeddedEngineClient subclass

    @property
    def control_url(self) -> str:
        """The embedded engine's control port, which the webapp then talks to; empty on a cluster."""
        return self.client.rest_url if isinstance(self.client, EmbeddedEngineClient) else ""


@pytest.fixture(scope="session")
def process_engine(tmp_path_factory) -> Iterator[ProcessEngine]:
    """A real Zeebe engine for process tests: the pinned cluster, else the embedded engine.

    The embedded engine is Camunda's zeebe-process-test engine: the same workflow engine,
    without Operate, Tasklist or REST v2 (deploy/camunda/embedded/README.md). It is used
    only when the pinned distribution cannot be fetched, and the run's summary says so.
    HIREFLOW_REQUIRE_ENGINE=1 refuses the fallback.
    """
    try:
        dist = fetch()
    except DistributionUnavailable as exc:
        if REQUIRE_ENGINE:
            pytest.fail(str(exc))
        unavailable = exc
    else:
        with _pinned_engine(dist) as profile:
            PROCESS_ENGINE_USED.append(f"Camunda {dist.version} cluster")
            client = CamundaRestClient(profile.rest_url, profile.management_url)
            yield ProcessEngine(f"Camunda {dist.version}", profile.grpc_address, client)
            _report_bpmn_coverage(client)
        return
    try:
        lib_dir = fetch_embedded()
    except FetchError as exc:
        pytest.skip(f"real engine unavailable: {unavailable}; the embedded engine is unavailable too: {exc}")
    log_path = tmp_path_factory.mktemp("embedded-engine") / "engine.log"
    embedded = EmbeddedEngine(lib_dir, find_java(), log_path).start()
    description = (
        f"the embedded Zeebe engine {embedded_version()} "
        f"(the pinned Camunda {camunda_version()} distribution is unavailable)"
    )
    PROCESS_ENGINE_USED.append(description)
    try:
        client = EmbeddedEngineClient(embedded.control_url)
        yield ProcessEngine(description, embedded.grpc_address, client)
        _report_bpmn_coverage(client)
    finally:
        embedded.stop()


def _report_bpmn_coverage(source: bpmn_coverage.VisitSource) -> None:
    """Write build/coverage/ from the engine's history, before the engine stops.

    A report that cannot be read says why in the summary instead of failing the run:
    the tests' verdicts stand on their own.
    """
    models = bpmn_coverage.read_models(sorted(MODELS_DIR.glob("*.bpmn")))
    try:
        report = bpmn_coverage.measure(models, source)
    except Exception as exc:  # noqa: BLE001 - reported at the end of the run
        BPMN_COVERAGE_SUMMARY[:] = [f"the engine's history could not be read: {type(exc).__name__}: {exc}"]
        return
    if not any(coverage.visited_nodes for coverage in report):
        # A run of a few tests that started no process: keep the last full report.
        BPMN_COVERAGE_SUMMARY[:] = ["no process instance ran; build/coverage/ is left as it was"]
        return
    page, problem = bpmn_coverage.write_report(report, COVERAGE_DIR)
    BPMN_COVERAGE_SUMMARY[:] = bpmn_coverage.summary_lines(report)
    BPMN_COVERAGE_SUMMARY.append(f"report: {page.relative_to(PROJECT_ROOT)}")
    if problem:
        BPMN_COVERAGE_SUMMARY.append(f"the marked diagrams were not drawn: {problem}")


@pytest.fixture(scope="session")
def deployed_models(process_engine: ProcessEngine) -> dict:
    """Every diagram, decision and form in bpmn/, deployed as one deployment."""
    resources = sorted(p for p in MODELS_DIR.iterdir() if p.suffix in {".bpmn", ".dmn", ".form"})
    return process_engine.client.deploy(resources)


@dataclass
class LocalWorld:
    """The worker's outside world, all local: sandboxes over HTTP, a SQLite store, a file folder."""

    services: Services
    payments_url: str
    mail_url: str
    payment_records: PaymentLedger  # the payment sandbox's own store, for its webhook dispatcher

    def mails_to(self, address: str) -> list[dict]:
        """What the mail capture received for ``address``, oldest first."""
        response = requests.get(f"{self.mail_url}/_capture/messages", params={"to": address}, timeout=5)
        response.raise_for_status()
        return response.json()

    def add_candidate(
        self,
        skills: list[str] | None = None,
        years_of_experience: int = 3,
        name: str | None = None,
        email: str | None = None,
    ) -> str:
        """A candidate with an indexed resume, as resume-upload leaves one; returns its id."""
        candidate_id = unique_key("cand")
        with self.services.db.sessions.begin() as session:
            session.add(
                Candidate(
                    candidate_id=candidate_id,
                    resume_id=unique_key("resume"),
                    skills=skills or ["python"],
                    years_of_experience=years_of_experience,
                    indexed_at=utcnow(),
                    name=name,
                    email=email,
                )
            )
        return candidate_id

    def add_posting(self, required: list[str], min_years: int = 0, posting_id: str | None = None) -> str:
        """A job posting of employer emp-acme that requires ``required``; returns its id."""
        posting_id = posting_id or unique_key("posting")
        with self.services.db.sessions.begin() as session:
            session.add(
                JobPosting(
                    posting_id=posting_id,
                    employer_id="emp-acme",
                    title="Data engineer",
                    required_skills=required,
                    nice_to_have_skills=[],
                    min_years=min_years,
                )
            )
        return posting_id

    def payment_ledger(self) -> dict:
        """The payment sandbox's intents and refunds."""
        response = requests.get(f"{self.payments_url}/_sandbox/ledger", timeout=5)
        response.raise_for_status()
        return response.json()

    def saved_card_removed_by_its_holder(self, customer: str) -> str:
        """A card saved for ``customer``, then detached at the provider; returns its id."""
        card = f"pm_1{customer.replace('-', '')}"
        payments = self.services.payments
        payments.save_card(unlock_id=f"setup-{customer}", customer=customer, payment_method=card)
        detached = requests.post(
            f"{self.payments_url}/v1/payment_methods/{card}/detach",
            headers={"Authorization": f"Bearer {PAYMENT_KEY}"},
            timeout=5,
        )
        detached.raise_for_status()
        return card


PAYMENT_KEY = "sk_test_process_tests"
SLOT_LINK_SECRET = "process-test-slot-secret"
MAIL_KEY = "SG.process-tests"


@pytest.fixture(scope="session")
def local_world(tmp_path_factory) -> Iterator[LocalWorld]:
    """The adapters the process tests' workers use, each against its real local default."""
    root = tmp_path_factory.mktemp("world")
    payment_sandbox = create_payment_sandbox(root / "payments.sqlite3", PAYMENT_KEY, seed=7)
    payments = serve_in_thread(payment_sandbox)
    mail = serve_in_thread(create_mail_capture(root / "mail.sqlite3", MAIL_KEY, seed=7))
    db = Database(f"sqlite:///{root / 'domain.sqlite3'}")
    db.create_schema()
    services = Services(
        files=LocalFileStore(root / "files"),
        db=db,
        mailer=SendGridMailer(
            MAIL_KEY,
            host=mail.url,
            sender="no-reply@hireflow.example",
            outbox=EmailOutbox(db),
            activity_lag_seconds=0,  # the capture lists a mail at once
        ),
        payments=StripeStylePaymentGateway(payments.url, PAYMENT_KEY),
        calendar=StoreCalendar(db),
        slot_links=SlotLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/interviews/slot"),
        card_links=CardLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/unlocks/card"),
        payment_links=PaymentLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/unlocks/payment"),
        contact_links=ContactLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/unlocks/contact"),
        unlock_links=UnlockLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/applications/unlock"),
        withdrawal_links=WithdrawalLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/applications/withdrawal"),
        reschedule_links=RescheduleLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/interviews/reschedule"),
        other_times_links=OtherTimesLinks(SLOT_LINK_SECRET, "http://127.0.0.1:5000/interviews/other-times"),
    )
    yield LocalWorld(services, payments.url, mail.url, payment_sandbox.extensions["payment_ledger"])
    payments.shutdown()
    mail.shutdown()


@pytest.fixture(scope="session")
def hireflow_worker(process_engine: ProcessEngine, local_world: LocalWorld, deployed_models) -> Iterator:
    """The product's own worker (every router, the failure policy) connected to the engine."""
    settings = WorkerSettings(
        name="process-test-worker", connection=ConnectionSettings(grpc_address=process_engine.grpc_address)
    )
    with running_pyzeebe_worker(
        lambda: build_worker(settings, local_world.services, PoolMetrics()), settings.max_concurrent_jobs
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def web_app(process_engine: ProcessEngine, local_world: LocalWorld, deployed_models):
    """The webapp on the process engine and the workers' own store, files and mail capture."""
    from webapp import create_app

    config = {
        "TESTING": True,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MAIL_CAPTURE_URL": local_world.mail_url,
        "ENGINE_CONTROL_URL": process_engine.control_url,
    }
    return create_app(config, engine_client=process_engine.client, services=local_world.services)


@dataclass(frozen=True)
class LiveWebapp:
    """``python -m webapp`` (gunicorn) serving on a local port."""

    url: str
    process: subprocess.Popen
    metrics_url: str  # the gunicorn master's port for the workers' summed metrics
    log_path: Path  # everything the server wrote: gunicorn's lines, access lines, the app's logs


@pytest.fixture(scope="module")
def live_webapp(process_engine: ProcessEngine, local_world: LocalWorld, deployed_models, tmp_path_factory):
    """The webapp as ``make run`` serves it, on the process engine and the workers' store (per module)."""
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "HIREFLOW_WEB_PORT": str(port),
        "HIREFLOW_WEB_METRICS_PORT": str(metrics_port),
        "HIREFLOW_WEB_WORKERS": "1",
        "HIREFLOW_WEB_THREADS": "4",
        "HIREFLOW_DATABASE_URL": local_world.services.db.url,
        "HIREFLOW_FILES_DIR": str(local_world.services.files.root),
        "HIREFLOW_MAIL_CAPTURE_URL": local_world.mail_url,
        "HIREFLOW_SLOT_LINK_SECRET": SLOT_LINK_SECRET,
        # Where its pages send people back to (the bank, after a payment's approval).
        "HIREFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HIREFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMENT_API_URL": local_world.payments_url,
        "PAYMENT_API_KEY": PAYMENT_KEY,
        "HIREFLOW_ENGINE_CONTROL_URL": process_engine.control_url,
        "HIREFLOW_ENGINE_REST_URL": process_engine.client.rest_url,
    }
    log_path = tmp_path_factory.mktemp("webapp") / "webapp.log"
    with open(log_path, "wb") as log:
        # It ends with the test run, even a SIGKILLed one (hireflow.lifetime).
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp"], env=child_environment(env), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the webapp did not start; its log:\n{log_path.read_text()}")
        time.sleep(0.2)
    yield LiveWebapp(url, process, f"http://127.0.0.1:{metrics_port}/metrics", log_path)
    if process.poll() is None:
        process.terminate()
        process.wait(30)


@pytest.fixture
def web(web_app):
    """A Flask test client of ``web_app`` (its own cookie jar per test)."""
    return web_app.test_client()


@pytest.fixture(scope="session")
def camunda(engine: EngineProfile) -> CamundaRestClient:
    """REST v2 client for the test engine, with access to its controlled clock."""
    return CamundaRestClient(engine.rest_url, engine.management_url)


@pytest.fixture(scope="session")
def smoke_models(camunda: CamundaRestClient) -> dict:
    """Deploy the engine smoke-test models and form in one deployment."""
    return camunda.deploy(
        [
            FIXTURES / "engine-smoke.bpmn",
            FIXTURES / "engine-smoke-review.form",
            FIXTURES / "engine-fragile.bpmn",
        ]
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run ``before_session_worker`` tests first.

    The session's product worker (``hireflow_worker``) serves every product job type on
    the test engine until the run ends. A test whose own worker pool must be the one that
    takes a job therefore runs before any test starts that worker, whatever the files'
    order.
    """
    items.sort(key=lambda item: item.get_closest_marker("before_session_worker") is None)


def pytest_terminal_summary(terminalreporter) -> None:
    """Make skipped engine tests impossible to overlook at the end of the run."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "real engine unavailable" in str(report.longrepr)
    ]
    if BPMN_COVERAGE_SUMMARY:
        terminalreporter.write_sep("=", "BPMN coverage of the process tests")
        for line in BPMN_COVERAGE_SUMMARY:
            terminalreporter.write_line(line)
    for used in PROCESS_ENGINE_USED:
        if "embedded" in used:
            terminalreporter.write_sep("!", f"process tests ran on {used}", yellow=True)
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} test(s) needing the real Camunda engine were SKIPPED", red=True
        )
        terminalreporter.write_line(str(skipped[0].longrepr[2]))
