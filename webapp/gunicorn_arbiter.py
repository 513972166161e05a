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

# The arbiter checks its workers about once a second: checks this far apart mean it was not
# running in between. By gunicorn's own clock (monotonic), which stands still while the
# machine sleeps, as the workers' does.
PAUSED_AFTER_SECONDS = 10.0


class PauseTolerantArbiter(Arbiter):
    """``Arbiter``; after a pause, its workers have ``timeout`` seconds to report again."""

    last_check: float | None = None
    grace_until: float = 0.0

    def murder_workers(self) -> None:
        now = time.monotonic()
        if self.last_check is not None and now - self.last_check > PAUSED_AFTER_SECONDS:
            self.grace_until = now + (self.timeout or 0)
            self.log.warning(
                "The webapp did not run for %.0f s (paused); its workers have %s s from now to report",
                now - self.last_check,
                self.timeout,
            )
        self.last_check = now
        if now < self.grace_until:
            return
        super().murder_workers()
