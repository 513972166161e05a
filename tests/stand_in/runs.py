"""Runs until stopped, leaving its pid in ``$STAND_IN_PIDS`` so a test can see it is gone."""

import os
import time
from pathlib import Path

from hireflow.lifetime import end_with_parent

if __name__ == "__main__":
    end_with_parent("stand-in")  # first, as every component's main does
    Path(os.environ["STAND_IN_PIDS"], f"{os.getpid()}.pid").write_text("running")
    while True:
        time.sleep(1)
