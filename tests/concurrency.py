"""Run the same call from many threads at once, as competing workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(call: Callable[[str], str], keys: list[str]) -> list[str]:
    """Start ``call(key)`` for every key at once; return the outcomes it reported."""
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda k=key: outcomes.append(call(k))) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
