"""The chaos scenarios: which flows run, which faults are injected, what is killed.

Each scenario names the guarantee it tests; ``docs/reliability.md`` lists them.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.flows import ApplicationFlow, Flow, InterviewFlow, ResumeUploadFlow, UnlockFlow


@dataclass
class Disruption:
    """What a disruptor did, for the report."""

    kills: int = 0
    notes: list[str] = field(default_factory=list)


# A disruptor runs in its own thread while the flows are driven, until ``stop`` is set.
Disruptor = Callable[["object", threading.Event, random.Random, Disruption], None]


MIN_WORKER_KILLS = 3
MAX_WORKER_KILLS = 12


def kill_workers(world, stop: threading.Event, rng: random.Random, done: Disruption) -> None:
    """SIGKILL a random worker process every 4-10 s; the pool's supervisor starts a new one.

    One kill at a time, with time to recover between, as in Camunda's own chaos
    experiments: faster kills only measure the supervisor's crash-loop backoff. Runs
    while the flows are driven and on until at least ``MIN_WORKER_KILLS`` happened.
    """
    while done.kills < MAX_WORKER_KILLS and not (stop.is_set() and done.kills >= MIN_WORKER_KILLS):
        time.sleep(rng.uniform(4.0, 10.0))
        pids = world.worker_pids()
        if not pids:
            continue
        victim = rng.choice(pids)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        done.kills += 1


ENGINE_KILLS = 2


def kill_engine(world, stop: threading.Event, rng: random.Random, done: Disruption) -> None:
    """SIGKILL the engine twice, 2-5 s apart, and start it again on its data each time.

    The first kill falls while the flows are still driven. The kills do not stop early:
    a scenario can settle in less time than two restarts take (90 instances in 17 s), and
    stopping at ``stop`` then left it with one kill. The runner lets the instances settle
    again after the disruptor, so a late kill is checked as well.
    """
    while done.kills < ENGINE_KILLS:
        time.sleep(rng.uniform(2.0, 5.0))
        world.engine.kill_and_restart()
        done.kills += 1


def kill_webapp_workers(world, stop: threading.Event, rng: random.Random, done: Disruption) -> None:
    """SIGKILL the webapp's gunicorn worker every 3-6 s (3 to 8 times); gunicorn starts a new one.

    Requests in flight die with it: the payment sandbox's webhook deliveries and the
    flows' own calls must be retried, and nothing they carried may be lost or doubled.
    """
    while done.kills < 8 and not (stop.is_set() and done.kills >= 3):
        time.sleep(rng.uniform(3.0, 6.0))
        pids = world.webapp_worker_pids()
        if not pids:
            continue
        try:
            os.kill(rng.choice(pids), signal.SIGKILL)
        except ProcessLookupError:
            continue
        done.kills += 1


def fast_forward_engine_clock(world, stop: threading.Event, rng: random.Random, done: Disruption) -> None:
    """Run the engine's clock ten times fast, so retry backoff (engine time) passes in seconds.

    An outage outlasts every retry of a job only after minutes of backoff. At 10x, a payment
    job's 2 s of quick tries is 20 s of engine time, far below its 120 s timeout, so jobs
    still fail and retry as they would; only the waits between tries shrink. An engine whose
    clock cannot be moved (a cluster without clock control) waits them out in real time.
    """
    while not stop.wait(1.0):
        try:
            world.engine.client.advance_clock(9_000)
        except Exception as exc:  # noqa: BLE001 - the scenario still runs, only slower
            done.notes.append(f"engine clock not moved ({type(exc).__name__}); backoff waited in real time")
            return


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str  # the fault, in a line
    proves: str  # the guarantee it tests
    flows: Callable[[int, str, str], list[Flow]]  # (how many, webapp URL, a posting id) -> flows
    weight: float = 1.0  # share of the run's instances
    payment_faults: dict | None = None
    mail_faults: dict | None = None
    disruptor: Disruptor | None = None
    batch_webhooks: bool = False
    needs_restartable_engine: bool = False
    # The fault must outlast every retry, so the scenario is proved only if incidents arose.
    expects_incidents: bool = False


def mixed(count: int, web_url: str, posting_id: str) -> list[Flow]:
    """All four processes in turn: uploads, applications, card unlocks, interviews."""
    makers = [
        lambda: ResumeUploadFlow(web_url, "upload"),
        lambda: ApplicationFlow(web_url, "application", posting_id=posting_id),
        lambda: UnlockFlow(web_url, "unlock"),
        lambda: InterviewFlow(web_url, "interview", posting_id=posting_id),
    ]
    return [makers[i % len(makers)]() for i in range(count)]


def paid_unlocks(count: int, web_url: str, posting_id: str) -> list[Flow]:
    """Card unlocks; every third for a candidate who left, so compensation refunds the card."""
    return [UnlockFlow(web_url, "unlock", refund=(i % 3 == 2)) for i in range(count)]


def paid_and_approved_unlocks(count: int, web_url: str, posting_id: str) -> list[Flow]:
    """Card unlocks as ``paid_unlocks``, and every fourth paid with a card whose bank asks
    the employer to approve the charge, which the employer does."""
    return [
        UnlockFlow(
            web_url, "unlock", payment_method="pm_card_authenticationRequired", webhook_mode="approval"
        )
        if i % 4 == 3
        else UnlockFlow(web_url, "unlock", refund=(i % 3 == 2))
        for i in range(count)
    ]


def emailing(count: int, web_url: str, posting_id: str) -> list[Flow]:
    """Uploads and applications: each sends one or two emails."""
    return [
        ResumeUploadFlow(web_url, "upload")
        if i % 2 == 0
        else ApplicationFlow(web_url, "application", posting_id=posting_id)
        for i in range(count)
    ]


def async_unlocks(mode: str) -> Callable[[int, str, str], list[Flow]]:
    def build(count: int, web_url: str, posting_id: str) -> list[Flow]:
        return [
            UnlockFlow(web_url, "unlock", payment_method="pm_card_async", webhook_mode=mode)
            for _ in range(count)
        ]

    return build


SCENARIOS = [
    Scenario(
        "worker-sigkill",
        "a worker process SIGKILLed every 4-10 s (3 to 12 times)",
        "a job lost with its worker is handed out again after its timeout and done once",
        mixed,
        weight=1.5,
        disruptor=kill_workers,
    ),
    Scenario(
        "engine-sigkill",
        "the engine SIGKILLed and restarted twice",
        "instances resume from the engine's log; requests during the outage are retried",
        mixed,
        weight=1.0,
        disruptor=kill_engine,
        needs_restartable_engine=True,
    ),
    Scenario(
        "payment-faults",
        "payment API: 15% 5xx, 10% timeouts, 10% responses lost after commit",
        "a charge, refund or approval happens once however often it is retried (idempotency keys)",
        paid_and_approved_unlocks,
        weight=1.0,
        payment_faults={
            "rates": {"server_error": 0.15, "timeout": 0.10, "lost_response": 0.10},
            # Longer than the adapter's 10 s timeout: the client really never sees the answer.
            "delay_seconds": 11,
        },
    ),
    Scenario(
        "mail-429",
        "mail API answers 429 to 30% of sends (and 5xx to 5%)",
        "an email is sent once, after backoff, whatever the provider answered before",
        emailing,
        weight=1.2,
        mail_faults={"rates": {"too_many_requests": 0.30, "server_error": 0.05}},
    ),
    Scenario(
        "webhooks-twice-out-of-order",
        "payment webhooks delivered twice each, shuffled",
        "a duplicated or reordered webhook correlates once",
        async_unlocks("batch"),
        weight=0.8,
        batch_webhooks=True,
    ),
    Scenario(
        "message-before-subscription",
        "payment confirmed while the process is still in its charge step",
        "a message published before its subscription opens is buffered and correlated",
        async_unlocks("self"),
        weight=0.6,
        # The charge commits, then answers 2 s late: the webhook overtakes the process.
        payment_faults={"rates": {"lost_response": 1.0}, "delay_seconds": 2},
    ),
    Scenario(
        "provider-webhooks-webapp-kills",
        "the payment sandbox delivers its own webhooks, half of them twice, while the "
        "webapp's worker is SIGKILLed every 3-6 s",
        "a provider's event that meets a dead webapp is delivered again later and correlates once",
        async_unlocks("provider"),
        weight=0.6,
        payment_faults={"rates": {"duplicate_webhook": 0.5}},
        disruptor=kill_webapp_workers,
    ),
    # Last: its fast-forwarded engine clock would skew the engine's timestamps against the
    # wall clock in any scenario after it (the checker compares them for early messages).
    Scenario(
        "payment-outage",
        "payment API answers 5xx to every call until the fault is lifted",
        "a fault that outlasts every retry becomes an incident that says what to do; "
        "retried after the outage, the unlock completes and charges once",
        paid_unlocks,
        weight=0.5,
        payment_faults={"rates": {"server_error": 1.0}},
        disruptor=fast_forward_engine_clock,
        expects_incidents=True,
    ),
]


def by_name(names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]
