"""Once-only request claims: the second request finds the first (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import update

from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.store import Database, RequestClaim, utcnow
from tests.concurrency import race
from webapp.claims import STALE_AFTER, RequestClaims, stale_after_for
from webapp.engine import EngineUnavailable, ProcessGateway, RequestInProgress


@pytest.fixture
def claims(store_url) -> RequestClaims:
    db = Database(store_url)
    db.create_schema()
    return RequestClaims(db)


def test_the_first_request_acts_and_a_repeat_is_told_what_happened(claims):
    first = claims.claim("start:p", "k1", {"a": 1})
    assert first.acquired
    assert not claims.claim("start:p", "k1", {"a": 1}).acquired  # pending: in progress
    claims.complete(first, {"processInstanceKey": "42"})
    repeat = claims.claim("start:p", "k1", {"a": 1})
    assert (repeat.acquired, repeat.status, repeat.result, repeat.same_content) == (
        False,
        "done",
        {"processInstanceKey": "42"},
        True,
    )


def test_a_reused_key_with_other_content_is_reported(claims):
    claims.complete(claims.claim("start:p", "k2", {"a": 1}), {})
    assert claims.claim("start:p", "k2", {"a": 2}).same_content is False


def test_a_request_is_the_same_as_sent_or_as_filled_in(claims):
    # An item's request leaves fields to the file: the same request sent again after the
    # file changed fills in to other content, and the same request written out in full
    # sends other content; either is a repeat.
    asked = {"candidate_id": "ada", "payment_method_ref": None}
    filled = {"unlock_id": "unl_1", "candidate_id": "ada", "payment_method_ref": "pm_on_file"}
    claims.complete(claims.claim("start:p", "unl_1", filled, asked=asked), {"processInstanceKey": "42"})
    refilled = {**filled, "payment_method_ref": "pm_new"}
    repeat = claims.claim("start:p", "unl_1", refilled, asked=asked)
    assert (repeat.acquired, repeat.same_content) == (False, True)
    assert repeat.result == {"processInstanceKey": "42"}
    written_out = {"candidate_id": "ada", "payment_method_ref": "pm_on_file"}
    assert claims.claim("start:p", "unl_1", filled, asked=written_out).same_content is True
    other_card = {"candidate_id": "ada", "payment_method_ref": "pm_x"}
    assert claims.claim("start:p", "unl_1", {**filled, **other_card}, asked=other_card).same_content is False
    # A claim from before requests kept what was asked matches by its content alone.
    claims.complete(claims.claim("start:p", "unl_2", filled), {})
    assert claims.claim("start:p", "unl_2", filled, asked=asked).same_content is True
    assert claims.claim("start:p", "unl_2", refilled, asked=asked).same_content is False


def test_a_released_claim_lets_the_retry_act(claims):
    claims.release(claims.claim("message:m", "id-1", {}))
    assert claims.claim("message:m", "id-1", {}).acquired


def as_if_it_hung_long_ago(claims: RequestClaims, key: str) -> None:
    """Date the pending claim ``key`` back past ``STALE_AFTER``, as if its request hung."""
    with claims.db.sessions.begin() as session:
        session.execute(
            update(RequestClaim)
            .where(RequestClaim.key == key)
            .values(claimed_at=utcnow() - STALE_AFTER - timedelta(seconds=1))
        )


def test_of_the_same_request_sent_many_times_at_once_exactly_one_acts(claims):
    # A double-clicked button, or a client retrying before its first try was answered: on
    # PostgreSQL each insert waits for the one before it to commit, then meets its key.
    def claim(_):
        return "acts" if claims.claim("start:p", "raced", {"a": 1}).acquired else "is told"

    assert sorted(race(claim, [str(n) for n in range(8)])) == ["acts"] + ["is told"] * 7


def test_of_retries_taking_over_a_stale_claim_at_once_exactly_one_does(claims):
    claims.claim("start:p", "stale", {})
    as_if_it_hung_long_ago(claims, "stale")

    def take_over(_):
        return "takes over" if claims.claim("start:p", "stale", {}).acquired else "is told"

    assert sorted(race(take_over, [str(n) for n in range(8)])) == ["is told"] * 7 + ["takes over"]


def test_a_stale_pending_claim_is_taken_over_once(claims):
    claims.claim("start:p", "k3", {})
    as_if_it_hung_long_ago(claims, "k3")
    takeover = claims.claim("start:p", "k3", {})
    assert takeover.acquired and takeover.taken_over
    assert not claims.claim("start:p", "k3", {}).acquired  # fresh again: only one retry wins


def test_a_claim_outlives_any_request_that_may_still_hold_it():
    # Two engine calls of the configured timeout fit before a retry may take over.
    assert stale_after_for(10.0) == STALE_AFTER
    assert stale_after_for(60.0) == timedelta(seconds=180)


def test_a_slow_engines_claim_is_not_taken_over_while_its_request_may_run(claims):
    patient = RequestClaims(claims.db, stale_after_for(60.0))
    patient.claim("start:p", "k4", {})
    with claims.db.sessions.begin() as session:  # 45 s ago: stale by the default, not here
        session.execute(
            update(RequestClaim)
            .where(RequestClaim.key == "k4")
            .values(claimed_at=utcnow() - STALE_AFTER - timedelta(seconds=15))
        )
    assert not patient.claim("start:p", "k4", {}).acquired
    assert claims.claim("start:p", "k4", {}).taken_over  # the 30 s default would take over


class TakesMessagesButLosesTheFirstAnswer:
    """An engine that takes every message but dies before answering the first, as in engine-sigkill."""

    def __init__(self):
        self.taken: list[str] = []

    def publish_message(self, name, correlation_key, *, message_id, variables=None, ttl_ms=None, **_):
        if message_id in self.taken:  # still buffered: the engine refuses the id again
            raise CamundaApiError("POST", "/v2/messages/publication", 409, "message id already published")
        self.taken.append(message_id)
        if len(self.taken) == 1:
            raise requests.Timeout("the engine did not answer")
        return {"messageKey": 7}


def test_a_repeat_of_a_message_whose_answer_was_lost_publishes_at_once_and_once(claims):
    # The claim once stayed pending for 30 s, so the repeat (a candidate following their
    # slot link again) got "Request in progress" until it went stale.
    engine = TakesMessagesButLosesTheFirstAnswer()
    gateway = ProcessGateway(engine, claims, message_ttl_ms=3_600_000)

    with pytest.raises(EngineUnavailable):
        gateway.publish_once("interview-slot-selected", "int_1", "slot-int_1")
    repeat = gateway.publish_once("interview-slot-selected", "int_1", "slot-int_1")

    assert repeat.published is False  # the engine had taken the first: nothing published twice
    assert engine.taken == ["slot-int_1"]


def test_a_message_with_no_time_to_live_keeps_its_claim_when_its_answer_was_lost(claims):
    # Nothing in the engine would refuse a second one, so only a stale claim lets it retry.
    gateway = ProcessGateway(TakesMessagesButLosesTheFirstAnswer(), claims, message_ttl_ms=0)

    with pytest.raises(EngineUnavailable):
        gateway.publish_once("interview-slot-selected", "int_1", "slot-int_1")
    with pytest.raises(RequestInProgress):
        gateway.publish_once("interview-slot-selected", "int_1", "slot-int_1")


class ClusterWithBusinessIdUniqueness:
    """A cluster enforcing business-id uniqueness (Camunda 8.9) that processed a start whose
    caller never heard of it: the engine was killed with the command written, and processed
    it on restarting, after the retry had searched for it in vain."""

    def __init__(self, searchable: bool):
        self.searchable = searchable  # whether the search shows the earlier instance yet
        self.business_ids: list[str | None] = []

    def create_process_instance(self, process_id, variables=None, *, business_id=None):
        self.business_ids.append(business_id)
        raise CamundaApiError("POST", "/v2/process-instances", 409, "ALREADY_EXISTS: business id is active")

    def search_variables(self, **filter_):
        return [{"processInstanceKey": "2251799813696020"}] if self.searchable else []


def test_a_start_the_cluster_refuses_as_a_duplicate_answers_with_the_earlier_instance(claims):
    engine = ClusterWithBusinessIdUniqueness(searchable=True)
    gateway = ProcessGateway(engine, claims, message_ttl_ms=0)

    started = gateway.start_once("resume-unlock", "unlock_id", {"unlock_id": "unl_1"})

    assert (started.process_instance_key, started.created) == ("2251799813696020", False)
    assert engine.business_ids == ["unl_1"]  # every start names its item
    # A repeat is told from the claim, without asking the engine again.
    assert gateway.start_once("resume-unlock", "unlock_id", {"unlock_id": "unl_1"}).created is False
    assert engine.business_ids == ["unl_1"]


def test_a_refused_duplicate_the_search_cannot_show_yet_is_in_progress_not_started_again(claims):
    engine = ClusterWithBusinessIdUniqueness(searchable=False)
    gateway = ProcessGateway(engine, claims, message_ttl_ms=0)

    with pytest.raises(RequestInProgress, match="started before"):
        gateway.start_once("resume-unlock", "unlock_id", {"unlock_id": "unl_2"})
    # The claim stays: a repeat soon after is in progress too, and one after it went stale
    # looks for the instance again before starting anything.
    with pytest.raises(RequestInProgress):
        gateway.start_once("resume-unlock", "unlock_id", {"unlock_id": "unl_2"})
    assert engine.business_ids == ["unl_2"]


def test_the_rest_client_names_the_business_item_it_starts_an_instance_for():
    sent = []

    class Session:
        def request(self, method, url, timeout, **kwargs):
            sent.append(kwargs["json"])
            return SimpleNamespace(status_code=200, content=b"{}", json=lambda: {"processInstanceKey": "1"})

    client = CamundaRestClient("http://cluster:8080", session=Session())
    client.create_process_instance("resume-unlock", {"unlock_id": "unl_1"}, business_id="unl_1")
    client.create_process_instance("engine-smoke")
    assert sent == [
        {"processDefinitionId": "resume-unlock", "variables": {"unlock_id": "unl_1"}, "businessId": "unl_1"},
        {"processDefinitionId": "engine-smoke", "variables": {}},
    ]
