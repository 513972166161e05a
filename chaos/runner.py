"""Run scenarios against a running world and check each: drive, settle, lift, repair, check."""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from chaos.checker import Checker, ScenarioReport, check_scenario
from chaos.flows import Flow, FlowError, UnlockFlow, deliver_webhook
from chaos.scenarios import Disruption, Scenario
from chaos.world import ADMIN_TOKEN, ChaosWorld


@dataclass(frozen=True)
class Timing:
    """How long each phase may take. The short run in ``make test`` uses the same values."""

    drive_s: float = 300.0  # taking every flow's steps
    # Settling covers a job lost with a SIGKILLed worker: it comes back after its timeout
    # (up to 120 s for payments), plus the retries' backoff.
    settle_s: float = 300.0
    repaired_s: float = 180.0  # after the faults are lifted and incidents resolved
    parallel_requests: int = 12


def ensure_posting(world: ChaosWorld) -> str:
    """A posting every chaos candidate (python, sql) matches strongly, through the admin API."""
    posting_id = "chaos-data-engineer"
    response = requests.put(
        f"{world.web_url}/api/admin/postings/{posting_id}",
        json={
            "employer_id": "chaos-employer",
            "title": "Data engineer",
            "required_skills": ["python", "sql"],
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=15,
    )
    response.raise_for_status()
    return posting_id


def _advance(flow: Flow, world: ChaosWorld) -> None:
    try:
        flow.advance(world)
    except FlowError:
        flow.done = True  # refused: counted by the checker, never retried
    except Exception as exc:  # noqa: BLE001 - any other failure is reported, not hidden
        flow.refusals.append(f"{flow.label}: {type(exc).__name__}: {exc}")
        flow.done = True


def _deliver_batch(
    world: ChaosWorld, flows: list[Flow], rng: random.Random, pool: ThreadPoolExecutor
) -> None:
    """Every ready webhook twice, in a shuffled order, several at a time: as providers do."""
    ready = [f for f in flows if isinstance(f, UnlockFlow) and f.pending_event and not f.done]
    deliveries = [f for f in ready for _ in range(2)]
    rng.shuffle(deliveries)

    def deliver(flow: UnlockFlow) -> tuple[UnlockFlow, bool]:
        try:
            return flow, deliver_webhook(flow, world, flow.pending_event)
        except FlowError:
            flow.done = True  # refused: counted by the checker
            return flow, False

    for flow, acknowledged in list(pool.map(deliver, deliveries)):
        if acknowledged:
            flow.deliveries += 1
            flow.done = flow.deliveries >= 2


def drive(
    world: ChaosWorld, scenario: Scenario, flows: list[Flow], rng, timeout: float, workers: int
) -> None:
    """Advance every flow until each is done or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(workers, thread_name_prefix="chaos-flow") as pool:
        while time.monotonic() < deadline and not _engine_stalled(world):
            pending = [f for f in flows if not f.done]
            if not pending:
                return
            list(pool.map(lambda f: _advance(f, world), pending))
            if scenario.batch_webhooks:
                _deliver_batch(world, flows, rng, pool)
            time.sleep(0.3)


def _give_up(world: ChaosWorld) -> threading.Event | None:
    """Set once the engine stopped processing: nothing more will settle."""
    return world.engine_watch.stalled if world.engine_watch else None


def _engine_stalled(world: ChaosWorld) -> bool:
    stalled = _give_up(world)
    return stalled is not None and stalled.is_set()


def run_scenario(
    world: ChaosWorld,
    scenario: Scenario,
    count: int,
    posting_id: str,
    *,
    seed: int,
    timing: Timing,
    out=sys.stdout,
) -> ScenarioReport:
    """One scenario end to end; the report's ``meets_the_bar`` is the verdict."""
    report = ScenarioReport(scenario.name)
    if scenario.needs_restartable_engine and world.engine.kill_and_restart is None:
        report.note = f"not run: {world.engine.description} cannot be started again on its data here"
        return report
    if _engine_stalled(world):
        report.engine_stalled = world.engine_watch.reason
        report.note = "not run: the engine had stopped processing commands"
        return report
    watch = world.engine_watch
    if watch and scenario.needs_restartable_engine:
        watch.pause()  # the engine is killed on purpose: its silence is the fault itself
    began = time.monotonic()
    rng = random.Random(seed)
    checker = Checker(world)
    flows = scenario.flows(count, world.web_url, posting_id)
    print(f"==> {scenario.name}: {len(flows)} flows; {scenario.what}", file=out, flush=True)
    if scenario.payment_faults:
        world.set_payment_faults(**scenario.payment_faults)
    if scenario.mail_faults:
        world.set_mail_faults(**scenario.mail_faults)

    stop = threading.Event()
    disruption = Disruption()
    disruptor = None
    if scenario.disruptor:

        def disrupt() -> None:
            try:
                scenario.disruptor(world, stop, rng, disruption)
            except Exception as exc:  # noqa: BLE001 - reported with the scenario
                disruption.notes.append(f"disruptor failed: {type(exc).__name__}: {exc}")

        disruptor = threading.Thread(target=disrupt, name="chaos-disruptor", daemon=True)
        disruptor.start()
    try:
        drive(world, scenario, flows, rng, timing.drive_s, timing.parallel_requests)
        keys = [s.instance_key for f in flows for s in f.started]
        faults = (scenario.payment_faults, scenario.mail_faults, scenario.disruptor, scenario.batch_webhooks)
        settling = "settling under the faults" if any(faults) else "settling"
        print(f"    {len(keys)} instances started; {settling}", file=out, flush=True)
        # The disruptor goes on while the instances settle: most of their jobs run now.
        states = checker.wait_until_settled(keys, timing.settle_s, _give_up(world))
    finally:
        stop.set()
        if disruptor:
            disruptor.join(120)
        if watch and scenario.needs_restartable_engine:
            watch.resume()
    if scenario.disruptor:  # a kill at the very end may have left a job to time out
        states = checker.wait_until_settled(keys, timing.settle_s, _give_up(world))

    # The fault is over: an operator retries what became an incident, restarts a job the
    # engine lost after its backoff, and the flows go on.
    world.lift_faults()
    checker.check_incident_messages(states, [s for f in flows for s in f.started], report)
    if not _engine_stalled(world):  # a stalled engine takes no retries: report what is
        report.incidents_repaired = checker.repair_incidents(states)
        report.no_incident_arose = scenario.expects_incidents and not report.incidents_repaired
        if report.incidents_repaired:
            print(f"    faults lifted; {report.incidents_repaired} incident(s) retried", file=out, flush=True)
        report.stalled_jobs_restarted = checker.restart_stalled_jobs(states)
        if report.stalled_jobs_restarted:
            lost = report.stalled_jobs_restarted
            print(f"    {lost} job(s) the engine lost after their backoff restarted", file=out, flush=True)
        drive(world, scenario, flows, rng, timing.repaired_s, timing.parallel_requests)
        keys = [s.instance_key for f in flows for s in f.started]
        states = checker.wait_until_settled(keys, timing.repaired_s, _give_up(world))

    check_scenario(checker, report, flows, states)
    if _engine_stalled(world):
        report.engine_stalled = world.engine_watch.reason
        report.details.insert(0, f"the engine stopped processing commands: {report.engine_stalled}")
    report.seconds = round(time.monotonic() - began, 1)
    notes = []
    if disruption.kills:
        notes.append(f"{disruption.kills} SIGKILLs")
    if report.twin_instances:
        notes.append(f"{len(report.twin_instances)} twin instance(s)")
    if report.stalled_jobs_restarted:
        notes.append(f"{report.stalled_jobs_restarted} stalled job(s) restarted")
    if notes:
        report.note = "; ".join(notes)
    if report.no_incident_arose:
        report.details.append("the fault was meant to outlast every retry, but no incident arose")
    report.details.extend(disruption.notes)
    unfinished = [f.label for f in flows if not f.done]
    if unfinished:
        report.details.append(f"{len(unfinished)} flow(s) could not take every step: {unfinished[:5]}")
    return report


def split_instances(total: int, scenarios: list[Scenario]) -> dict[str, int]:
    """Flows per scenario, by weight (an interview flow starts two instances)."""
    weights = sum(s.weight for s in scenarios)
    return {s.name: max(2, round(total * s.weight / weights)) for s in scenarios}
