"""The short chaos run inside ``make test``, and the checker's own arithmetic (issue 8).

The short run is ``make chaos`` with fewer instances and without the engine SIGKILL:
the whole product as real processes (engine, sandboxes, pool, webapp), every other
scenario, and the bar asserted: 0 stuck, 0 double effects, 0 lost messages. It runs
twice: on SQLite (``make run``'s default) and on PostgreSQL (production's), whose
locking and constraints keep side effects single in their own ways.
"""

from __future__ import annotations

import io
import json
import random
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import requests

from chaos import scenarios
from chaos.__main__ import table
from chaos.checker import Checker, InstanceState, ScenarioReport
from chaos.engine_watch import EngineWatch
from chaos.flows import InterviewFlow, Started, request_in_progress
from chaos.runner import Timing, ensure_posting, run_scenario, split_instances
from chaos.scenarios import SCENARIOS
from chaos.world import open_world
from hireflow.engine.embedded import EmbeddedEngineClient
from tests.postgres import fresh_database

SHORT_RUN_FLOWS = 56
SHORT_RUN_SCENARIOS = [s for s in SCENARIOS if not s.needs_restartable_engine]


def _short_run(root, database_url: str | None = None) -> tuple[list[ScenarioReport], str]:
    """Every short-run scenario on a fresh world; the engine's diagnostics if one missed the bar."""
    counts = split_instances(SHORT_RUN_FLOWS, SHORT_RUN_SCENARIOS)
    timing = Timing(drive_s=240, settle_s=300, repaired_s=180)
    with ExitStack() as stack:
        world = open_world(stack, root, database_url=database_url)
        posting_id = ensure_posting(world)
        reports = [
            run_scenario(world, scenario, counts[scenario.name], posting_id, seed=i, timing=timing)
            for i, scenario in enumerate(SHORT_RUN_SCENARIOS)
        ]
        # Read while the engine still runs: a stuck engine shows in its threads.
        diagnostics = "" if all(r.meets_the_bar for r in reports) else world.engine.diagnostics()
    print(table(reports))
    return reports, diagnostics


def run_with_one_rerun_after_an_engine_fault(
    short_run, out=None
) -> tuple[list[ScenarioReport], list[list[ScenarioReport]], str]:
    """``short_run(attempt)`` once, and once more if it missed the bar only by the engine's fault.

    No short-run scenario injects a fault into the engine itself (there is no engine
    SIGKILL), so an engine that stops processing, or that never brings a failed job back
    after its retry backoff (camunda/camunda#16884), is the engine's fault, not hireflow's.
    Say so loudly, keep the first attempt for the test (it still may not double or lose
    anything), and run once more. A second such failure stands, and so does any scenario
    that missed the bar for any other reason: no rerun then.
    Returns the reports to judge, the attempts the engine failed, and the engine's diagnostics.
    """
    engine_fault_attempts: list[list[ScenarioReport]] = []
    reports, diagnostics = short_run(1)
    missed = [r for r in reports if not r.meets_the_bar]
    if missed and all(r.missed_only_by_the_engine for r in missed):
        engine_fault_attempts.append(reports)
        print(
            "!! The engine itself failed during the short chaos run (it stalled, or lost a job's "
            "retry backoff); running it once more on a fresh engine. What it showed:\n"
            + "\n".join(d for r in missed for d in r.details[:5])
            + "\n"
            + diagnostics,
            file=out or sys.stderr,
        )
        reports, diagnostics = short_run(2)
    return reports, engine_fault_attempts, diagnostics


@dataclass(frozen=True)
class ShortRun:
    """The reports to judge, the attempts the engine failed, and its diagnostics if one missed."""

    reports: list[ScenarioReport]
    engine_fault_attempts: list[list[ScenarioReport]]
    diagnostics: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def short_chaos_run(request, tmp_path_factory) -> ShortRun:
    def database_url() -> str | None:  # a new database for each attempt, as a new SQLite file
        if request.param == "sqlite":
            return None
        return fresh_database(request.getfixturevalue("postgres_server"))

    return ShortRun(
        *run_with_one_rerun_after_an_engine_fault(
            lambda attempt: _short_run(
                tmp_path_factory.mktemp(f"chaos-{request.param}-attempt{attempt}"), database_url()
            )
        )
    )


