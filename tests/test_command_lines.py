"""Every command a person types answers --help, refuses what it does not take, and does nothing else.

Some commands read no arguments at all, so ``--help`` did their work: ``python -m webapp``
served, ``python -m hireflow.run`` started everything, ``python -m hireflow.seed`` loaded
the demo data, and ``make lock``'s script rewrote constraints.txt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hireflow.paths import PROJECT_ROOT

# What a person runs, by hand or through make, compose and the Helm chart.
COMMANDS = [
    "webapp",
    "job_workers",
    "hireflow.run",
    "hireflow.seed",
    "hireflow.housekeeping",
    "hireflow.deploy_models",
    "hireflow.engine",
    "hireflow.model_checks",
    "hireflow.render_diagrams",
    "hireflow.healthcheck",
    "hireflow.sandboxes.payments",
    "hireflow.sandboxes.mail_capture",
    "chaos",
    "bench",
    "bench.soak",
]
# Started by another of hireflow's processes, with the arguments it gives them.
STARTED_BY_HIREFLOW = {
    "job_workers.worker",  # by the pool's supervisor
    "bench.pool",  # by the benchmark, as are the ones below
    "bench.pool_worker",
    "bench.peers.orchestration_sdk",
    "bench.peers.pyzeebe_default",
}
LOCK_SCRIPT = "tools/lock_dependencies.py"


def runnable_modules() -> set[str]:
    """The modules of hireflow's packages that run as ``python -m``."""
    found = set()
    for package in ("webapp", "job_workers", "hireflow", "chaos", "bench"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if path.name == "__main__.py":
                found.add(module.removesuffix(".__main__"))
            elif 'if __name__ == "__main__":' in path.read_text():
                found.add(module)
    return found


def run(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a command with its data and cache in ``tmp_path``; kill it and all it started after 60 s."""
    env = {
        **os.environ,
        "HIREFLOW_DATA_DIR": str(tmp_path / "data"),
        "HIREFLOW_CACHE_DIR": str(tmp_path / "cache"),
    }
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{arguments} ran on instead of answering: {stdout[-500:]} {stderr[-500:]}")
    return subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr)


def test_every_runnable_module_is_a_command_or_started_by_hireflow():
    assert runnable_modules() == set(COMMANDS) | STARTED_BY_HIREFLOW


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_the_command_and_does_nothing_else(command, tmp_path):
    answer = run(["-m", command, "--help"], tmp_path)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith(f"usage: python -m {command} ")
    assert len(answer.stdout.splitlines()) > 3  # a description, not only the usage line
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_refused_before_anything_starts(command, tmp_path):
    answer = run(["-m", command, "--no-such-option"], tmp_path)
    # argparse's refusal (a command that needs an argument names that one first).
    assert answer.returncode == 2 and f"python -m {command}: error:" in answer.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()


def test_help_of_the_lock_script_leaves_the_lock_alone(tmp_path):
    lock = PROJECT_ROOT / "constraints.txt"
    before = lock.read_bytes()
    answer = run([LOCK_SCRIPT, "--help"], tmp_path)
    assert answer.returncode == 0 and answer.stdout.startswith(f"usage: python {LOCK_SCRIPT} ")
    assert lock.read_bytes() == before
