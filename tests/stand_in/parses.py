"""Reads a resume twice in the parser sandbox, run as ``python -m``, as the worker pool runs."""

import pyzeebe  # noqa: F401 - a heavy import, as the worker's main module has

from hireflow.resume_intake import IntakeLimits, read_text
from tests.resume_samples import pdf_resume
from tests.stand_in.imported_once import A_CONSTANT  # noqa: F401 - imported for its record

if __name__ == "__main__":
    for _ in range(2):
        read_text(pdf_resume(), IntakeLimits())
    print("read twice")
