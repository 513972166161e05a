"""``make run``: start the engine, deploy the models, run workers and webapp in the foreground.

Ctrl-C (or SIGTERM, or closing the terminal) stops the sandboxes, the worker pool and the
webapp; when one of them ends by itself, the others are stopped too. The engine keeps
running with its data (``make engine-stop`` stops it), so the next ``make run`` starts in
seconds.

When the pinned distribution cannot be fetched, ``make run`` falls back to the embedded
Zeebe engine (deploy/camunda/embedded) on the same gRPC port, and says so loudly: there is
no Operate or Tasklist. It keeps its log in ``var/engine/``, and the next run replays it,
so running instances go on where they were.
``HIREFLOW_REQUIRE_ENGINE=1`` refuses the fallback.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from hireflow.camunda_connection import ConnectionSettingsError
from hireflow.camunda_rest import CamundaRestClient
from hireflow.cli import command_line
from hireflow.engine import DistributionUnavailable, fetch, find_java, local_profile, start
from hireflow.engine.embedded import (
    DEFAULT_HEAP,
    EmbeddedEngine,
    EmbeddedEngineClient,
    EngineOutOfMemory,
    EngineRefused,
    HeapWatch,
    PortTaken,
    embedded_version,
    fetch_embedded,
)
from hireflow.engine.process import start_timeout
from hireflow.lifetime import child_environment
from hireflow.paths import PROJECT_ROOT, data_root
from hireflow.sandboxes.payment_webhooks import WebhookSettings
from hireflow.settings import SettingError, whole_number
from hireflow.store import Database
from job_workers.__main__ import check_settings as check_pool_settings
from webapp.__main__ import check_app_settings, server_settings

MODELS_DIR = PROJECT_ROOT / "bpmn"
MODEL_SUFFIXES = (".bpmn", ".dmn", ".form")
# (what a person calls it, the module `python -m` runs); each starts once it exists.
COMPONENTS = [
    ("payment sandbox", "hireflow.sandboxes.payments"),
    ("mail capture", "hireflow.sandboxes.mail_capture"),
    ("worker pool", "job_workers"),
    ("webapp", "webapp"),
]


def runnable(module: str) -> bool:
    """True if ``python -m module`` can run: a module, or a package with ``__main__``."""
    spec = importlib.util.find_spec(module.split(".")[0]) and importlib.util.find_spec(module)
    if spec is None:
        return False
    return (
        spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__") is not None
    )


def components_to_start() -> list[tuple[str, str]]:
    """The components ``make run`` starts: those built so far."""
    return [(name, module) for name, module in COMPONENTS if runnable(module)]


def model_files(folder: Path = MODELS_DIR) -> list[Path]:
    """Every BPMN, DMN and form file under ``folder``, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.suffix in MODEL_SUFFIXES)


def deploy_models(camunda: CamundaRestClient, folder: Path = MODELS_DIR) -> None:
    """Deploy all models as one deployment, so forms and decisions ship with their processes."""
    files = model_files(folder)
    if not files:
        print(f"No models in {folder} to deploy yet.", flush=True)
        return
    result = camunda.deploy(files)
    print(f"Deployed {len(files)} model(s) from {folder} (deployment {result['deploymentKey']}).", flush=True)


def embedded_state_file() -> Path:
    """Where ``make run``'s embedded engine keeps its log, so instances outlive the run."""
    return data_root() / "engine" / "embedded-engine-state.log"


HEAP_SIZE = re.compile(r"[1-9][0-9]*[mMgG]")


def embedded_engine_heap(env: Mapping[str, str] = os.environ) -> str:
    """The embedded engine's Java heap (``HIREFLOW_EMBEDDED_ENGINE_HEAP``, ``1g`` by default).

    The engine replays its log at start and indexes its entries on the heap, so a
    long-lived ``make run`` may need more heap as instances accumulate (or ``make
    clean-data``); its state is in RocksDB, off the heap.
    """
    value = env.get("HIREFLOW_EMBEDDED_ENGINE_HEAP", "").strip() or DEFAULT_HEAP
    if not HEAP_SIZE.fullmatch(value):
        raise SettingError(
            f"HIREFLOW_EMBEDDED_ENGINE_HEAP={value!r} is not a heap size: give a whole number "
            "with m or g, such as 1536m or 2g"
        )
    return value


