"""A component ends with the process that started it, even when that one is SIGKILLed.

``make run`` starts the components, and the pool's supervisor its worker processes. Both
stop them on Ctrl-C or SIGTERM. But a launcher killed outright (``kill -9``, the OOM
killer) can do nothing, and its components would keep running: holding their ports, so
the next ``make run`` refuses to start, and taking jobs nobody watches.

So a launcher puts its pid in ``HIREFLOW_PARENT_PID`` (``child_environment``), and the
component's ``main`` calls ``end_with_parent`` first thing. It asks Linux for SIGTERM when
its parent ends (``PR_SET_PDEATHSIG``), and SIGTERM stops it as usual: running jobs
finish, servers close. A component started in any other way (a container, a shell) has no
such variable and is not affected.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

PARENT_PID_VARIABLE = "HIREFLOW_PARENT_PID"
# From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


class PauseWatch:
    """Notices that this process did not run for a while: Ctrl-Z, SIGSTOP, a paused VM.

    Its owner checks every second or so; checks far further apart than that mean it was
    stopped in between, and so, most likely, were the workers it watches.
    """

    def __init__(self, clock: Callable[[], float], paused_after_seconds: float = 10.0):
        self.clock = clock
        self.paused_after_seconds = paused_after_seconds
        self.last_check = clock()

    def paused_for(self) -> float:
        """Seconds since the last check if they mean a pause, else 0; counts this check."""
        now = self.clock()
        gap, self.last_check = now - self.last_check, now
        return gap if gap > self.paused_after_seconds else 0.0


def process_running(pid: int) -> bool:
    """Whether the process ``pid`` runs (another user's too); a zombie has ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has ended; only its parent (init, for an orphan) has not read its exit code.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):  # gone meanwhile, or no /proc here: as kill said
        return True


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a child that is to end with this process (see ``end_with_parent``).

    Start the child from the main thread: Linux signals it when the thread that started it
    ends, which for any other thread may be long before this process does.
    """
    return {**env, PARENT_PID_VARIABLE: str(os.getpid())}


def end_with_parent(name: str, env: Mapping[str, str] = os.environ) -> None:
    """Get SIGTERM when the process in ``HIREFLOW_PARENT_PID`` ends; exit if it has already.

    Call it first in a component's ``main``, before anything starts that would have to be
    stopped. Without the variable, or off Linux, it does nothing. Linux sends the signal
    when the thread that started this process ends: the launchers start their children
    from their main thread, which lives as long as they do.
    """
    value = env.get(PARENT_PID_VARIABLE, "")
    if not value.isdigit() or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        print(f"{name}: cannot ask to end with its parent: {os.strerror(error)}", file=sys.stderr, flush=True)
        return
    # Asked after the request above, so a parent that ends in between is not missed: this
    # process then belongs to another (init, or a subreaper), and no signal will come.
    if os.getppid() != int(value):
        print(
            f"{name} not started: the process that started it (pid {value}) has ended",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(0)