@pytest.mark.engine
@pytest.mark.timeout(1500)
def test_the_short_chaos_run_meets_the_bar(short_chaos_run):
    reports = short_chaos_run.reports
    summary = table(reports)
    for report in reports:
        assert report.started > 0, summary
        assert report.meets_the_bar, f"{report.scenario} missed the bar:\n{summary}\n" + "\n".join(
            [*report.details, short_chaos_run.diagnostics]
        )
    # A first attempt the engine failed (stalled, lost a backoff) still may not double or lose.
    for report in (r for attempt in short_chaos_run.engine_fault_attempts for r in attempt):
        doubled_or_lost = (
            report.double_charges + report.double_refunds + report.duplicate_emails + report.lost_messages
        )
        assert doubled_or_lost == 0, f"{report.scenario} in the attempt the engine failed:\n{table([report])}"
    by_name = {r.scenario: r for r in reports}
    # The faults really happened: workers died, and webhooks overtook their subscriptions.
    assert "SIGKILL" in by_name["worker-sigkill"].note, summary
    assert by_name["message-before-subscription"].before_subscription > 0, summary
    assert by_name["webhooks-twice-out-of-order"].messages > 0, summary
    # The outage outlasted every retry: incidents arose, said what to do, and were retried.
    assert by_name["payment-outage"].incidents_repaired > 0, summary


def test_a_chaos_run_refuses_a_database_that_holds_items_already(tmp_path):
    from chaos.world import DatabaseNotEmpty
    from hireflow.store import Database
    from job_workers.records import record_status

    url = f"sqlite:///{tmp_path / 'used.sqlite3'}"
    db = Database(url)
    db.create_schema()
    record_status(db, "resume", "res_1", "processed")
    with ExitStack() as stack, pytest.raises(DatabaseNotEmpty, match="empty database"):
        open_world(stack, tmp_path / "run", database_url=url)


def fake_world(intents: list[dict], refunds: list[dict], mails: list[dict]):
    ledger = {"payment_intents": intents, "refunds": refunds}
    return SimpleNamespace(engine=SimpleNamespace(client=None), ledger=lambda: ledger, mails=lambda: mails)


def test_the_checker_counts_double_charges_refunds_and_emails():
    intents = [
        {"id": "pi_1", "metadata": {"unlock_id": "unl-a"}},
        {"id": "pi_2", "metadata": {"unlock_id": "unl-a"}},  # a second charge for one unlock
        {"id": "pi_3", "metadata": {"unlock_id": "unl-b"}},
        {"id": "pi_9", "metadata": {"unlock_id": "unl-other-run"}},
    ]
    refunds = [{"payment_intent": "pi_3"}, {"payment_intent": "pi_3"}, {"payment_intent": "pi_9"}]
    mails = [
        {"dedupe_key": "receipt:unl-b:42"},
        {"dedupe_key": "receipt:unl-b:42"},
        {"dedupe_key": "receipt:unl-b:43"},  # another element instance: a different email
        {"dedupe_key": "receipt:unl-other-run:1"},
        {"dedupe_key": "receipt:unl-other-run:1"},
        {"dedupe_key": None},
    ]
    report = ScenarioReport("fake")
    started = [Started("unlock", "unl-a", "1"), Started("unlock", "unl-b", "2")]
    Checker(fake_world(intents, refunds, mails)).check_effects(started, report)
    assert (report.double_charges, report.double_refunds, report.duplicate_emails) == (1, 1, 1)
    assert not report.meets_the_bar


