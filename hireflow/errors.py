"""The three kinds of failure, as the worker failure policy treats them.

- ``BusinessOutcome``: an expected business result (card declined, file invalid). The
  job throws a BPMN error with ``error_code``, and the model decides what happens next.
- ``PermanentFailure``: retrying cannot succeed (bad data, a rejected request). The job
  fails with no retries left, so an incident appears at once with a message saying what
  a person must fix.
- ``RetryLater``: not a failure but a wait that ends by itself (a provider's records
  lag behind). The job is tried again after ``after_seconds``, keeping its retries.
- Any other exception is technical (network, timeouts, bugs). The job fails with
  exponential backoff until its retries run out, then becomes an incident.
"""

from __future__ import annotations

from typing import Any


class BusinessOutcome(Exception):
    """A business result the process model catches as the BPMN error ``error_code``."""

    error_code: str = "BUSINESS_ERROR"

    # What went wrong inside, for operators: on the log line and the BPMN error's message
    # in Operate, never in the variables that reach customers' emails.
    diagnostic: str = ""

    def variables(self) -> dict[str, Any]:
        """Variables to hand to the error's catch event (small, no secrets)."""
        return {}


class PermanentFailure(Exception):
    """Retrying cannot help; the message tells an operator what to fix."""


class RetryLater(Exception):
    """The job cannot tell yet what to do; try it again after ``after_seconds``, keeping its retries.

    Only for a wait bounded by time itself, never for an error: a wait that could last
    for good would never become an incident.
    """

    def __init__(self, message: str, after_seconds: float):
        super().__init__(message)
        self.after_seconds = max(1.0, after_seconds)