def start_embedded_engine(
    profile, unavailable: DistributionUnavailable, heap: str = DEFAULT_HEAP
) -> EmbeddedEngine:
    """The fallback engine, on the local profile's gRPC port so workers find it as usual."""
    print(
        f"!! {unavailable}\n"
        f"!! Falling back to the embedded Zeebe engine {embedded_version()}: the real workflow engine,\n"
        "!! with no Operate, Tasklist or REST v2. Set HIREFLOW_REQUIRE_ENGINE=1 to refuse the fallback.",
        flush=True,
    )
    state_file = embedded_state_file()
    kept = state_file.stat().st_size if state_file.exists() else 0
    if kept:
        print(
            f"Replaying the engine log the last run kept ({kept / 2**20:.1f} MB; the engine's heap is "
            f"{heap}: HIREFLOW_EMBEDDED_ENGINE_HEAP raises it)...",
            flush=True,
        )
    engine = EmbeddedEngine(
        fetch_embedded(),
        find_java(),
        data_root() / "engine" / "embedded-engine.log",
        grpc_port=profile.grpc_port,
        control_port=profile.management_port,
        state_file=state_file,
        heap=heap,
    ).start()
    print(
        f"Embedded Zeebe engine: gRPC {engine.grpc_address}, control {engine.control_url}, "
        f"log {engine.log_path}, state {state_file} (`make clean-data` deletes it)",
        flush=True,
    )
    return engine


def close_items_of_the_last_run(env: dict[str, str]) -> None:
    """On an embedded engine with a new log, end the items the store still has running.

    Their instances are gone: they ran on an engine whose log was deleted (``make
    clean-data`` keeps neither), or before 2026-12-01, when the embedded engine kept its
    state in memory only. Run once the components are started: an unlock's card charges
    are given back through the payment API (``env``), which the payment sandbox serves.
    """
    # Imported here: the webapp's domain rules are needed by this one step only.
    from hireflow.adapters.payments import StripeStylePaymentGateway
    from job_workers.services import calendar_from_environment
    from webapp.domain import close_items_of_a_lost_engine

    db = Database()
    db.create_schema()
    payments = StripeStylePaymentGateway(
        env.get("PAYMENT_API_URL", "http://127.0.0.1:8101"),
        env.get("PAYMENT_API_KEY", "sk_test_hireflow_local"),
    )
    visited = close_items_of_a_lost_engine(db, calendar_from_environment(db), payments)
    ended = sum(1 for item in visited if item.newly_ended)
    if ended:
        print(
            f"Marked {ended} item(s) as ended: the store has them running, but the embedded engine "
            "starts on a new log, so no engine runs their instances any more.",
            flush=True,
        )
    released = sum(1 for item in visited if item.given_back.get("booking_released"))
    credits = sum(item.given_back.get("credits_returned", 0) for item in visited)
    refunded = sum(1 for item in visited if item.given_back.get("card_refunded_cents"))
    if released or credits or refunded:
        print(
            f"Gave back what such items held: {released} interview booking(s) freed the panel's time, "
            f"{credits} credit(s) went back to employers, {refunded} unlock(s) refunded to the card.",
            flush=True,
        )
    for item in visited:
        if "card_charges" in item.given_back:
            left = item.given_back["card_charges"]
            print(f"!! Unlock {item.business_id}: card charges {left}.", flush=True)


# Local defaults for the components; anything already set in the environment wins.
LOCAL_DEFAULTS = {
    "HIREFLOW_DEMO_DATA": "1",  # postings, employers and interviewers to try the processes with
    "HIREFLOW_ADMIN_TOKEN": "local-admin-token",  # only for this machine; production sets its own
    "SENDGRID_ACTIVITY_LAG_SECONDS": "0",  # the local mail capture lists a mail at once
}