class EngineWithTwins:
    """Instances as the engine holds them: unl-a has a twin (9) that waits for nothing,
    app-a an interview that carries its id, and unl-b only its own instance."""

    instances = {
        "1": {"processDefinitionId": "resume-unlock", "state": "COMPLETED"},
        "9": {"processDefinitionId": "resume-unlock", "state": "ACTIVE"},
        "2": {"processDefinitionId": "resume-unlock", "state": "COMPLETED"},
        "3": {"processDefinitionId": "resume-submission", "state": "COMPLETED"},
        "4": {"processDefinitionId": "interview-scheduling", "state": "COMPLETED"},
    }
    # (instance, scope) of each variable with the name and value; a scope of its own is a
    # sub-process's variable, not the instance's.
    carried = {
        ("unlock_id", "unl-a"): [("1", "1"), ("9", "9"), ("1", "77")],
        ("unlock_id", "unl-b"): [("2", "2")],
        ("application_id", "app-a"): [("3", "3"), ("4", "4")],
    }

    def search_variables(self, name, value):
        found = self.carried.get((name, json.loads(value)), [])
        return [{"processInstanceKey": instance, "scopeKey": scope} for instance, scope in found]

    def get_process_instance(self, key):
        return self.instances[key]

    def search_incidents(self, **filter_):
        return []

    def search_element_instances(self, processInstanceKey):
        return [{"elementInstanceKey": k} for k in {"9": ["901", "902"]}.get(processInstanceKey, [])]


def test_the_checker_finds_an_instance_started_beside_the_one_a_request_was_answered_with():
    report = ScenarioReport("fake", started=3, completed=3)
    started = [
        Started("unlock", "unl-a", "1"),
        Started("unlock", "unl-b", "2"),
        Started("application", "app-a", "3"),
    ]
    mails = [
        {"dedupe_key": "unlock-receipt:unl-a:101", "to": ["emp@example.com"]},
        {"dedupe_key": "unlock-receipt:unl-a:901", "to": ["emp@example.com"]},  # the twin's, again
        {"dedupe_key": "payment-declined:unl-a:902", "to": ["emp@example.com"]},  # the twin's only
    ]
    world = fake_world([], [], mails)
    world.engine.client = EngineWithTwins()
    checker = Checker(world)
    checker.check_twins(started, report)
    checker.check_effects(started, report)
    assert (report.twin_instances, report.stuck, report.duplicate_emails) == (["9"], 1, 1)
    assert "twin instance 9 of unlock unl-a (ACTIVE)" in report.details
    assert "duplicate email from a twin instance: unlock-receipt:unl-a:901" in report.details
    assert not report.meets_the_bar


def test_the_run_is_split_by_weight_and_every_scenario_gets_some():
    counts = split_instances(560, SCENARIOS)
    assert set(counts) == {s.name for s in SCENARIOS}
    assert sum(counts.values()) >= 500
    assert min(counts.values()) >= 2


def test_the_checker_counts_incident_messages_that_leave_the_operator_guessing():
    advice = "then retry the incident"

    def active(key: str, message: str) -> list[dict]:
        return [{"incidentKey": key, "errorMessage": message}]

    states = {
        "1": InstanceState(
            "1", "ACTIVE", active("i-1", f"Gateway down for unlock unl-a. Check it, {advice}.")
        ),
        "2": InstanceState("2", "ACTIVE", active("i-2", "payment.charge failed after 5 tries: HTTP 503")),
        # names another unlock than its own
        "3": InstanceState(
            "3", "ACTIVE", active("i-3", f"Gateway down for unlock unl-a. Check it, {advice}.")
        ),
    }
    started = [
        Started("unlock", "unl-a", "1"),
        Started("unlock", "unl-b", "2"),
        Started("unlock", "unl-c", "3"),
    ]
    report = ScenarioReport("fake")
    Checker(SimpleNamespace(engine=SimpleNamespace(client=None))).check_incident_messages(
        states, started, report
    )
    assert report.unclear_incidents == 2
    assert not report.meets_the_bar


