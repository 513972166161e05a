"""The real worker process with one more task, ``test.held-job``, which the test steers.

With ``STAND_IN_HOLD=1`` the task never finishes (the process holds the job until it is
killed); otherwise it completes at once. Every product router is there too, as in the pool.
"""

import os
import time

from pyzeebe import ZeebeTaskRouter

from job_workers.services import Services
from job_workers.worker import ROUTER_BUILDERS, main

HELD_JOB_TYPE = "test.held-job"
# Far longer than the test waits: the job comes back only if it is handed back.
HELD_JOB_TIMEOUT_MS = 600_000


def build_router(services: Services) -> ZeebeTaskRouter:
    router = ZeebeTaskRouter()
    hold = os.environ.get("STAND_IN_HOLD") == "1"

    @router.task(task_type=HELD_JOB_TYPE, timeout_ms=HELD_JOB_TIMEOUT_MS)
    def held_job() -> dict:
        while hold:
            time.sleep(1)
        return {"done_by": os.getpid()}

    return router


if __name__ == "__main__":
    main((*ROUTER_BUILDERS, build_router))
