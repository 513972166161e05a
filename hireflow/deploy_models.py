"""``python -m hireflow.deploy_models``: deploy bpmn/ to a cluster once it answers.

The release step of compose (a one-shot service) and Kubernetes (a Job): it reads the
same connection settings as the workers (``CAMUNDA_REST_ADDRESS``, ``CAMUNDA_AUTH_STRATEGY``
and credentials; see ``hireflow.camunda_connection``), waits for the cluster up to
``--wait`` seconds, deploys every model as one deployment and exits 0. Deploying unchanged
models again is harmless: Zeebe keeps the existing versions.

Exit codes: 0 deployed, 1 the cluster refused the models, 2 bad settings or no models,
3 no cluster in time.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import requests

from hireflow.backoff import Backoff
from hireflow.camunda_connection import (
    ConnectionSettings,
    ConnectionSettingsError,
    TokenUnavailable,
    configure_session,
)
from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.cli import command_line
from hireflow.engine.embedded import EmbeddedEngineClient
from hireflow.logs import configure_command_logging
from hireflow.run import MODELS_DIR, model_files

log = logging.getLogger("hireflow.deploy_models")


def deploy_when_ready(client: CamundaRestClient, files: list[Path], wait_seconds: float) -> dict:
    """Deploy ``files`` as one deployment, retrying with backoff while the cluster is not there yet."""
    deadline = time.monotonic() + wait_seconds
    backoff = Backoff(base_seconds=1.0, cap_seconds=15.0)
    attempt = 0
    while True:
        attempt += 1
        try:
            return client.deploy(files)
        except CamundaApiError as exc:
            if exc.status not in (429, 502, 503, 504):
                raise
            reason = f"cluster answered {exc.status}"
        except (requests.ConnectionError, requests.Timeout, TokenUnavailable) as exc:
            if isinstance(exc, TokenUnavailable) and exc.rejected:
                raise
            reason = str(exc).splitlines()[0]
        delay = backoff.delay(attempt)
        if time.monotonic() + delay > deadline:
            raise TimeoutError(f"the cluster did not take the models within {wait_seconds:.0f} s: {reason}")
        log.info("cluster not ready (%s); trying again in %.1f s", reason, delay)
        time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = command_line("hireflow.deploy_models", __doc__)
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="folder of models (default: bpmn/)")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the cluster")
    args = parser.parse_args(argv)
    try:
        settings = ConnectionSettings.from_environment()
    except ConnectionSettingsError as exc:
        log.error("%s", exc)
        return 2
    files = model_files(args.models)
    if not files:
        log.error("no models under %s", args.models)
        return 2
    control_url = os.environ.get("HIREFLOW_ENGINE_CONTROL_URL")
    if control_url:  # the embedded engine of `make run`'s fallback, as the webapp also honours
        log.info("deploying %s to the embedded engine at %s", args.models, control_url)
        client: CamundaRestClient = EmbeddedEngineClient(control_url)
    else:
        log.info("deploying %s to %s", args.models, settings.describe())
        session = configure_session(requests.Session(), settings)
        client = CamundaRestClient(settings.rest_address, session=session)
    try:
        result = deploy_when_ready(client, files, args.wait)
    except TimeoutError as exc:
        log.error("%s", exc)
        return 3
    except (CamundaApiError, TokenUnavailable) as exc:
        log.error("the cluster refused the deployment: %s", exc)
        return 1
    log.info("deployed %d model file(s) as deployment %s", len(files), result.get("deploymentKey"))
    return 0


if __name__ == "__main__":
    # Here, not in main(): a caller of main() in its own process keeps its own logging.
    configure_command_logging("model deployment")
    sys.exit(main())