class FakeClock:
    """A clock that moves only when told: called, or as ``time.monotonic`` and ``time.sleep``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_engine_is_killed_twice_even_when_the_scenario_settles_first(monkeypatch):
    monkeypatch.setattr(scenarios.time, "sleep", lambda seconds: None)
    restarts: list[str] = []
    world = SimpleNamespace(engine=SimpleNamespace(kill_and_restart=lambda: restarts.append("restart")))
    settled = threading.Event()
    settled.set()
    done = scenarios.Disruption()
    scenarios.kill_engine(world, settled, random.Random(1), done)
    assert done.kills == scenarios.ENGINE_KILLS == len(restarts) == 2


def test_the_engine_watch_calls_the_engine_stalled_only_after_a_minute_of_silence():
    clock = FakeClock()
    answers: list[bool] = [True]

    def publish(name, correlation_key, *, ttl_ms):
        assert (name, ttl_ms) == ("chaos-engine-probe", 0)
        if not answers[-1]:
            raise TimeoutError("504 from the engine")

    watch = EngineWatch(publish, stall_after_s=60.0, clock=clock)
    watch.probe_once()
    answers.append(False)
    for clock.now in (10.0, 30.0, 55.0):
        watch.probe_once()
    assert not watch.stalled.is_set()  # slow answers under load are not a stall

    clock.now = 61.0
    watch.probe_once()
    assert watch.stalled.is_set()
    assert "61 s" in watch.reason and "504 from the engine" in watch.reason


def test_the_engine_watch_is_silent_while_the_engine_is_killed_on_purpose():
    clock = FakeClock()
    probes: list[str] = []

    def publish(name, correlation_key, *, ttl_ms):
        probes.append(correlation_key)
        raise ConnectionError("engine restarting")

    watch = EngineWatch(publish, stall_after_s=60.0, clock=clock)
    watch.pause()
    clock.now = 500.0
    watch.probe_once()
    assert probes == [] and not watch.stalled.is_set()

    watch.resume()  # the silence so far does not count
    clock.now = 530.0
    watch.probe_once()
    assert len(probes) == 1 and not watch.stalled.is_set()


def test_a_stalled_engine_fails_the_bar_even_with_nothing_stuck():
    assert not ScenarioReport("fake", engine_stalled="no answer for 60 s").meets_the_bar


@pytest.mark.engine
def test_the_engine_watch_notices_a_real_engine_that_stopped_processing(process_engine):
    """The engine's stream processor paused (its control port still answers reads): the watch
    calls it stalled within seconds, and probes are answered again once it resumes."""
    if not process_engine.control_url:
        pytest.skip("only the embedded engine can pause its stream processor on request")
    probe_client = process_engine.client.with_timeout(3.0)
    watch = EngineWatch(probe_client.publish_message, stall_after_s=4.0)
    watch.probe_once()
    assert not watch.stalled.is_set()

    control = process_engine.control_url
    requests.post(f"{control}/stream-processor/pause", timeout=30).raise_for_status()
    try:
        deadline = time.monotonic() + 60
        while not watch.stalled.is_set() and time.monotonic() < deadline:
            watch.probe_once()
            time.sleep(0.5)
    finally:
        requests.post(f"{control}/stream-processor/resume", timeout=30).raise_for_status()
    assert watch.stalled.is_set(), "the watch never noticed the paused engine"
    assert "answered no command" in watch.reason
    state = requests.get(f"{control}/stream-processor", timeout=30).json()
    assert state["health"] == "HEALTHY"  # paused on request is not a failure
    assert isinstance(state["lastProcessedPosition"], int)

    # Processing goes on where it stopped: a probe is answered again.
    process_engine.client.publish_message("chaos-engine-probe", "after-resume", ttl_ms=0)


def test_a_stalled_attempt_is_run_once_more_and_kept_for_the_bar(capsys):
    stalled = [ScenarioReport("mail-429", started=4, stuck=4, engine_stalled="no answer for 60 s")]
    fine = [ScenarioReport("mail-429", started=11, completed=11)]
    attempts = iter([(stalled, "engine log: Actor failed"), (fine, "")])

    reports, engine_fault_attempts, diagnostics = run_with_one_rerun_after_an_engine_fault(
        lambda attempt: next(attempts)
    )

    assert (reports, engine_fault_attempts, diagnostics) == (fine, [stalled], "")
    err = capsys.readouterr().err
    assert "running it once more" in err and "engine log: Actor failed" in err


def test_a_second_stall_is_not_run_again():
    stalled = [ScenarioReport("mail-429", stuck=4, engine_stalled="no answer for 60 s")]
    calls: list[int] = []

    def short_run(attempt):
        calls.append(attempt)
        return stalled, "engine log: Actor failed"

    reports, _, diagnostics = run_with_one_rerun_after_an_engine_fault(short_run)
    assert calls == [1, 2]
    assert not reports[0].meets_the_bar
    assert diagnostics == "engine log: Actor failed"


def test_a_run_without_a_stall_runs_once():
    fine = [ScenarioReport("mail-429", started=11, completed=11)]
    calls: list[int] = []

    def short_run(attempt):
        calls.append(attempt)
        return fine, ""

    assert run_with_one_rerun_after_an_engine_fault(short_run) == (fine, [], "")
    assert calls == [1]


def test_a_scenario_that_missed_the_bar_before_the_stall_is_not_run_again():
    stuck_on_its_own = ScenarioReport("worker-sigkill", started=17, completed=16, stuck=1)
    stalled = ScenarioReport("mail-429", stuck=4, engine_stalled="no answer for 60 s")
    calls: list[int] = []

    def short_run(attempt):
        calls.append(attempt)
        return [stuck_on_its_own, stalled], ""

    reports, engine_fault_attempts, _ = run_with_one_rerun_after_an_engine_fault(short_run)
    assert calls == [1]
    assert reports == [stuck_on_its_own, stalled] and engine_fault_attempts == []


def lost_backoff_checker(jobs: list[dict], now_ms: int) -> Checker:
    client = EmbeddedEngineClient("http://127.0.0.1:9")  # never called: both reads are replaced
    client.clock_now_ms = lambda: now_ms
    client.search_jobs = lambda processInstanceKey: [
        j for j in jobs if j["processInstanceKey"] == processInstanceKey
    ]
    return Checker(SimpleNamespace(engine=SimpleNamespace(client=client)))


def test_a_job_the_engine_never_brought_back_after_its_backoff_is_named_the_engines_fault():
    job = {"jobKey": "7", "type": "notifications.send-email", "processInstanceKey": "1", "retries": 4}
    now = 1_000_000
    checker = lost_backoff_checker([{**job, "state": "FAILED", "recurringTime": now - 300_000}], now)
    reason = checker.lost_backoff("1")
    assert "job 7 (notifications.send-email)" in reason and "300 s ago" in reason and "16884" in reason

    # Still within its backoff, or only just past it: late perhaps, not lost.
    just_due = {**job, "state": "FAILED", "recurringTime": now - 5_000}
    assert lost_backoff_checker([just_due], now).lost_backoff("1") == ""
    # Failed for good (an incident's business) or activated again: not a lost backoff.
    for other in ({"state": "FAILED", "retries": 0}, {"state": "ACTIVATED"}):
        stale = {**job, "recurringTime": now - 300_000, **other}
        assert lost_backoff_checker([stale], now).lost_backoff("1") == ""


def test_only_stuck_instances_the_engine_lost_make_a_scenario_the_engines_fault():
    lost = "engine fault: instance 1 waits on job 7 ..."
    assert ScenarioReport("mail-429", stuck=1, engine_lost_backoffs=[lost]).missed_only_by_the_engine
    assert ScenarioReport("mail-429", engine_stalled="no answer").missed_only_by_the_engine
    # Another stuck instance, or any double effect, is hireflow's to answer for.
    assert not ScenarioReport("mail-429", stuck=2, engine_lost_backoffs=[lost]).missed_only_by_the_engine
    both = ScenarioReport("mail-429", stuck=1, duplicate_emails=1, engine_lost_backoffs=[lost])
    assert not both.missed_only_by_the_engine
    assert not ScenarioReport("mail-429", stuck=1).missed_only_by_the_engine
    assert not ScenarioReport("mail-429", completed=3).missed_only_by_the_engine


def test_a_run_the_engine_lost_a_backoff_in_is_run_once_more():
    lost = [
        ScenarioReport("mail-429", started=11, completed=10, stuck=1, engine_lost_backoffs=["engine fault"])
    ]
    fine = [ScenarioReport("mail-429", started=11, completed=11)]
    attempts = iter([(lost, ""), (fine, "")])
    reports, engine_fault_attempts, _ = run_with_one_rerun_after_an_engine_fault(
        lambda attempt: next(attempts), out=io.StringIO()
    )
    assert reports == fine and engine_fault_attempts == [lost]


def backlog_world(clock: FakeClock, delivered_at: float | None, retry_due_at: float):
    """The sandbox's backlog: one event, retried at ``retry_due_at``, taken at ``delivered_at``."""

    def backlog():
        if delivered_at is not None and clock.now >= delivered_at:
            return {"undelivered": 0, "given_up": 0, "last_retry_in_seconds": None}
        return {"undelivered": 1, "given_up": 0, "last_retry_in_seconds": max(0.0, retry_due_at - clock.now)}

    return SimpleNamespace(engine=SimpleNamespace(client=None), webhook_backlog=backlog)


