"""Items of an engine that is gone: ended, given back what they held, and asked for again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from hireflow.adapters.calendar import Slot, StoreCalendar
from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.camunda_rest import CamundaRestClient
from hireflow.credits import CreditsLedger
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.store import BusinessRecord, Candidate, ContactAccess, utcnow
from job_workers.records import record_details, record_status
from job_workers.services import Services
from tests.offline_webapp import StartsInstancesInState, add_first_status, empty_services
from tests.resume_samples import pdf_resume
from tests.web_helpers import resume_upload
from webapp import create_app
from webapp.domain import (
    EARLIER_ENGINE_LOST_REASON,
    ENGINE_LOST_REASON,
    EndedItem,
    close_items_of_a_lost_engine,
)


@pytest.mark.parametrize(("state", "second_is_new"), [("TERMINATED", True), ("ACTIVE", False)])
def test_an_unlock_whose_instance_ended_without_an_outcome_can_be_asked_for_again(
    tmp_path, state, second_is_new
):
    # e.g. an operator cancelled the instance in Operate: nothing was recorded, nothing granted
    services = empty_services(tmp_path)
    engine = StartsInstancesInState(state)
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    body = {
        "employer_id": "emp-1",
        "employer_email": "hr@emp.example",
        "candidate_id": "ada",
        "payment_method_ref": "pm_card_visa",
    }
    web = app.test_client()

    first = web.post("/api/unlocks", json=body)
    second = web.post("/api/unlocks", json=body)

    assert first.status_code == 202
    assert (second.status_code, second.json["id"] != first.json["id"]) == (
        (202, True) if second_is_new else (200, False)
    )
    assert len(engine.started) == (2 if second_is_new else 1)


def test_items_left_running_by_a_lost_embedded_engine_end_and_can_be_asked_for_again(tmp_path):
    # make run's embedded engine on a new log (var/engine deleted) starts with no instances.
    services = empty_services(tmp_path)
    engine = StartsInstancesInState("ACTIVE")
    app = create_app({"TESTING": True}, engine_client=engine, services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    body = {
        "employer_id": "emp-1",
        "employer_email": "hr@emp.example",
        "candidate_id": "ada",
        "payment_method_ref": "pm_card_visa",
    }
    web = app.test_client()
    first = web.post("/api/unlocks", json=body).json
    record_status(services.db, "application", "app_done", "shortlisted")
    record_status(services.db, "interview", "int_booked", "scheduled")

    assert len(close_items_of_a_lost_engine(services.db)) == 2
    assert close_items_of_a_lost_engine(services.db) == []  # a second start finds nothing to do

    ended = web.get(f"/api/unlocks/{first['id']}").json
    assert (ended["status"], ended["final"]) == ("ended", True)
    assert ended["details"]["ended_because"] == ENGINE_LOST_REASON
    assert web.get("/api/applications/app_done").json["status"] == "shortlisted"
    assert web.get("/api/interviews/int_booked").json["status"] == "ended"
    again = web.post("/api/unlocks", json=body)
    assert again.status_code == 202 and again.json["id"] != first["id"]


def test_items_of_a_lost_embedded_engine_give_back_the_panel_time_and_credits_they_held(tmp_path):
    # Their processes would have freed them on a cancellation; a lost instance never will.
    services = empty_services(tmp_path)
    calendar, ledger = StoreCalendar(services.db), CreditsLedger(services.db)
    interview_slot = Slot(datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 11, 0))  # a Monday
    calendar.book("int_lost", ["iv-ada", "iv-bob"], interview_slot)
    record_status(services.db, "interview", "int_lost", "scheduled")
    ledger.top_up("emp-1", 10, "purchase-1")
    ledger.spend("emp-1", "unl_lost", 3)
    record_status(services.db, "unlock", "unl_lost", "requested")
    record_status(services.db, "unlock", "unl_by_card", "requested")

    visited = close_items_of_a_lost_engine(services.db, calendar)

    assert {(item.business_id, item.newly_ended, tuple(item.given_back.items())) for item in visited} == {
        ("int_lost", True, (("booking_released", True),)),
        ("unl_lost", True, (("credits_returned", 3),)),
        ("unl_by_card", True, ()),
    }
    assert calendar.booking("int_lost").status == "cancelled"
    assert calendar.free_slots(["iv-ada", "iv-bob"], interview_slot, timedelta(hours=1)) == [interview_slot]
    assert ledger.balance("emp-1") == 10
    with services.db.sessions() as session:
        details = session.get(BusinessRecord, ("unlock", "unl_lost")).details
    assert details == {"ended_because": ENGINE_LOST_REASON, "given_back": {"credits_returned": 3}}
    assert close_items_of_a_lost_engine(services.db, calendar) == []
    assert ledger.balance("emp-1") == 10  # returned once


def test_unlocks_of_a_lost_engine_give_back_their_card_charges_through_the_provider(tmp_path, serve):
    # The store does not know a card charge; the provider's search finds it by the unlock.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_lost"))
    gateway = StripeStylePaymentGateway(sandbox.url, "sk_test_lost")
    charged = gateway.charge(unlock_id="unl_paid", amount=3000, currency="eur", payment_method="pm_card_visa")
    pending = gateway.charge(
        unlock_id="unl_pending", amount=3000, currency="eur", payment_method="pm_card_async"
    )
    # One the employer's bank asks them to approve: cancelled, so a late approval takes nothing.
    to_approve = gateway.charge(
        unlock_id="unl_to_approve",
        amount=3000,
        currency="eur",
        payment_method="pm_card_authenticationRequired",
    )
    assert (charged.status, pending.status, to_approve.status) == (
        "succeeded",
        "processing",
        "requires_authentication",
    )
    for unlock_id in ("unl_paid", "unl_pending", "unl_to_approve", "unl_unpaid"):
        record_status(services.db, "unlock", unlock_id, "requested")
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5)  # the search has caught up

    visited = {
        item.business_id: item.given_back
        for item in close_items_of_a_lost_engine(services.db, payments=gateway)
    }

    assert visited == {
        "unl_paid": {"card_refunded_cents": 3000},
        "unl_pending": {"card_payments_cancelled": 1},
        "unl_to_approve": {"card_payments_cancelled": 1},
        "unl_unpaid": {},
    }
    ledger = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()
    assert [(r["payment_intent"], r["amount"]) for r in ledger["refunds"]] == [(charged.id, 3000)]
    statuses = {p["id"]: p["status"] for p in ledger["payment_intents"]}
    assert statuses[pending.id] == statuses[to_approve.id] == "canceled"


def test_a_card_charge_the_providers_search_has_not_caught_up_with_is_given_back_by_its_recorded_id(
    tmp_path, serve
):
    # The search lags a minute behind the provider's writes: an engine lost right after a
    # charge left it unrefunded, though the charge worker knew its id.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_lost"))
    gateway = StripeStylePaymentGateway(sandbox.url, "sk_test_lost")
    charged = gateway.charge(unlock_id="unl_new", amount=3000, currency="eur", payment_method="pm_card_visa")
    assert gateway.charges_of("unl_new") == []  # not searchable yet
    record_status(services.db, "unlock", "unl_new", "requested")
    record_details(
        services.db,
        "unlock",
        "unl_new",
        "requested",
        card_charged={"payment_id": charged.id, "amount_cents": 3000, "currency": "eur"},
    )

    [item] = close_items_of_a_lost_engine(services.db, payments=gateway)

    assert item.given_back == {"card_refunded_cents": 3000}
    ledger = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()
    assert [(r["payment_intent"], r["amount"]) for r in ledger["refunds"]] == [(charged.id, 3000)]
    # Found both ways once the search has caught up, it is still one charge, refunded once.
    requests.post(f"{sandbox.url}/_sandbox/idempotency-keys/expire", timeout=5)
    assert [c.id for c in gateway.charges_of("unl_new", [charged.id])] == [charged.id]


def test_a_lost_engines_unlock_whose_provider_cannot_answer_names_its_card_for_the_operator(tmp_path):
    services = empty_services(tmp_path)
    record_status(services.db, "unlock", "unl_1", "requested")
    nowhere = StripeStylePaymentGateway("http://127.0.0.1:9", "sk", attempts=1)

    [item] = close_items_of_a_lost_engine(services.db, payments=nowhere)

    assert item.given_back["card_charges"].startswith("not given back (no answer in 1 quick tries")
    with services.db.sessions() as session:
        assert session.get(BusinessRecord, ("unlock", "unl_1")).status == "ended"


def test_interviews_a_sweep_ended_before_it_gave_back_release_their_booking_once(tmp_path):
    # Before 2026-12-01 the sweep ended items and gave nothing back: make run's own store
    # held four "ended" interviews whose bookings still blocked the panel.
    services = empty_services(tmp_path)
    calendar = StoreCalendar(services.db)
    calendar.book("int_old", ["iv-ada"], Slot(datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 11, 0)))
    before = {"ended_because": EARLIER_ENGINE_LOST_REASON}
    record_status(services.db, "interview", "int_old", "ended", before)
    record_status(services.db, "interview", "int_by_operator", "ended")  # cancelled in Operate: not ours

    visited = close_items_of_a_lost_engine(services.db, calendar)

    assert visited == [EndedItem("interview", "int_old", {"booking_released": True}, newly_ended=False)]
    assert calendar.booking("int_old").status == "cancelled"
    with services.db.sessions() as session:
        assert session.get(BusinessRecord, ("interview", "int_old")).status == "ended"
    assert close_items_of_a_lost_engine(services.db, calendar) == []


OLDER_UNLOCK = {
    "employer_id": "emp-1",
    "employer_email": "hr@emp.example",
    "candidate_id": "ada",
    "payment_method_ref": "pm_card_visa",
}


def unlock_granted_by_an_older_release(tmp_path) -> tuple:
    """(client, services, unlock id) of an unlock granted before the grant recorded its status.

    Before 2026-12-01 the store said "requested" and only the access row said unlocked.
    """
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services)
    with services.db.sessions.begin() as session:
        session.add(Candidate(candidate_id="ada", resume_id="res_1", skills=["python"], indexed_at=utcnow()))
    web = app.test_client()
    unlock_id = web.post("/api/unlocks", json=OLDER_UNLOCK).json["id"]
    with services.db.sessions.begin() as session:
        session.add(
            ContactAccess(employer_id="emp-1", candidate_id="ada", unlock_id=unlock_id, granted_at=utcnow())
        )
    return web, services, unlock_id


def test_an_unlock_granted_before_the_engine_was_lost_stays_unlocked_and_is_not_bought_again(tmp_path):
    # The sweep took it for a running item, so the next ask started (and charged) a
    # second unlock for access the employer already had.
    web, services, unlock_id = unlock_granted_by_an_older_release(tmp_path)

    assert close_items_of_a_lost_engine(services.db) == []

    assert web.get(f"/api/unlocks/{unlock_id}").json["status"] == "unlocked"
    again = web.post("/api/unlocks", json=OLDER_UNLOCK)
    assert again.status_code == 200 and again.json["id"] == unlock_id


def test_an_unlock_granted_before_the_grant_recorded_it_stays_unlocked_after_an_erasure(tmp_path):
    # Its status was read from the access row, which the candidate's erasure deletes.
    web, _, unlock_id = unlock_granted_by_an_older_release(tmp_path)

    erased = web.delete("/api/candidates/ada")

    assert erased.status_code == 200 and erased.json["erased"]["contactAccess"] == 1
    after = web.get(f"/api/unlocks/{unlock_id}").json
    assert (after["status"], after["contact"]) == ("unlocked", None)


def test_a_resume_whose_instance_ended_without_an_outcome_is_read_again_when_uploaded_again(tmp_path):
    services = empty_services(tmp_path)
    app = create_app({"TESTING": True}, engine_client=StartsInstancesInState("ACTIVE"), services=services)
    web = app.test_client()
    resume = pdf_resume(pages=1)
    first = web.post("/api/resumes", **resume_upload(resume)).json
    assert web.post("/api/resumes", **resume_upload(resume)).json["id"] == first["id"]  # still running

    close_items_of_a_lost_engine(services.db)
    again = web.post("/api/resumes", **resume_upload(resume))

    assert again.status_code == 202 and again.json["id"] != first["id"]
    assert web.get(f"/api/resumes/{again.json['id']}").json["details"]["attempt"] == 2


class EndsRightAfterTheOutcome(CamundaRestClient):
    """The worker records "processed" and the instance completes between the webapp's reads.

    This is the order a fast instance gives: the webapp read "received", then the last
    step wrote its outcome and completed, then the webapp asked the engine.
    """

    def __init__(self, base_url: str, services: Services):
        super().__init__(base_url)
        self.services = services

    def get_process_instance(self, key):
        record_status(self.services.db, "resume", "res_1", "processed")
        return {"processInstanceKey": str(key), "state": "COMPLETED"}


def test_an_outcome_recorded_just_before_the_instance_ended_is_shown_not_ended(tmp_path):
    services = empty_services(tmp_path)
    client = EndsRightAfterTheOutcome("http://127.0.0.1:9", services)
    app = create_app({"TESTING": True}, engine_client=client, services=services)
    add_first_status(services, "resume", "res_1", "received")
    status = app.test_client().get("/api/resumes/res_1").json
    assert (status["status"], status["final"]) == ("processed", True)
