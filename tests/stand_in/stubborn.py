"""Runs until killed: SIGTERM only starts a long shutdown, as a worker finishing its jobs."""

import os
import signal
import time
from pathlib import Path

from hireflow.lifetime import end_with_parent

if __name__ == "__main__":
    end_with_parent("stand-in")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Path(os.environ["STAND_IN_PIDS"], f"{os.getpid()}.pid").write_text("running")
    while True:
        time.sleep(1)
