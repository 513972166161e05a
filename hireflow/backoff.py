"""Exponential backoff with full jitter: the one retry-delay rule in hireflow.

Used for quick in-process retries (adapters) and for the retry back-off handed to
Zeebe when a job fails (workers), so both grow the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))]."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay the jitter may pick for this attempt."""
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered delay, so many clients that failed together do not retry together."""
        return (rng or random).uniform(0, self.ceiling(attempt))
