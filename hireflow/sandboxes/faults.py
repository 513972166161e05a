"""Switchable fault injection shared by the sandboxes.

Two ways to ask for a fault: a rate (0.0-1.0, for chaos runs) or a count of the next
requests to hit (deterministic, for tests). Counts are used up before rates apply.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field


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
        """Replace the plan. Unknown fault kinds or values out of range raise ValueError."""
        rates = {k: float(v) for k, v in (rates or {}).items()}
        next_count = {k: int(v) for k, v in (next_count or {}).items()}
        unknown = (set(rates) | set(next_count)) - self.kinds
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {sorted(self.kinds)}")
        if any(not 0.0 <= r <= 1.0 for r in rates.values()) or any(c < 0 for c in next_count.values()):
            raise ValueError("rates must be within 0..1 and counts must not be negative")
        with self._lock:
            self._plan = FaultPlan(
                rates=rates,
                next_count=next_count,
                delay_seconds=self._plan.delay_seconds if delay_seconds is None else float(delay_seconds),
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
