"""Components end with the process that started them, even when it is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hireflow.lifetime import PARENT_PID_VARIABLE, child_environment, process_running
from hireflow.paths import PROJECT_ROOT
from hireflow.run import COMPONENTS

# Starts a child that is to end with it, prints the child's pid, and waits to be killed.
LAUNCHER = """
import subprocess, sys, time
from hireflow.lifetime import child_environment
import os
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=child_environment(os.environ))
print(child.pid, flush=True)
time.sleep(600)
"""
ENDS_WITH_PARENT = """
import signal, sys, time
from hireflow.lifetime import end_with_parent
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
end_with_parent("test child")
time.sleep(600)
"""


def wait_until_ended(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while process_running(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"pid {pid} still ran {timeout:.0f} s after its parent was killed")
        time.sleep(0.1)


def python_environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **extra}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_ends_when_the_process_that_started_it_is_sigkilled():
    env = python_environment()
    env.pop(PARENT_PID_VARIABLE, None)
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, ENDS_WITH_PARENT], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(launcher.stdout.readline())
        time.sleep(1)  # the child asks for its signal first thing; give it time to
        assert process_running(child)
    finally:
        launcher.kill()
        launcher.wait()
    wait_until_ended(child)


def test_the_childs_environment_names_this_process_and_keeps_the_rest():
    env = child_environment({"KEPT": "1", PARENT_PID_VARIABLE: "12"})
    assert env == {"KEPT": "1", PARENT_PID_VARIABLE: str(os.getpid())}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("module", [module for _, module in COMPONENTS] + ["job_workers.worker"])
def test_a_component_whose_launcher_has_ended_starts_nothing(module, tmp_path):
    # Its launcher ended between starting it and its first line: the component must not run
    # on unwatched, holding its ports. Pid 1 (init) stands for the launcher: it is never this
    # process's parent here.
    env = python_environment(**{PARENT_PID_VARIABLE: "1", "HIREFLOW_DATA_DIR": str(tmp_path)})
    ended = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert ended.returncode == 0, ended.stderr
    assert "not started: the process that started it (pid 1) has ended" in ended.stderr
    assert not any(tmp_path.iterdir()), "nothing was written before the check"


def test_without_a_launcher_a_component_runs_as_usual(tmp_path):
    env = python_environment(HIREFLOW_DATA_DIR=str(tmp_path))
    env.pop(PARENT_PID_VARIABLE, None)
    script = "from hireflow.lifetime import end_with_parent\nend_with_parent('test')\nprint('ran')"
    ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "ran\n", "")
