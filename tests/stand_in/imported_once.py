"""A module that records every process that imports it (for the parser sandbox's tests).

``parses`` imports a constant from it, as the worker's main module imports one from
``job_workers.supervisor``: a name that, unlike a function or a class, does not say
which module it came from.
"""

import os

IMPORT_LOG = os.environ.get("HIREFLOW_TEST_IMPORT_LOG")
if IMPORT_LOG:
    with open(IMPORT_LOG, "a") as log:
        log.write(f"{os.getpid()}\n")

A_CONSTANT = 3
