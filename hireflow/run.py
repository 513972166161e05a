"""``make run``: start the engine, deploy the models, run workers and webapp in the foreground.

Ctrl-C stops the worker pool and the webapp. The engine keeps running with its data
(``make engine-stop`` stops it), so the next ``make run`` starts in seconds.

When the pinned distribution cannot be fetched, ``make run`` falls back to the embedded
Zeebe engine (deploy/camunda/embedded) on the same gRPC port, and says so loudly: its
state lives in memory and ends with the run, and there is no Operate or Tasklist.
``HIREFLOW_REQUIRE_ENGINE=1`` refuses the fallback.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from hireflow.camunda_rest import CamundaRestClient
from hireflow.engine import DistributionUnavailable, fetch, find_java, local_profile, start
from hireflow.engine.embedded import EmbeddedEngine, EmbeddedEngineClient, embedded_version, fetch_embedded
from hireflow.paths import PROJECT_ROOT, data_root

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


def start_embedded_engine(profile, unavailable: DistributionUnavailable) -> EmbeddedEngine:
    """The fallback engine, on the local profile's gRPC port so workers find it as usual."""
    print(
        f"!! {unavailable}\n"
        f"!! Falling back to the embedded Zeebe engine {embedded_version()}: the real workflow engine,\n"
        "!! but its state lives in memory and ends with this run, and there is no Operate,\n"
        "!! Tasklist or REST v2. Set HIREFLOW_REQUIRE_ENGINE=1 to refuse the fallback.",
        flush=True,
    )
    engine = EmbeddedEngine(
        fetch_embedded(),
        find_java(),
        data_root() / "engine" / "embedded-engine.log",
        grpc_port=profile.grpc_port,
        control_port=profile.management_port,
    ).start()
    print(
        f"Embedded Zeebe engine: gRPC {engine.grpc_address}, control {engine.control_url}, "
        f"log {engine.log_path}",
        flush=True,
    )
    return engine


# Local defaults for the components; anything already set in the environment wins.
LOCAL_DEFAULTS = {
    "HIREFLOW_DEMO_DATA": "1",  # postings, employers and interviewers to try the processes with
    "HIREFLOW_ADMIN_TOKEN": "local-admin-token",  # only for this machine; production sets its own
}


def component_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the components run with: local defaults, then this one, then ``extra``.

    The payment sandbox delivers its webhooks to this webapp, as a provider would.
    """
    env = {**LOCAL_DEFAULTS, **os.environ, **(extra or {})}
    web_port = env.get("HIREFLOW_WEB_PORT", "5000")
    env.setdefault("PAYMENT_WEBHOOK_URL", f"http://127.0.0.1:{web_port}/webhooks/payments")
    return env


def run_components(extra_env: dict[str, str] | None = None) -> None:
    """Run every built component in the foreground until they end or Ctrl-C stops them."""
    available = components_to_start()
    missing = [name for name, module in COMPONENTS if (name, module) not in available]
    if missing:
        print(f"Not built yet, so not started: {', '.join(missing)}.", flush=True)
    env = component_environment(extra_env)
    children = [subprocess.Popen([sys.executable, "-m", module], env=env) for _, module in available]
    web = f"http://{env.get('HIREFLOW_WEB_HOST', '127.0.0.1')}:{env.get('HIREFLOW_WEB_PORT', '5000')}"
    print(
        f"Running {', '.join(n for n, _ in available)}. Ctrl-C stops them.\n"
        f"  webapp:       {web}/  (API: {web}/openapi.json, health: {web}/readyz)\n"
        f"  admin token:  {env['HIREFLOW_ADMIN_TOKEN']}  (HIREFLOW_ADMIN_TOKEN)\n"
        f"  metrics:      webapp http://127.0.0.1:{env.get('HIREFLOW_WEB_METRICS_PORT', '9465')}/metrics, "
        f"worker pool http://127.0.0.1:{env.get('HIREFLOW_WORKER_STATUS_PORT', '9464')}/metrics\n"
        "  try it:       the README's walk-through; sample resumes in docs/samples/",
        flush=True,
    )
    try:
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=60)


def main() -> int:
    profile = local_profile()
    try:
        dist = fetch()
    except DistributionUnavailable as unavailable:
        if os.environ.get("HIREFLOW_REQUIRE_ENGINE") == "1":
            raise
        embedded = start_embedded_engine(profile, unavailable)
        try:
            deploy_models(EmbeddedEngineClient(embedded.control_url))
            # The webapp reaches the embedded engine through its control port, not REST v2.
            run_components({"HIREFLOW_ENGINE_CONTROL_URL": embedded.control_url})
        finally:
            embedded.stop()  # its state is in memory: nothing would survive to the next run
        return 0
    status = start(profile, dist, find_java())
    deploy_models(CamundaRestClient(profile.rest_url))
    print(status.describe(), flush=True)
    run_components()
    print("The engine keeps running with its data; `make engine-stop` stops it.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
