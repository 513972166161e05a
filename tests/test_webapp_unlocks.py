"""Unlocks through the webapp: what they take from the file, cards, payment approvals and
the contacts an employer's unlocks opened."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlparse

import requests

from hireflow.adapters.payments import StripeStylePaymentGateway
from hireflow.constants import Message
from hireflow.sandboxes.payments import create_payment_sandbox
from hireflow.seed import load_demo_data
from hireflow.signed_links import CardLinks, ContactLinks, PaymentLinks, UnlockLinks
from hireflow.store import Candidate, ContactAccess, Employer, Interviewer, JobPosting
from job_workers.records import record_details, record_status
from tests.offline_webapp import (
    RecordsMessages,
    empty_services,
    indexed_candidate,
    offline_app,
    recording_app_with,
    refused_field,
)
from tests.offline_webapp import (
    listed as listed_ids,
)
from tests.web_helpers import WEBHOOK_SECRET, csrf_token, signed_webhook
from webapp import create_app


def cards_at_the_provider(sandbox) -> dict[str, dict]:
    """The sandbox's saved cards: each one's labels (metadata) by its id."""
    methods = requests.get(f"{sandbox.url}/_sandbox/ledger", timeout=5).json()["payment_methods"]
    return {m["id"]: m["metadata"] for m in methods}


def test_a_new_card_is_saved_with_the_provider_for_an_open_unlock_only(recording, serve, tmp_path):
    web, engine, services = recording
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    record_status(services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1"})
    record_status(services.db, "unlock", "unl_done", "unlocked", {"employer_id": "emp-1"})

    saved = web.post("/api/unlocks/unl_open/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert saved.status_code == 202, saved.json
    assert saved.json == {
        "status": "saved",
        "payment_method_ref": "pm_card_visa",
        "on_file": False,  # emp-1 is not on file
        "also_for": [],
    }
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [(e["type"], e["payload"]["data"]["object"]["customer"]) for e in events] == [
        ("payment_method.attached", "emp-1")
    ]
    assert cards_at_the_provider(sandbox) == {"pm_card_visa": {"unlock_id": "unl_open"}}
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_open")]

    closed = web.post("/api/unlocks/unl_done/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert closed.status_code == 409 and "unlocked" in closed.json["detail"]
    unknown = web.post("/api/unlocks/unl_nope/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert unknown.status_code == 404
    bad = web.post("/api/unlocks/unl_open/payment-method", json={"payment_method_ref": "4242424242424242"})
    assert bad.status_code == 400
    assert bad.json["invalid_params"][0]["name"] == "payment_method_ref"
    # A card already saved for another employer: the provider refuses, the field is named.
    record_status(services.db, "unlock", "unl_mine", "requested", {"employer_id": "emp-1"})
    record_status(services.db, "unlock", "unl_other", "requested", {"employer_id": "emp-2"})
    mine = web.post("/api/unlocks/unl_mine/payment-method", json={"payment_method_ref": "pm_1Emp1Visa"})
    assert mine.status_code == 202
    taken = web.post("/api/unlocks/unl_other/payment-method", json={"payment_method_ref": "pm_1Emp1Visa"})
    assert taken.status_code == 422
    assert taken.json["invalid_params"][0]["name"] == "payment_method_ref"
    # The provider's words, not hireflow's request to it.
    assert taken.json["invalid_params"][0]["reason"] == (
        "the payment provider refused it: The payment method pm_1Emp1Visa is attached to another customer"
    )
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2  # no third
    # An unlock with no employer on record: the card is tied to nobody else in its place.
    record_status(services.db, "unlock", "unl_nobody", "requested", {})
    nobody = web.post("/api/unlocks/unl_nobody/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert nobody.status_code == 409 and "no employer" in nobody.json["detail"]
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2


def test_an_unlock_charges_and_saves_cards_with_the_employers_customer_at_the_provider(serve, tmp_path):
    # Stripe charges a saved card only together with the customer it is attached to.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    acme = Employer(
        employer_id="acme",
        name="Acme",
        email="hr@acme.example",
        payment_method_ref="pm_card_visa",
        payment_customer_ref="cus_Acme1",
    )
    web, engine = recording_app_with(services, indexed_candidate("ada"), acme)
    body = {"employer_email": "hr@example.com", "candidate_id": "ada", "payment_method_ref": "pm_card_visa"}

    on_file = web.post("/api/unlocks", json={**body, "employer_id": "acme"})
    named = web.post("/api/unlocks", json={**body, "employer_id": "globex", "payment_customer_ref": "cus_G7"})
    unknown = web.post("/api/unlocks", json={**body, "employer_id": "initech"})

    assert [v["payment_customer_ref"] for v in engine.variables] == ["cus_Acme1", "cus_G7", "initech"]
    assert (
        web.post(
            f"/api/unlocks/{on_file.json['id']}/payment-method", json={"payment_method_ref": "pm_1AcmeAmex"}
        ).status_code
        == 202
    )
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["payload"]["data"]["object"]["customer"] for e in events] == ["cus_Acme1"]
    assert (named.status_code, unknown.status_code) == (202, 202)
    bad = web.post("/api/unlocks", json={**body, "employer_id": "x", "payment_customer_ref": "cus 1"})
    assert bad.status_code == 400 and bad.json["invalid_params"][0]["name"] == "payment_customer_ref"


def with_payment_sandbox(serve, tmp_path):
    """Offline services whose payment provider is a live payment sandbox."""
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    return services


def initech_with_a_declined_card() -> Employer:
    return Employer(
        employer_id="initech",
        name="Initech",
        email="jobs@initech.example",
        payment_method_ref="pm_card_chargeDeclined",
        payment_customer_ref="cus_Initech1",
    )


def card_on_file(services, employer_id: str) -> str:
    with services.db.sessions() as session:
        return session.get(Employer, employer_id).payment_method_ref


def test_a_card_saved_for_an_unlock_is_the_employers_card_for_the_next_one(serve, tmp_path):
    # The employer was once asked to update their card after each unlock: the declined card
    # stayed on file, and was charged (and declined) again the next time.
    services = with_payment_sandbox(serve, tmp_path)
    initech = initech_with_a_declined_card()
    web, engine = recording_app_with(services, indexed_candidate("ada"), indexed_candidate("bob"), initech)
    ada = {"employer_id": "initech", "candidate_id": "ada"}
    first = web.post("/api/unlocks", json=ada)
    assert engine.variables[0]["payment_method_ref"] == "pm_card_chargeDeclined"

    saved = web.post(
        f"/api/unlocks/{first.json['id']}/payment-method", json={"payment_method_ref": "pm_1NewVisa"}
    )
    assert saved.status_code == 202, saved.json
    assert card_on_file(services, "initech") == "pm_1NewVisa"
    web.post("/api/unlocks", json={"employer_id": "initech", "candidate_id": "bob"})
    assert engine.variables[1]["payment_method_ref"] == "pm_1NewVisa"
    # The first request repeated is still a repeat, though the card it would take from the
    # file is another now; a request naming another card is not.
    again = web.post("/api/unlocks", json=ada)
    assert (again.status_code, again.json["id"], again.json["created"]) == (200, first.json["id"], False)
    other = web.post("/api/unlocks", json={**ada, "payment_method_ref": "pm_card_visa"})
    assert other.status_code == 409
    assert len(engine.variables) == 2

    # A card saved for an unlock of another of the provider's customers (the request named
    # it) stays with that unlock: at the employer's next charge the provider would refuse it.
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("cy"))
    elsewhere = web.post(
        "/api/unlocks",
        json={"employer_id": "initech", "candidate_id": "cy", "payment_customer_ref": "cus_Other"},
    )
    link = f"/unlocks/card/{services.card_links.token_for(elsewhere.json['id'])}"
    form = {"csrf_token": csrf_token(web.get(link).text), "payment_method_ref": "pm_1Cy"}
    kept_apart = web.post(link, data=form)
    assert 'data-testid="card-saved"' in kept_apart.text
    assert "Your next unlocks are charged to this card too" not in kept_apart.text
    assert card_on_file(services, "initech") == "pm_1NewVisa"
    # The page tells the employer when the card is theirs on file now.
    bob = next(v["unlock_id"] for v in engine.variables if v["candidate_id"] == "bob")
    link = f"/unlocks/card/{services.card_links.token_for(bob)}"
    form = {"csrf_token": csrf_token(web.get(link).text), "payment_method_ref": "pm_1Newer"}
    assert "Your next unlocks are charged to this card too" in web.post(link, data=form).text
    assert card_on_file(services, "initech") == "pm_1Newer"


def test_a_card_saved_for_one_declined_unlock_is_charged_for_the_others_waiting(serve, tmp_path):
    # An employer who unlocked five candidates with an expired card got five emails, and had
    # to save the same new card five times.
    services = with_payment_sandbox(serve, tmp_path)
    initech = initech_with_a_declined_card()
    globex = Employer(
        employer_id="globex", name="Globex", email="hr@globex.example", payment_method_ref="pm_1G"
    )
    candidates = [indexed_candidate(name) for name in ("ada", "bob", "cy", "dee", "eve")]
    web, engine = recording_app_with(services, *candidates, initech, globex)
    employers = {"ada": "initech", "bob": "initech", "cy": "initech", "dee": "globex", "eve": "initech"}
    ids, instances = {}, {}
    for candidate, employer in employers.items():
        started = web.post("/api/unlocks", json={"employer_id": employer, "candidate_id": candidate})
        ids[candidate], instances[candidate] = started.json["id"], started.json["processInstanceKey"]
    declined = {"card": "pm_card_chargeDeclined", "decline_code": "expired_card", "charge": "1"}
    for unlock_id in ids.values():
        record_details(services.db, "unlock", unlock_id, "requested", card_declined=declined)
    # Bob's and Dee's (another employer's) unlocks wait for a new card; Cy's is being charged;
    # where Eve's is, the engine cannot say just now.
    waiting = {instances["bob"], instances["dee"]}

    def where(**filter_):
        if filter_["processInstanceKey"] == instances["eve"]:
            raise requests.ConnectionError("the engine did not answer")
        if filter_["processInstanceKey"] in waiting and filter_["elementId"] == "AwaitNewCard":
            return [{"elementId": "AwaitNewCard", "type": "RECEIVE_TASK", "state": "ACTIVE"}]
        return []

    engine.search_element_instances = where
    card = {"payment_method_ref": "pm_1InitechNew"}
    saved = web.post(f"/api/unlocks/{ids['ada']}/payment-method", json=card)

    assert saved.status_code == 202, saved.json
    assert (saved.json["on_file"], saved.json["also_for"]) == (True, [ids["bob"]])
    assert engine.published == [
        (Message.PAYMENT_METHOD_UPDATED, ids["ada"]),
        (Message.PAYMENT_METHOD_UPDATED, ids["bob"]),
    ]
    # Saved again, or from Bob's own link, the card is published no more.
    web.post(f"/api/unlocks/{ids['ada']}/payment-method", json=card)
    assert web.post(f"/api/unlocks/{ids['bob']}/payment-method", json=card).status_code == 202
    assert len(engine.published) == 2
    # The page says which unlocks the card pays for too.
    waiting.add(instances["cy"])
    link = f"/unlocks/card/{services.card_links.token_for(ids['ada'])}"
    form = {"csrf_token": csrf_token(web.get(link).text), "payment_method_ref": "pm_1InitechNewer"}
    also_for = web.post(link, data=form).text.split('data-testid="card-also-for"')[1].split("</p>")[0]
    assert sorted(re.findall(r"<code>([^<]+)</code>", also_for)) == sorted([ids["bob"], ids["cy"]])


class GivesTestCardsIdsOfTheirOwn:
    """A provider that, as Stripe does, saves a test card (pm_card_visa) under a new id."""

    def save_card(self, *, unlock_id, customer, payment_method, after_charge=None):
        return "pm_1GivenByTheProvider"


def test_the_card_saved_is_answered_by_the_id_the_provider_gave_it(recording):
    web, engine, services = recording
    services.payments = GivesTestCardsIdsOfTheirOwn()
    record_status(services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1"})
    saved = web.post("/api/unlocks/unl_1/payment-method", json={"payment_method_ref": "pm_card_visa"})
    assert (saved.status_code, saved.json["payment_method_ref"]) == (202, "pm_1GivenByTheProvider")


def test_a_repeat_is_a_repeat_though_what_it_left_to_the_file_changed_since(tmp_path):
    # Starts were matched by all their variables: a candidate's newer resume (their years of
    # experience, their contact) made an employer's or candidate's repeat a 409.
    services = empty_services(tmp_path)
    acme = Employer(
        employer_id="acme", name="Acme", email="hr@acme.example", payment_method_ref="pm_card_visa"
    )
    posting = JobPosting(
        posting_id="p1",
        employer_id="acme",
        title="Engineer",
        required_skills=["python"],
        recruiter_team_email="recruiters@acme.example",
    )
    ada = indexed_candidate("ada", name="Ada", email="ada@example.com")
    ivy = Interviewer(username="ivy", name="Ivy", email="ivy@acme.example")
    web, engine = recording_app_with(services, ada, acme, posting, ivy)
    unlock = web.post("/api/unlocks", json={"employer_id": "acme", "candidate_id": "ada"})
    application = web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p1"})
    interview = {"application_id": application.json["id"], "panel": [{"username": "ivy"}]}
    scheduled = web.post("/api/interviews", json=interview)
    assert (unlock.status_code, application.status_code, scheduled.status_code) == (202, 202, 202)

    with services.db.sessions.begin() as session:  # her newer resume; new addresses at Acme
        candidate = session.get(Candidate, "ada")
        candidate.years_of_experience, candidate.email = 9, "ada@new.example"
        session.get(Employer, "acme").email = "talent@acme.example"
        session.get(Interviewer, "ivy").email = "ivy@new.example"
    assert web.post("/api/unlocks", json={"employer_id": "acme", "candidate_id": "ada"}).status_code == 200
    assert web.post("/api/applications", json={"candidate_id": "ada", "posting_id": "p1"}).status_code == 200
    assert web.post("/api/interviews", json=interview).status_code == 200
    assert len(engine.variables) == 3


def test_an_unlock_for_an_employer_on_file_takes_what_it_leaves_out_from_the_file(tmp_path):
    # The API once defaulted to the sandbox's test card pm_card_visa and the standard plan,
    # whatever the employer had on file: a live provider refuses such a card.
    services = empty_services(tmp_path)
    initech = Employer(
        employer_id="initech",
        name="Initech",
        email="jobs@initech.example",
        plan="premium",
        payment_method_ref="pm_1InitechCard",
    )
    web, engine = recording_app_with(services, indexed_candidate("ada"), initech)

    on_file = web.post("/api/unlocks", json={"employer_id": "initech", "candidate_id": "ada"})
    not_on_file = web.post("/api/unlocks", json={"employer_id": "umbrella", "candidate_id": "ada"})
    no_card = web.post(
        "/api/unlocks",
        json={"employer_id": "umbrella", "employer_email": "hr@umbrella.example", "candidate_id": "ada"},
    )

    assert on_file.status_code == 202, on_file.json
    started = engine.variables[0]
    assert (started["employer_email"], started["employer_plan"], started["payment_method_ref"]) == (
        "jobs@initech.example",
        "premium",
        "pm_1InitechCard",
    )
    assert refused_field(not_on_file) == (400, "employer_email")
    assert "umbrella is not on file" in not_on_file.json["detail"]
    assert refused_field(no_card) == (400, "payment_method_ref")
    assert len(engine.variables) == 1  # nothing started for the refused requests

    # What a request gives wins over the file.
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("bob"))
    given = {
        "employer_plan": "standard",
        "payment_method_ref": "pm_card_visa",
        "employer_email": "cfo@initech.example",
    }
    own = web.post("/api/unlocks", json={"employer_id": "initech", "candidate_id": "bob", **given})
    assert own.status_code == 202
    assert {name: engine.variables[1][name] for name in given} == given
    # The same unlock asked for with another card is not a repeat: refused, naming the unlock.
    other_card = web.post(
        "/api/unlocks",
        json={"employer_id": "initech", "candidate_id": "ada", "payment_method_ref": "pm_1Other"},
    )
    assert other_card.status_code == 409
    assert f"{on_file.json['id']} was asked for before with other details" in other_card.json["detail"]
    # Where the first one is, as the business key comes from the fields and cannot be changed.
    assert f"/api/unlocks/{on_file.json['id']} says how that one went" in other_card.json["detail"]
    assert "business key of its own" not in other_card.json["detail"]


def test_a_card_is_published_once_per_save_and_again_after_another_decline(serve, tmp_path):
    # The same card saved again after another decline is a new try: it once waited for a
    # webhook that the provider, replaying the first save's attach, never sent. A repeat of
    # one save is not new, and the provider's attach event is not waited for at all.
    services = empty_services(tmp_path)
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    first_decline = {"card": "pm_1Emp1Old", "decline_code": "insufficient_funds", "charge": "1"}
    record_status(
        services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1", "card_declined": first_decline}
    )
    card = {"payment_method_ref": "pm_1Emp1Visa"}

    # The engine is down: the card is saved, and the employer asked to come back.
    down = offline_app(services).test_client().post("/api/unlocks/unl_1/payment-method", json=card)
    assert down.status_code == 503 and down.headers["Retry-After"]
    engine = RecordsMessages()
    app = create_app(
        {"TESTING": True, "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET}, engine_client=engine, services=services
    )
    web = app.test_client()
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202  # a repeat
    [attached] = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    webhook = web.post("/webhooks/payments", **signed_webhook(attached["payload"]))
    assert (webhook.status_code, webhook.json["status"]) == (200, "ignored")
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_1")]
    assert cards_at_the_provider(sandbox)["pm_1Emp1Visa"] == {"unlock_id": "unl_1", "after_charge": "1"}

    # Charge 2, with that card, was declined too; the employer tries the same card again.
    second_decline = {**first_decline, "card": "pm_1Emp1Visa", "charge": "2"}
    record_status(
        services.db, "unlock", "unl_1", "requested", {"employer_id": "emp-1", "card_declined": second_decline}
    )
    assert web.post("/api/unlocks/unl_1/payment-method", json=card).status_code == 202
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_1")] * 2
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 2
    assert cards_at_the_provider(sandbox)["pm_1Emp1Visa"] == {"unlock_id": "unl_1", "after_charge": "2"}


def opens_by_its_signature_only(web, page: str, links, item_id: str, other_kind) -> str:
    """Check that the page under ``page`` opens for ``item_id`` by none of: a token altered, a
    token of ``other_kind`` for the same item, one signed with another secret (returned, for
    the caller's POST)."""
    assert web.get(f"{page}/{links.token_for(item_id)[:-2]}xx").status_code == 404
    assert web.get(f"{page}/{other_kind.token_for(item_id)}").status_code == 404
    forged = type(links)("another-secret-of-some-length", "http://x").token_for(item_id)
    assert web.get(f"{page}/{forged}").status_code == 404
    return forged


def test_the_card_page_opens_only_by_its_signed_link(recording, serve, tmp_path):
    web, engine, services = recording
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_cards"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_cards", attempts=1)
    record_status(
        services.db, "unlock", "unl_open", "requested", {"employer_id": "emp-1", "candidate_id": "ada"}
    )
    token = services.card_links.token_for("unl_open")

    # Unlock ids can be guessed: the address made of one is gone, and only a signature opens the page.
    assert web.get("/items/unlock/unl_open/card").status_code == 404
    assert web.get(f"/unlocks/card/{token[:-2]}xx").status_code == 404
    slot_token = services.slot_links.token_for("unl_open", {"start": "2026-12-01T10:00:00Z"})
    assert web.get(f"/unlocks/card/{slot_token}").status_code == 404  # another kind of link
    forged = CardLinks("another-secret-of-some-length", "http://x").token_for("unl_open")
    assert web.get(f"/unlocks/card/{forged}").status_code == 404

    page = web.get(f"/unlocks/card/{token}")
    assert page.status_code == 200 and "Save card" in page.text
    assert re.search(r"candidate\s+<strong>ada</strong>", page.text)  # what the card pays for
    assert "pm_card_visa" not in page.text  # the employer's card, not a test card filled in
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    form = {"csrf_token": csrf_token(page.text), "payment_method_ref": "pm_card_visa"}
    # With a good CSRF token but a forged link, nothing is saved (the events below show one card).
    assert web.post(f"/unlocks/card/{forged}", data=form).status_code == 404
    saved = web.post(f"/unlocks/card/{token}", data=form)
    assert saved.status_code == 200 and 'data-testid="card-saved"' in saved.text
    assert len(requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()) == 1
    assert cards_at_the_provider(sandbox) == {"pm_card_visa": {"unlock_id": "unl_open"}}
    assert engine.published == [(Message.PAYMENT_METHOD_UPDATED, "unl_open")]
    # A refused card shows the form again, with what was typed and why, to try another one.
    empty = web.post(f"/unlocks/card/{token}", data={**form, "payment_method_ref": ""})
    assert empty.status_code == 400 and 'data-testid="card-error"' in empty.text and "Save card" in empty.text
    record_status(services.db, "unlock", "unl_theirs", "requested", {"employer_id": "emp-2"})
    services.payments.save_card(unlock_id="unl_theirs", customer="emp-2", payment_method="pm_1Emp2Visa")
    taken = web.post(f"/unlocks/card/{token}", data={**form, "payment_method_ref": "pm_1Emp2Visa"})
    assert taken.status_code == 422 and "Save card" in taken.text
    error = re.search(r'data-testid="card-error">(.*?)</p>', taken.text).group(1)
    assert re.sub(r"<[^>]+>", "", error) == (
        "Saved card: the payment provider refused it: The payment method pm_1Emp2Visa is attached to "
        "another customer"
    )
    assert 'value="pm_1Emp2Visa"' in taken.text

    # Paid with the card meanwhile: the link, and the form sent again, say the unlock is done.
    record_status(
        services.db, "unlock", "unl_open", "unlocked", {"employer_id": "emp-1", "candidate_id": "ada"}
    )
    done = web.get(f"/unlocks/card/{token}")
    assert done.status_code == 200 and 'data-testid="card-over"' in done.text and "Save card" not in done.text
    assert re.search(r"candidate\s+<strong>ada</strong>'s contact details are yours", done.text)
    assert "The receipt we emailed you links to them." in done.text
    resent = web.post(f"/unlocks/card/{token}", data=form)
    assert resent.status_code == 409 and 'data-testid="card-over"' in resent.text

    services.card_links = CardLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    expired = web.get(f"/unlocks/card/{token}")
    assert expired.status_code == 410 and "expired" in expired.text
    assert expired.mimetype == "text/html"


