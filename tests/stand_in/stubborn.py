"""Runs until killed: SIGTERM only starts a long shutdown, as a worker finishing its jobs.

It ignores the SIGTERM ``end_with_parent`` asks for too, so it watches its parent itself:
a test that fails leaves no stand-in behind once its ``make run`` is gone.
"""

import os
import signal
import time
from pathlib import Path

if __name__ == "__main__":
    parent = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Path(os.environ["STAND_IN_PIDS"], f"{os.getpid()}.pid").write_text("running")
    while os.getppid() == parent:
        time.sleep(0.2)
