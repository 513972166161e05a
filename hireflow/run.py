"""``make run``: start the engine, deploy the models, run workers and webapp in the foreground.

Ctrl-C stops the worker pool and the webapp. The engine keeps running with its data
(``make engine-stop`` stops it), so the next ``make run`` starts in seconds.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

from hireflow.camunda_rest import CamundaRestClient
from hireflow.engine import fetch, find_java, local_profile, start
from hireflow.paths import PROJECT_ROOT

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


def main() -> int:
    profile = local_profile()
    status = start(profile, fetch(), find_java())
    deploy_models(CamundaRestClient(profile.rest_url))
    print(status.describe(), flush=True)

    available = components_to_start()
    missing = [name for name, module in COMPONENTS if (name, module) not in available]
    if missing:
        print(f"Not built yet, so not started: {', '.join(missing)}.", flush=True)
    if not available:
        return 0
    children = [subprocess.Popen([sys.executable, "-m", module]) for _, module in available]
    print(f"Running {', '.join(n for n, _ in available)}. Ctrl-C stops them; the engine keeps running.")
    try:
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
