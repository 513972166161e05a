"""The webapp with no engine, for the tests of its requests and pages.

``empty_services`` gives a new store and file folder, ``offline_app`` an app whose engine
client points at a closed port, and the engine doubles (``StartsInstancesInState`` and
those built on it) answer as a running cluster would, so a test can put an item's
instance in any state. The fixtures here (``offline``, ``recording``) reach every test
module through ``pytest_plugins`` in ``conftest.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from hireflow.adapters.file_store import LocalFileStore
from hireflow.camunda_rest import CamundaRestClient
from hireflow.constants import MESSAGE_VARIABLES
from hireflow.engine.embedded import free_port
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
from hireflow.store import BusinessRecord, Candidate, Database, utcnow
from job_workers.services import Services
from tests.web_helpers import ADMIN_TOKEN, WEBHOOK_SECRET
from webapp import create_app

MAX_UPLOAD = 200_000


def empty_services(folder: Path, store_url: str | None = None) -> Services:
    """A new store (SQLite in ``folder``, or at ``store_url``) and file folder, with slot links."""
    db = Database(store_url or f"sqlite:///{folder / 'domain.sqlite3'}")
    db.create_schema()
    return Services(
        files=LocalFileStore(folder / "files"),
        db=db,
        slot_links=SlotLinks("offline-test-slot-secret", "http://127.0.0.1:5000/interviews/slot"),
        card_links=CardLinks("offline-test-slot-secret", "http://127.0.0.1:5000/unlocks/card"),
        payment_links=PaymentLinks("offline-test-slot-secret", "http://127.0.0.1:5000/unlocks/payment"),
        contact_links=ContactLinks("offline-test-slot-secret", "http://127.0.0.1:5000/unlocks/contact"),
        unlock_links=UnlockLinks("offline-test-slot-secret", "http://127.0.0.1:5000/applications/unlock"),
        withdrawal_links=WithdrawalLinks(
            "offline-test-slot-secret", "http://127.0.0.1:5000/applications/withdrawal"
        ),
        reschedule_links=RescheduleLinks(
            "offline-test-slot-secret", "http://127.0.0.1:5000/interviews/reschedule"
        ),
        other_times_links=OtherTimesLinks(
            "offline-test-slot-secret", "http://127.0.0.1:5000/interviews/other-times"
        ),
    )


def offline_app(services: Services, **config):
    """An app on ``services`` whose engine is unreachable; ``config`` overrides settings."""
    return create_app(
        {
            "TESTING": True,
            "ENGINE_REST_URL": f"http://127.0.0.1:{free_port()}",
            "ENGINE_TIMEOUT_SECONDS": 2.0,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MAX_UPLOAD_BYTES": MAX_UPLOAD,
            "MAIL_CAPTURE_URL": "",
            **config,
        },
        services=services,
    )


@pytest.fixture
def offline(tmp_path: Path):
    """An app whose engine is unreachable, with its own empty store and file folder."""
    services = empty_services(tmp_path)
    return offline_app(services), services, tmp_path / "files"


def send_to_capture(
    capture_url: str, api_key: str, subject: str, text: str, attachments: list[dict] | None = None
) -> None:
    """Send one mail to ada@example.com through a local mail capture, as SendGrid's API takes it."""
    mail = {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "no-reply@hireflow.example"},
        "subject": subject,
        "content": [{"type": "text/plain", "value": text}],
    }
    if attachments:
        mail["attachments"] = attachments
    requests.post(
        f"{capture_url}/v3/mail/send",
        headers={"Authorization": f"Bearer {api_key}"},
        json=mail,
        timeout=5,
    ).raise_for_status()


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def rows(services: Services, table) -> int:
    with services.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def add_first_status(services: Services, kind: str, business_id: str, status: str) -> None:
    """The record the webapp writes when it starts instance 7 for an item."""
    with services.db.sessions.begin() as session:
        session.add(
            BusinessRecord(
                kind=kind,
                business_id=business_id,
                status=status,
                details={"process_instance_key": "7"},
                updated_at=utcnow(),
            )
        )


def listed(page: str) -> list[str]:
    """The item ids a page's table lists, in order."""
    return re.findall(r'<td><a href="/items/\w+/([^"]+)">', page)


class StartsInstancesInState(CamundaRestClient):
    """A client that starts instances at once, every one of them in ``state``, at ``active`` elements."""

    def __init__(self, state: str, active: list[dict] | None = None, has_incident: bool = False):
        super().__init__("http://127.0.0.1:9")
        self.state = state
        self.active = active or []
        self.has_incident = has_incident
        self.started: list[str] = []  # the process ids started

    def create_process_instance(self, process_id, variables=None, *, business_id=None):
        self.started.append(process_id)
        return {"processInstanceKey": str(1000 + len(self.started))}

    def get_process_instance(self, key):
        return {"processInstanceKey": str(key), "state": self.state, "hasIncident": self.has_incident}

    def search_element_instances(self, **filter_):
        return [{**e, "processInstanceKey": filter_["processInstanceKey"]} for e in self.active]

    def search_incidents(self, **filter_):
        return []

    def search_jobs(self, **filter_):
        return []


class RecordsMessages(StartsInstancesInState):
    """Every instance ACTIVE; keeps the messages published, as (name, correlation key)."""

    def __init__(self):
        super().__init__("ACTIVE")
        self.published: list[tuple[str, str]] = []

    def publish_message(self, name, correlation_key, *, message_id=None, variables=None, ttl_ms=60_000):
        # What a message carries must be declared: the model check keeps each catch event with
        # output mappings mapping it, or the engine drops it there.
        undeclared = set(variables or {}) - set(MESSAGE_VARIABLES.get(name, ()))
        assert not undeclared, f"{name} is published with {sorted(undeclared)}: add to MESSAGE_VARIABLES"
        self.published.append((name, correlation_key))
        return {"messageKey": str(len(self.published))}


class RecordsVariables(RecordsMessages):
    """Starts ACTIVE instances and keeps the variables each start gave (and the messages published)."""

    def __init__(self):
        super().__init__()
        self.variables: list[dict] = []

    def create_process_instance(self, process_id, variables=None, *, business_id=None):
        self.variables.append(variables)
        return super().create_process_instance(process_id, variables, business_id=business_id)


@pytest.fixture
def recording(tmp_path):
    """The console's app on an engine that keeps the messages published: (client, engine, services)."""
    services = empty_services(tmp_path)
    engine = RecordsMessages()
    app = create_app({"TESTING": True, "CONSOLE": True}, engine_client=engine, services=services)
    return app.test_client(), engine, services


def indexed_candidate(candidate_id: str, **contact) -> Candidate:
    """A candidate whose resume was processed; ``contact``: the name and email it gave."""
    return Candidate(
        candidate_id=candidate_id,
        resume_id=f"res_{candidate_id}",
        skills=["python"],
        indexed_at=utcnow(),
        **contact,
    )


def refused_field(response) -> tuple[int, str]:
    """The status of a refused request and the first field its problem names."""
    return response.status_code, response.json["invalid_params"][0]["name"]


def recording_app_with(services: Services, *rows) -> tuple:
    """(client, engine) of an app on ``services`` with ``rows`` stored; the engine keeps each start."""
    engine = RecordsVariables()
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add_all(rows)
    return app.test_client(), engine