def component_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the components run with: local defaults, then this one, then ``extra``.

    The payment sandbox delivers its webhooks to this webapp, as a provider would.
    """
    env = {**LOCAL_DEFAULTS, **os.environ, **(extra or {})}
    web_port = env.get("HIREFLOW_WEB_PORT", "5000")
    env.setdefault("PAYMENT_WEBHOOK_URL", f"http://127.0.0.1:{web_port}/webhooks/payments")
    return env


def run_components(
    extra_env: dict[str, str] | None = None,
    components: list[tuple[str, str]] | None = None,
    after_start: Callable[[dict[str, str]], None] | None = None,
    engine: EmbeddedEngine | None = None,
) -> int:
    """Run the components in the foreground until Ctrl-C, SIGTERM or one of them ends.

    Like ``docker compose up``: when one component ends by itself, the others are stopped
    too, and the return code is 1, so a crash is seen at once and not half the product
    left running. Stopped on request, the return code is 0. ``after_start`` is called
    with the components' environment once they are started. ``engine``, the embedded
    engine ``make run`` started, is watched too: when it ends, the components stop, and
    as its heap fills, make run warns before it runs out.
    """
    available = components_to_start() if components is None else components
    missing = [name for name, module in COMPONENTS if (name, module) not in available]
    if components is None and missing:
        print(f"Not built yet, so not started: {', '.join(missing)}.", flush=True)
    env = component_environment(extra_env)
    if refuse_busy_ports(env, [name for name, _ in available]):
        return 2
    # Each ends with this process, even if it is SIGKILLed (hireflow.lifetime).
    children = {
        name: subprocess.Popen([sys.executable, "-m", module], env=child_environment(env))
        for name, module in available
    }
    web = f"http://{env.get('HIREFLOW_WEB_HOST', '127.0.0.1')}:{env.get('HIREFLOW_WEB_PORT', '5000')}"
    banner = [
        f"Running {', '.join(children)}. Ctrl-C stops them.",
        f"  webapp:       {web}/  (API: {web}/openapi.json, health: {web}/readyz)",
        f"  admin token:  {env['HIREFLOW_ADMIN_TOKEN']}  (HIREFLOW_ADMIN_TOKEN)",
        f"  metrics:      webapp http://127.0.0.1:{env.get('HIREFLOW_WEB_METRICS_PORT', '9465')}/metrics, "
        f"worker pool http://127.0.0.1:{env.get('HIREFLOW_WORKER_STATUS_PORT', '9464')}/metrics",
        "  try it:       the README's walk-through; sample resumes in docs/samples/",
    ]
    if env.get("HIREFLOW_ENGINE_CONTROL_URL"):
        banner.append(f"  tasks:        {web}/tasks  (people's tasks: the embedded engine has no Tasklist)")
    print("\n".join(banner), flush=True)
    ended: tuple[str, int] | None = None
    heap_watch = HeapWatch(engine) if engine is not None else None
    try:
        if after_start is not None:
            after_start(env)
        while (ended := first_ended(children) or engine_ended(engine)) is None:
            if heap_watch is not None and (warning := heap_watch.check()):
                print(warning, flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_children(children)
    if ended:
        # Imported here: the pool's words for how a process ended, needed on this path only.
        from job_workers.supervisor import how_it_ended

        name, code = ended
        if engine is not None and name == ENGINE:
            why = (
                engine.out_of_memory_advice() if engine.ran_out_of_memory() else f"its log: {engine.log_path}"
            )
            print(f"!! The engine {how_it_ended(code)}, so the components were stopped; {why}", flush=True)
            return 1
        print(
            f"!! The {name} {how_it_ended(code)}, so the others were stopped. Its log is above.",
            flush=True,
        )
        return 1
    return 0


ENGINE = "engine"


def engine_ended(engine: EmbeddedEngine | None) -> tuple[str, int] | None:
    """``("engine", its exit code)`` once the watched embedded engine has ended, else None."""
    code = engine.exit_code() if engine is not None else None
    return None if code is None else (ENGINE, code)


def first_ended(children: dict[str, subprocess.Popen]) -> tuple[str, int] | None:
    """The name and exit code of a child that has ended, if any has."""
    for name, child in children.items():
        if child.poll() is not None:
            return name, child.returncode
    return None


def component_ports(env: dict[str, str]) -> dict[str, list[tuple[int, str]]]:
    """The local ports each component listens on, each with the setting that moves it."""
    return {
        "payment sandbox": [(8101, "a fixed port")],
        "mail capture": [(8102, "a fixed port")],
        "worker pool": [
            (whole_number(env, "HIREFLOW_WORKER_STATUS_PORT", 9464, minimum=0), "HIREFLOW_WORKER_STATUS_PORT")
        ],
        "webapp": [
            (whole_number(env, "HIREFLOW_WEB_PORT", 5000, minimum=0), "HIREFLOW_WEB_PORT"),
            (whole_number(env, "HIREFLOW_WEB_METRICS_PORT", 9465, minimum=0), "HIREFLOW_WEB_METRICS_PORT"),
        ],
    }


def check_component_settings(env: Mapping[str, str]) -> None:
    """Read every setting the components read at their start; the first bad one raises
    ``SettingError`` (or ``ConnectionSettingsError``), naming it.

    Before the engine starts, which may take minutes: a mistyped number then stops ``make
    run`` at once with one line, not a component after the engine's start (and with it the
    others). Each component still checks its own when started alone.
    """
    component_ports(env)
    WebhookSettings.from_environment(env)  # the payment sandbox's
    check_pool_settings(env)
    server_settings(env)
    check_app_settings(env)


def refuse_busy_ports(env: dict[str, str], names: list[str]) -> bool:
    """Whether a port of the components ``names`` is taken; if so, say which and what to do."""
    busy = busy_ports(env, names)
    for name, port, setting in busy:
        print(f"!! Port {port}, where the {name} listens ({setting}), is taken by another program.")
    if busy:
        print(
            "!! Is an earlier `make run` still running? Stop it (Ctrl-C in its terminal; "
            "`ss -ltnp` shows what holds a port), or move the port. Nothing was started.",
            flush=True,
        )
    return bool(busy)


def busy_ports(env: dict[str, str], names: list[str]) -> list[tuple[str, int, str]]:
    """The ports of the components ``names`` that another program already listens on.

    Checked before anything starts: otherwise the webapp retries for a while, gives up,
    and takes the rest down with it, and the cause is buried in its log.
    """
    busy = []
    for name in names:
        for port, setting in component_ports(env).get(name, []):
            with socket.socket() as probe:
                # As the servers bind: a port in TIME_WAIT is free, a listening one is not.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    busy.append((name, port, setting))
    return busy


def stop_children(children: dict[str, subprocess.Popen], grace_seconds: float = 60.0) -> None:
    """SIGTERM every child still running, wait for them, and kill any that outlives the grace.

    A second Ctrl-C while they finish (running jobs, open requests) kills those still
    running at once, as with ``docker compose``.
    """
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    try:
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"!! The {name} did not stop within {grace_seconds:.0f} s; killing it.", flush=True)
                child.kill()
                child.wait()
    except KeyboardInterrupt:
        running = [name for name, child in children.items() if child.poll() is None]
        print(f"!! Interrupted again: killing {', '.join(running) or 'nothing'}.", flush=True)
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()


def stop_on_termination() -> None:
    """Treat SIGTERM and SIGHUP (a closed terminal) as Ctrl-C, so nothing is left running.

    SIGINT too: a background job of a shell script starts with it ignored, and Python then
    leaves it so, while the pool and the webapp set their own handlers. Ctrl-C (SIGINT to
    the whole process group) then stopped them, and `make run` took that for a crash.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)