@pytest.mark.parametrize(
    ("delivered_at", "retry_due_at", "lost"),
    [
        (100.0, 95.0, 0),  # its retry comes after the first minute, and is taken: late, not lost
        (None, 0.0, 1),  # no retry due and never taken
        (None, 10_000.0, 1),  # a retry due far beyond any reasonable wait
    ],
    ids=["late-retry-taken", "never-taken", "retry-too-far"],
)
def test_a_provider_event_is_lost_only_when_no_retry_due_can_take_it(
    monkeypatch, delivered_at, retry_due_at, lost
):
    clock = FakeClock()
    monkeypatch.setattr("chaos.checker.time", clock)
    report = ScenarioReport("fake")
    Checker(backlog_world(clock, delivered_at, retry_due_at)).check_provider_events(report)
    assert report.lost_messages == lost


def response(status: int, body: str, content_type: str, **headers) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body.encode()
    answer.headers.update({"Content-Type": content_type, **headers})
    return answer


def test_a_flow_retries_a_request_in_progress_whether_json_or_a_page():
    # A slot link's form answers with an HTML page; its 409 was once taken for a refusal.
    in_progress_page = response(
        409, "<title>Request in progress</title>", "text/html", **{"Retry-After": "1"}
    )
    in_progress_json = response(
        409, '{"title": "Request in progress"}', "application/problem+json", **{"Retry-After": "1"}
    )
    key_reused = response(409, '{"title": "Key already used"}', "application/problem+json")
    assert request_in_progress(in_progress_page) and request_in_progress(in_progress_json)
    assert not request_in_progress(key_reused)


