"""A SIGKILLed component's temporary directory goes when the next one of its kind starts."""

from __future__ import annotations

import os
import subprocess
import sys

from hireflow.temp_dirs import owned_temp_dir


def an_ended_pid() -> int:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(ended.stdout)


def test_a_directory_whose_process_ended_goes_and_the_rest_stay(tmp_path):
    abandoned = tmp_path / f"hireflow-pool-{an_ended_pid()}-abc123"
    (abandoned / "worker-0" / "pymp-x").mkdir(parents=True)
    running = tmp_path / f"hireflow-pool-{os.getppid()}-def456"  # pytest's parent runs
    running.mkdir()
    other_kind = tmp_path / f"hireflow-webapp-metrics-{an_ended_pid()}-ghi789"
    other_kind.mkdir()
    not_ours = tmp_path / "hireflow-pool-notes"  # no pid in its name: not made by owned_temp_dir
    not_ours.mkdir()

    mine = owned_temp_dir("pool", root=tmp_path)

    assert mine.name.startswith(f"hireflow-pool-{os.getpid()}-") and mine.is_dir()
    assert not abandoned.exists()
    assert running.is_dir() and other_kind.is_dir() and not_ours.is_dir()


def test_a_link_is_not_followed_into_what_it_points_at(tmp_path):
    target = tmp_path / "kept"
    (target / "inside").mkdir(parents=True)
    (tmp_path / f"hireflow-pool-{an_ended_pid()}-abc123").symlink_to(target)

    owned_temp_dir("pool", root=tmp_path)

    assert (target / "inside").is_dir()
