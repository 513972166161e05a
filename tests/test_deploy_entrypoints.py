"""The images' commands work: each Dockerfile target's CMD runs here as a plain process (issue 7).

No container engine exists on these machines, so each target's CMD, ENV and HEALTHCHECK
are read from the Dockerfile and run as they are, with only what a container would
provide swapped for local values: the interpreter, the data folder, free ports for the
exposed ones, loopback for 0.0.0.0, and the test engine for the cluster. A long-running
target must pass its own HEALTHCHECK and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hireflow.engine.embedded import free_ports_for
from hireflow.paths import PROJECT_ROOT
from tests.deploy_files import Stage, dockerfile_stages

STAGES = dockerfile_stages()
LOCAL_ONLY = {"HIREFLOW_WEB_HOST", "HIREFLOW_WORKER_STATUS_HOST", "HIREFLOW_SANDBOX_HOST"}


def localise(stage: Stage, tmp_path: Path, process_engine) -> tuple[list[str], list[str], dict[str, str]]:
    """The stage's command, health check and environment, fitted to this machine."""
    ports = {port: str(chosen) for port, chosen in free_ports_for(stage.exposed).items()}

    def fit(token: str) -> str:
        if token == "python":
            return sys.executable
        for original, local in ports.items():
            token = token.replace(f":{original}/", f":{local}/")
            if token == original:
                token = local
        return token

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "ZEEBE_", "HIREFLOW_"))}
    env = {**base, **{k: fit(v) for k, v in stage.env.items()}}
    env.update({k: "127.0.0.1" for k in LOCAL_ONLY if k in env})
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),  # the image's /app
            "HIREFLOW_DATA_DIR": str(tmp_path / "data"),
            "HIREFLOW_FILES_DIR": str(tmp_path / "data" / "files"),
            "HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'domain.sqlite3'}",
            "ZEEBE_GRPC_ADDRESS": process_engine.grpc_address,
            "HIREFLOW_ENGINE_CONTROL_URL": process_engine.control_url,
            "HIREFLOW_WORKER_PROCESSES": "1",
        }
    )
    if not process_engine.control_url:  # a real cluster: its REST API
        env["CAMUNDA_REST_ADDRESS"] = process_engine.client.rest_url
    return [fit(t) for t in stage.cmd], [fit(t) for t in stage.healthcheck], env


def healthy(command: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode == 0


@pytest.mark.engine
@pytest.mark.parametrize("target", ["workers", "webapp", "payment-sandbox", "mail-capture"])
def test_a_long_running_image_command_starts_reports_healthy_and_stops_on_sigterm(
    target, process_engine, tmp_path
):
    command, healthcheck, env = localise(STAGES[target], tmp_path, process_engine)
    log_path = tmp_path / f"{target}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while not healthy(healthcheck, env):
            assert process.poll() is None, f"{target} exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"{target} never became healthy:\n{log_path.read_text()}"
            time.sleep(0.5)
        if target == "webapp":  # ready, too: it reaches the engine and its database
            readiness = [*healthcheck[:-1], healthcheck[-1].replace("/healthz", "/readyz")]
            assert healthy(readiness, env), log_path.read_text()
    finally:
        process.terminate()
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, f"{target} did not stop cleanly on SIGTERM ({code}):\n{log_path.read_text()}"


@pytest.mark.engine
def test_the_model_deploy_image_command_deploys_bpmn_and_exits_0(process_engine, tmp_path):
    command, _, env = localise(STAGES["deploy-models"], tmp_path, process_engine)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployed" in result.stderr and "as deployment" in result.stderr
    deployed = {d["processDefinitionId"] for d in process_engine.client.search_process_definitions()}
    assert {"resume-upload", "resume-submission", "resume-unlock", "interview-scheduling"} <= deployed