def test_the_payment_page_opens_only_by_its_signed_link_and_says_what_waits(offline, serve, tmp_path):
    app, services, _ = offline
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_approvals"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_approvals", attempts=1)
    waiting = services.payments.charge(
        unlock_id="unl_3ds", amount=4900, currency="eur", payment_method="pm_card_authenticationRequired"
    )
    charge = {"payment_id": waiting.id, "amount_cents": 4900, "currency": "eur"}
    details = {"employer_id": "emp-1", "candidate_id": "ada", "card_needs_authentication": charge}
    record_status(services.db, "unlock", "unl_3ds", "requested", details)
    record_status(services.db, "unlock", "unl_plain", "requested", {"employer_id": "emp-1"})
    web = app.test_client()
    token = services.payment_links.token_for("unl_3ds")

    card_token = services.card_links.token_for("unl_3ds")
    assert web.get(f"/unlocks/payment/{card_token}").status_code == 404  # another kind of link
    assert web.get(f"/unlocks/payment/{token[:-2]}xx").status_code == 404
    page = web.get(f"/unlocks/payment/{token}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "49.00 EUR" in page.text and re.search(r"candidate\s+<strong>ada</strong>", page.text)
    assert "Approve with my bank" in page.text

    # Approving (a form, so an email scanner following the link approves nothing) leads to
    # the bank by a link: the pages allow forms to post to hireflow only.
    form = {"csrf_token": csrf_token(page.text)}
    assert web.post(f"/unlocks/payment/{token}", data={}).status_code == 400  # no CSRF token
    approving = web.post(f"/unlocks/payment/{token}", data=form)
    assert approving.status_code == 200
    bank_url = re.search(r'href="([^"]+)" data-testid="continue-to-bank"', approving.text).group(1)
    assert bank_url == f"{sandbox.url}/_sandbox/3ds/{waiting.id}"
    answered = requests.post(bank_url, data={"outcome": "complete"}, allow_redirects=False, timeout=5)
    back = urlparse(answered.headers["Location"])
    assert back.path == f"/unlocks/payment/{token}/return"
    returned = web.get(f"{back.path}?{back.query}")
    assert returned.status_code == 200 and 'data-testid="payment-approved"' in returned.text
    # Nothing is published by the page: the provider's webhook tells the process.
    events = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()
    assert [e["type"] for e in events] == ["payment_intent.succeeded"]
    again = web.post(f"/unlocks/payment/{token}", data=form)  # approved already: nothing more to do
    assert again.status_code == 200 and 'data-testid="payment-approved"' in again.text
    refused = web.get(f"/unlocks/payment/{token}/return?redirect_status=failed")
    assert 'data-testid="payment-refused"' in refused.text

    # An unlock with no payment to approve, or over already, says so, and approves nothing.
    plain = services.payment_links.token_for("unl_plain")
    assert 'data-testid="payment-over"' in web.get(f"/unlocks/payment/{plain}").text
    nothing = web.post(f"/unlocks/payment/{plain}", data=form)
    assert nothing.status_code == 409 and "no payment of this unlock waits" in nothing.text
    record_status(services.db, "unlock", "unl_3ds", "cancelled")
    over = web.post(f"/unlocks/payment/{token}", data=form)
    assert over.status_code == 409 and "this unlock is cancelled" in over.text
    record_status(services.db, "unlock", "unl_3ds", "unlocked", {"candidate_id": "ada"})
    paid = web.get(f"/unlocks/payment/{token}").text
    assert 'data-testid="payment-over"' in paid and "This unlock is complete: it is paid" in paid

    services.payment_links = PaymentLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    expired = web.get(f"/unlocks/payment/{token}")
    assert expired.status_code == 410 and expired.mimetype == "text/html"


def test_the_contact_page_opens_only_by_its_signed_link_and_shows_what_the_unlock_opened(offline):
    app, services, _ = offline
    web = app.test_client()
    paid = {"employer_id": "acme", "candidate_id": "ada"}
    record_status(services.db, "unlock", "unl_paid", "unlocked", paid)
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
        session.add(
            ContactAccess(
                employer_id="acme",
                candidate_id="ada",
                unlock_id="unl_paid",
                granted_at=datetime(2026, 12, 2, 9, 30),
            )
        )
    token = services.contact_links.token_for("unl_paid")

    # Unlock ids can be guessed: only the signature of this kind of link opens the page.
    opens_by_its_signature_only(
        web, "/unlocks/contact", services.contact_links, "unl_paid", services.payment_links
    )
    page = web.get(f"/unlocks/contact/{token}")
    assert page.status_code == 200, page.text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    shown = re.search(r'<dl data-testid="contact">(.*?)</dl>', page.text, re.S).group(1)
    assert "<dd>Ada Lovelace</dd>" in shown and 'href="mailto:ada@example.com"' in shown
    assert '<time datetime="2026-12-02T09:30:00Z">' in page.text  # when the unlock opened them
    # The same as the API tells the unlock's employer.
    api = web.get("/api/candidates/ada/contact?employer_id=acme").json
    assert (api["name"], api["email"]) == ("Ada Lovelace", "ada@example.com")

    # An unlock not paid yet, or over unpaid, shows nothing of the candidate.
    record_status(services.db, "unlock", "unl_open", "requested", paid)
    waiting = web.get(f"/unlocks/contact/{services.contact_links.token_for('unl_open')}")
    assert 'data-testid="contact-not-yet"' in waiting.text and "ada@example.com" not in waiting.text
    record_status(services.db, "unlock", "unl_gone", "cancelled", paid)
    cancelled = web.get(f"/unlocks/contact/{services.contact_links.token_for('unl_gone')}")
    assert "This unlock is cancelled; it opened no contact details." in cancelled.text
    assert "ada@example.com" not in cancelled.text

    # The details are read when the link is followed: once the candidate is erased, they are gone.
    record_status(services.db, "unlock", "unl_open", "cancelled")  # erasure waits for open items
    assert web.delete("/api/candidates/ada").status_code == 200
    erased = web.get(f"/unlocks/contact/{token}")
    assert erased.status_code == 200 and 'data-testid="contact-erased"' in erased.text
    assert "ada@example.com" not in erased.text and "Ada Lovelace" not in erased.text

    services.contact_links = ContactLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    expired = web.get(f"/unlocks/contact/{token}")
    assert expired.status_code == 410 and expired.mimetype == "text/html"


def test_the_employers_unlock_link_unlocks_the_applications_candidate_once(recording):
    web, engine, services = recording
    load_demo_data(services.db)  # Acme, with 20 credits, posts the Python engineer job
    with services.db.sessions.begin() as session:
        session.add(indexed_candidate("ada", name="Ada Lovelace", email="ada@example.com"))
    applied = {
        "candidate_id": "ada",
        "posting_id": "demo-python-engineer",
        "posting_title": "Python engineer",
    }
    record_status(services.db, "application", "app_1", "shortlisted", applied)
    token = services.unlock_links.token_for("app_1")

    # Application ids can be guessed: only the signature of this kind of link opens the page.
    forged = opens_by_its_signature_only(
        web, "/applications/unlock", services.unlock_links, "app_1", services.withdrawal_links
    )
    page = web.get(f"/applications/unlock/{token}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert re.search(
        r"<strong>Ada Lovelace</strong> is shortlisted for\s+<strong>Python engineer</strong>", page.text
    )
    assert "(you have 20 credits)" in " ".join(page.text.split()) and 'data-testid="unlock"' in page.text
    assert engine.started == []  # following the link pays nothing

    form = {"csrf_token": csrf_token(page.text)}
    assert web.post(f"/applications/unlock/{token}", data={}).status_code == 400  # no CSRF token
    assert web.post(f"/applications/unlock/{forged}", data=form).status_code == 404
    asked = web.post(f"/applications/unlock/{token}", data=form)
    assert asked.status_code == 200 and 'data-testid="unlock-under-way"' in asked.text
    assert engine.started == ["resume-unlock"]
    [unlock] = [u["unlockId"] for u in web.get("/api/employers/acme/unlocks").json["unlocks"]]
    assert unlock in asked.text
    # Asked again (the form sent twice, or the link followed later), it is the same unlock.
    again = web.post(f"/applications/unlock/{token}", data=form)
    assert 'data-testid="unlock-under-way"' in again.text and engine.started == ["resume-unlock"]

    # Paid: the page links to the contact details, as the receipt does.
    record_status(services.db, "unlock", unlock, "unlocked", {"employer_id": "acme", "candidate_id": "ada"})
    with services.db.sessions.begin() as session:
        session.add(
            ContactAccess(employer_id="acme", candidate_id="ada", unlock_id=unlock, granted_at=datetime.now())
        )
    done = web.get(f"/applications/unlock/{token}")
    contact_url = re.search(r'href="([^"]+)" data-testid="contact-link"', done.text).group(1)
    assert 'href="mailto:ada@example.com"' in web.get(contact_url).text
    # Cancelled unpaid: the link offers a new unlock.
    record_status(services.db, "unlock", unlock, "cancelled")
    assert 'data-testid="unlock"' in web.get(f"/applications/unlock/{token}").text
    # Withdrawn by the candidate meanwhile: the page says so, and the form sent anyway starts nothing.
    record_status(services.db, "application", "app_1", "withdrawn")
    withdrawn = web.get(f"/applications/unlock/{token}")
    assert 'data-testid="unlock-withdrawn"' in withdrawn.text and 'data-testid="unlock"' not in withdrawn.text
    refused = web.post(f"/applications/unlock/{token}", data=form)
    assert refused.status_code == 409 and "withdrew this application" in refused.text
    assert engine.started == ["resume-unlock"]

    # A posting whose employer is not on file: nothing says who pays.
    with services.db.sessions.begin() as session:
        session.add(JobPosting(posting_id="p-x", employer_id="nobody-on-file", title="X", required_skills=[]))
    record_status(
        services.db, "application", "app_x", "shortlisted", {"candidate_id": "ada", "posting_id": "p-x"}
    )
    unknown = web.get(f"/applications/unlock/{services.unlock_links.token_for('app_x')}")
    assert unknown.status_code == 409 and "not on file" in unknown.text and unknown.mimetype == "text/html"
    # An erased candidate leaves nothing to unlock.
    record_status(services.db, "unlock", unlock, "unlocked")
    assert web.delete("/api/candidates/ada").status_code == 200
    gone = web.get(f"/applications/unlock/{token}")
    assert gone.status_code == 410 and "nothing to unlock" in gone.text
    services.unlock_links = UnlockLinks("offline-test-slot-secret", "http://x", max_age_seconds=-1)
    assert web.get(f"/applications/unlock/{token}").status_code == 410


def test_a_marketplace_frontend_starts_a_payment_approval_through_the_api(offline, serve, tmp_path):
    app, services, _ = offline
    sandbox = serve(create_payment_sandbox(tmp_path / "payments.sqlite3", "sk_test_api_approvals"))
    services.payments = StripeStylePaymentGateway(sandbox.url, "sk_test_api_approvals", attempts=1)
    waiting = services.payments.charge(
        unlock_id="unl_api", amount=2000, currency="eur", payment_method="pm_card_authenticationRequired"
    )
    charge = {"payment_id": waiting.id, "amount_cents": 2000, "currency": "eur"}
    record_status(services.db, "unlock", "unl_api", "requested", {"card_needs_authentication": charge})
    web = app.test_client()
    back = {"return_url": "https://jobs.example.com/unlocks/unl_api?from=bank"}

    # The unlock's status shows the payment waiting, so a frontend knows to offer this.
    assert web.get("/api/unlocks/unl_api").json["details"]["card_needs_authentication"] == charge
    started = web.post("/api/unlocks/unl_api/payment-approval", json=back)
    assert started.status_code == 200
    assert started.json == {"status": "redirect", "redirect_url": f"{sandbox.url}/_sandbox/3ds/{waiting.id}"}
    assert web.post("/api/unlocks/unl_api/payment-approval", json=back).json == started.json  # asked again
    answered = requests.post(
        started.json["redirect_url"], data={"outcome": "complete"}, allow_redirects=False, timeout=5
    )
    assert answered.headers["Location"].startswith(back["return_url"] + "&payment_intent=")
    done = web.post("/api/unlocks/unl_api/payment-approval", json=back)
    assert done.json == {"status": "approved", "redirect_url": None}

    # A return address that is no web address, or none, is refused before the provider hears of it.
    for body in ({"return_url": "javascript:alert(1)"}, {}, {**back, "extra": 1}):
        refused = web.post("/api/unlocks/unl_api/payment-approval", json=body)
        assert refused.status_code == 400, body
    assert web.post("/api/unlocks/unl_nope/payment-approval", json=back).status_code == 404
    record_status(services.db, "unlock", "unl_plain", "requested", {"employer_id": "emp-1"})
    nothing = web.post("/api/unlocks/unl_plain/payment-approval", json=back)
    assert nothing.status_code == 409 and nothing.json["title"] == "Nothing to approve"


def test_an_employer_lists_its_unlocks_with_what_each_waits_for(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    to_approve = {"payment_id": "pi_1", "amount_cents": 2000, "currency": "eur"}
    record_status(
        services.db,
        "unlock",
        "unl_approve",
        "requested",
        {"employer_id": "acme", "candidate_id": "ada", "card_needs_authentication": to_approve},
    )
    declined = {"card": "pm_card_chargeDeclined", "decline_code": "generic_decline"}
    record_status(
        services.db,
        "unlock",
        "unl_card",
        "requested",
        {"employer_id": "acme", "candidate_id": "bob", "card_declined": declined},
    )
    paid = {"with": "credits", "credits": 2}
    # Unlocked after a refused card: what it waited for is over, how it was paid is said.
    record_status(
        services.db,
        "unlock",
        "unl_done",
        "unlocked",
        {"employer_id": "acme", "candidate_id": "cy", "card_declined": declined, "paid": paid},
    )
    record_status(
        services.db, "unlock", "unl_theirs", "requested", {"employer_id": "globex", "candidate_id": "ada"}
    )

    listed = web.get("/api/employers/acme/unlocks")
    assert listed.status_code == 200 and listed.json["next"] is None
    by_id = {u["unlockId"]: u for u in listed.json["unlocks"]}
    assert list(by_id) == ["unl_done", "unl_card", "unl_approve"]  # newest change first
    assert by_id["unl_approve"]["paymentToApprove"] == to_approve
    assert by_id["unl_card"]["cardDeclined"] == declined and by_id["unl_card"]["paymentToApprove"] is None
    assert by_id["unl_done"] == {
        "unlockId": "unl_done",
        "candidateId": "cy",
        "status": "unlocked",
        "updatedAt": by_id["unl_done"]["updatedAt"],
        "paymentToApprove": None,
        "cardDeclined": None,
        "paid": paid,
        "refunded": None,
    }
    open_only = web.get("/api/employers/acme/unlocks?state=open&order=oldest").json["unlocks"]
    assert [u["unlockId"] for u in open_only] == ["unl_approve", "unl_card"]
    assert web.get("/api/employers/nobody/unlocks").json["unlocks"] == []
    assert web.get("/api/employers/acme/unlocks?state=closed").status_code == 400
    # The console's Items page finds them by the employer's id too, for support's questions.
    assert listed_ids(web.get("/items?q=acme").text) == ["unl_done", "unl_card", "unl_approve"]
    assert [i["id"] for i in web.get("/api/items?q=acme&kind=unlock").json["items"]] == [
        "unl_done",
        "unl_card",
        "unl_approve",
    ]


def test_an_employer_lists_the_contacts_its_unlocks_opened_a_page_at_a_time(tmp_path, store_url):
    services = empty_services(tmp_path, store_url)
    web = offline_app(services).test_client()
    granted = datetime(2026, 12, 2, 9, 30)
    with services.db.sessions.begin() as session:
        for number in range(51):
            candidate_id = f"c{number:02d}"
            session.add(
                indexed_candidate(candidate_id, name=f"Name {number}", email=f"{candidate_id}@example.com")
            )
            session.add(
                ContactAccess(
                    employer_id="acme",
                    candidate_id=candidate_id,
                    unlock_id=f"unl_{number}",
                    granted_at=granted,
                )
            )
        session.add(
            ContactAccess(employer_id="globex", candidate_id="c07", unlock_id="unl_g", granted_at=granted)
        )

    first = web.get("/api/employers/acme/contacts")
    assert first.status_code == 200, first.json
    assert (len(first.json["contacts"]), first.json["next"]) == (50, "c49")
    assert first.json["contacts"][0] == {
        "candidateId": "c00",
        "employerId": "acme",
        "unlockId": "unl_0",
        "grantedAt": "2026-12-02T09:30:00Z",
        "name": "Name 0",
        "email": "c00@example.com",
    }
    # Each as the single lookup gives it.
    assert first.json["contacts"][7] == web.get("/api/candidates/c07/contact?employer_id=acme").json
    rest = web.get("/api/employers/acme/contacts?after=c49").json
    assert ([c["candidateId"] for c in rest["contacts"]], rest["next"]) == (["c50"], None)
    assert [c["unlockId"] for c in web.get("/api/employers/globex/contacts").json["contacts"]] == ["unl_g"]
    assert web.get("/api/employers/initech/contacts").json == {
        "employerId": "initech",
        "contacts": [],
        "next": None,
    }
    assert refused_field(web.get("/api/employers/a%20b/contacts")) == (400, "employer_id")
    assert refused_field(web.get("/api/employers/acme/contacts?after=a%20b")) == (400, "after")


def test_a_contact_lookup_names_what_is_wrong_with_its_question(tmp_path):
    web = offline_app(empty_services(tmp_path)).test_client()
    for url, field in [
        ("/api/candidates/ada/contact", "employer_id"),
        ("/api/candidates/ada/contact?employer_id=a%20b", "employer_id"),
        ("/api/candidates/ada/contact?employer_id=acme&x=1", "x"),
        ("/api/candidates/a%20b/contact?employer_id=acme", "candidate_id"),
    ]:
        assert refused_field(web.get(url)) == (400, field), url
    assert web.get("/api/candidates/ada/contact?employer_id=acme").status_code == 404
