"""gunicorn's arbiter, which does not take its workers for stuck after a pause of its own.

gunicorn kills a worker that has not told the arbiter it is alive within ``timeout``
seconds (WORKER TIMEOUT, then "Perhaps out of memory?"). After Ctrl-Z on ``make run``, a
SIGSTOP or a paused container, the arbiter and its workers were stopped together, and
on waking every worker looks that late through no fault of its own. The worker pool's
supervisor gives its workers the same grace (``job_workers.supervisor``).
"""

from __future__ import annotations

import time

from gunicorn.arbiter import Arbiter

from hireflow.lifetime import PauseWatch


class PauseTolerantArbiter(Arbiter):
    """``Arbiter``; after a pause, its workers have ``timeout`` seconds to report again."""

    def __init__(self, app) -> None:
        super().__init__(app)
        # By gunicorn's own clock (monotonic), which its workers report by. It checks them
        # about once a second.
        self.pause_watch = PauseWatch(time.monotonic)
        self.grace_until = 0.0

    def murder_workers(self) -> None:
        paused = self.pause_watch.paused_for()
        if paused:
            self.grace_until = self.pause_watch.last_check + (self.timeout or 0)
            self.log.warning(
                "The webapp did not run for %.0f s (paused); its workers have %s s from now to report",
                paused,
                self.timeout,
            )
        if self.pause_watch.last_check < self.grace_until:
            return
        super().murder_workers()