def main() -> int:
    command_line("hireflow.run", __doc__).parse_args()
    stop_on_termination()
    try:
        check_component_settings(component_environment())
        start_timeout()
        heap = embedded_engine_heap()
    except (SettingError, ConnectionSettingsError) as exc:
        print(f"!! {exc}. Nothing was started.", flush=True)
        return 2
    # Before the engine too: it takes some seconds to start, replay and deploy, only to be
    # stopped again when the webapp's port turns out to be taken.
    if refuse_busy_ports(component_environment(), [name for name, _ in components_to_start()]):
        return 2
    profile = local_profile()
    try:
        dist = fetch()
    except DistributionUnavailable as unavailable:
        if os.environ.get("HIREFLOW_REQUIRE_ENGINE") == "1":
            raise
        state_kept = embedded_state_file().exists()
        try:
            embedded = start_embedded_engine(profile, unavailable, heap)
        except PortTaken as taken:
            print(f"!! {taken} Nothing was started.", flush=True)
            return 2
        except EngineRefused as refused:
            print(f"!! {refused}. Nothing was started.", flush=True)
            return 2
        except EngineOutOfMemory as exhausted:
            print(f"!! {exhausted}. Nothing else was started.", flush=True)
            return 2
        try:
            deploy_models(EmbeddedEngineClient(embedded.control_url))
            # A new engine log: whatever the store says is running, no engine runs it.
            sweep = None if state_kept else close_items_of_the_last_run
            # The webapp reaches the embedded engine through its control port, not REST v2.
            return run_components(
                {"HIREFLOW_ENGINE_CONTROL_URL": embedded.control_url}, after_start=sweep, engine=embedded
            )
        finally:
            embedded.stop()  # its log stays in var/engine: the next run replays it
    status = start(profile, dist, find_java())
    deploy_models(CamundaRestClient(profile.rest_url))
    print(status.describe(), flush=True)
    code = run_components()
    print("The engine keeps running with its data; `make engine-stop` stops it.", flush=True)
    return code


def cli() -> int:
    """``main``, with a Ctrl-C before the components run (a long first start) as one line.

    Ctrl-C reaches the whole process group: an engine this run started in that group and
    the components stop on their own; a pinned engine keeps running in its own session.
    """
    try:
        return main()
    except KeyboardInterrupt:
        print("\n!! Interrupted.", flush=True)
        return 130  # 128 + SIGINT, as a shell reports it


if __name__ == "__main__":
    sys.exit(cli())