def test_a_slot_choice_whose_answer_was_lost_counts_as_sent_when_the_page_says_so(monkeypatch):
    # The choice was published, its answer lost: on the next try the slot's page asks
    # nothing more, and the flow must neither give up nor forget the message it sent.
    interview = Started("interview", "int_1", "2252")
    flow = InterviewFlow("http://webapp.test", started=[Started("application", "app_1", "2251"), interview])
    offer = {"dedupe_key": "interview-slots:int_1:7", "text": "http://webapp.test/interviews/slot/tok.en"}
    world = SimpleNamespace(mails_to=lambda _: [offer])
    page = '<p class="ok" data-testid="outcome">You chose this slot; we are booking it and will send you</p>'
    calls = []

    def call(method, path, **_):
        calls.append(method)
        return response(200, page, "text/html")

    monkeypatch.setattr(flow, "call", call)

    assert flow._choose_slot(world, interview) is True
    assert calls == ["GET"]
    assert [(m.name, m.instance_key) for m in flow.messages] == [("interview-slot-selected", "2252")]


def test_a_request_for_another_time_whose_answer_was_lost_counts_as_sent(monkeypatch):
    # Asked, the answer lost, the time given up meanwhile: the page asks nothing more.
    interview = Started("interview", "int_1", "2252")
    flow = InterviewFlow("http://webapp.test", started=[Started("application", "app_1", "2251"), interview])
    invitation = {"dedupe_key": "interview-invitation:int_1:9", "text": "/interviews/reschedule/tok.en"}
    world = SimpleNamespace(mails_to=lambda _: [invitation])
    page = '<p class="ok" data-testid="outcome">You asked for another time already. Choose one</p>'
    calls = []

    def call(method, path, **_):
        calls.append((method, path))
        return response(200, page, "text/html")

    monkeypatch.setattr(flow, "call", call)

    assert flow._ask_for_another_time(world) is True
    assert calls == [("GET", "/interviews/reschedule/tok.en")]
    assert [(m.name, m.catch_element) for m in flow.messages] == [
        ("interview-reschedule-requested", "RescheduleRequested")
    ]
