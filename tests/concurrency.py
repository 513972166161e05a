"""Run the same call from many threads at once, as competing workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(call: Callable[[str], str], keys: list[str]) -> list[str]:
    """Start ``call(key)`` for every key at once; return the outcomes it reported."""
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda k=key: outcomes.append(call(k))) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def errors_all_at_once(
    count: int, prepare: Callable[[], T], act: Callable[[T], object]
) -> list[BaseException]:
    """Give ``count`` threads each its own ``prepare()``, then run ``act`` on it in all of them
    at the same moment (a barrier); return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        prepared = prepare()
        barrier.wait()
        try:
            act(prepared)
        except BaseException as exc:  # noqa: BLE001 - handed back to be asserted
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
