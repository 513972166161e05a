"""Switchable fault injection shared by the sandboxes.

Two ways to ask for a fault: a rate (0.0-1.0, for chaos runs) or a count of the next
requests to hit (deterministic, for tests). Counts are used up before rates apply.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass, field

# The longest injected delay: long enough to outlast any client's timeout, short enough
# that a typo does not hold a sandbox thread for hours.
MAX_DELAY_SECONDS = 300.0


@dataclass
class FaultPlan:
    """Which faults to inject, by kind: ``{"server_error": 0.1}`` and ``{"server_error": 2}``."""

    rates: dict[str, float] = field(default_factory=dict)
    next_count: dict[str, int] = field(default_factory=dict)
    delay_seconds: float = 2.0


class FaultInjector:
    """Thread-safe decision point: ``should("server_error")`` says whether to inject it now."""

    def __init__(self, kinds: set[str], seed: int | None = None):
        self.kinds = kinds
        self._plan = FaultPlan()
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def configure(
        self, rates: dict | None = None, next_count: dict | None = None, delay_seconds: float | None = None
    ) -> FaultPlan:
        """Replace the plan. Unknown fault kinds or values out of range raise ValueError.

        The values usually come from a JSON body, so each is checked for its type as well:
        a rate is a number within 0..1, a count a whole number of 0 or more, and the delay a
        number of seconds within 0..``MAX_DELAY_SECONDS``.
        """
        rates = {kind: _number(f"rates.{kind}", rate, 0.0, 1.0) for kind, rate in _by_kind("rates", rates)}
        next_count = {
            kind: _count(f"next_count.{kind}", count) for kind, count in _by_kind("next_count", next_count)
        }
        unknown = (set(rates) | set(next_count)) - self.kinds
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {sorted(self.kinds)}")
        with self._lock:
            self._plan = FaultPlan(
                rates=rates,
                next_count=next_count,
                delay_seconds=self._plan.delay_seconds
                if delay_seconds is None
                else _number("delay_seconds", delay_seconds, 0.0, MAX_DELAY_SECONDS),
            )
            return self._plan

    @property
    def plan(self) -> dict:
        with self._lock:
            return asdict(self._plan)

    @property
    def delay_seconds(self) -> float:
        return self._plan.delay_seconds

    def should(self, kind: str) -> bool:
        with self._lock:
            left = self._plan.next_count.get(kind, 0)
            if left > 0:
                self._plan.next_count[kind] = left - 1
                return True
            return self._random.random() < self._plan.rates.get(kind, 0.0)


def _by_kind(name: str, values: object) -> list[tuple[str, object]]:
    """The (kind, value) pairs of ``values``, which must be an object keyed by fault kind."""
    if values is None:
        return []
    if not isinstance(values, dict):
        raise ValueError(f'{name} must be an object keyed by fault kind, such as {{"timeout": 1}}')
    return list(values.items())


def _number(name: str, value: object, lowest: float, highest: float) -> float:
    """``value`` as a float, refused unless it is a finite number within lowest..highest."""
    # bool is an int in Python, but true or false for a rate is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not (math.isfinite(value) and lowest <= value <= highest):
        raise ValueError(f"{name} must be within {lowest:g}..{highest:g}, not {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    """``value`` as an int, refused unless it is a whole number of 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if not (math.isfinite(value) and value == int(value) and value >= 0):
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)
