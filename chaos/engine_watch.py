"""Whether the engine still processes commands, asked every few seconds during a chaos run.

A scenario's faults are in hireflow's surroundings (workers, providers, webhooks), never in
the engine's stream processor. When the engine itself stops answering, every instance of
the scenario looks stuck and every start is refused, and waiting out the settle timeouts
only hides the cause. The watch notices within a minute, so the run can stop early and say
what happened.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

PROBE_MESSAGE = "chaos-engine-probe"  # no process subscribes: the engine only stores it


class EngineWatch:
    """Publish a probe message every ``interval_s``; ``stalled`` is set after ``stall_after_s``
    without an answer.

    Publishing a message is answered only once the engine's stream processor has written
    it, so an answered probe means the engine processes commands. ``publish`` is the
    engine client's ``publish_message``, the same on the cluster and the embedded engine.
    """

    def __init__(
        self,
        publish: Callable[..., object],
        *,
        interval_s: float = 5.0,
        stall_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._publish = publish
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s
        self._clock = clock
        self.stalled = threading.Event()
        self.reason = ""
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._last_answer = clock()
        self._last_error = ""
        self._thread: threading.Thread | None = None

    def start(self) -> EngineWatch:
        self._thread = threading.Thread(target=self._run, name="chaos-engine-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    def pause(self) -> None:
        """While the engine is killed on purpose (engine-sigkill), silence is expected."""
        self._paused.set()

    def resume(self) -> None:
        self._last_answer = self._clock()
        self._paused.clear()

    def probe_once(self) -> None:
        """One probe; sets ``stalled`` once the engine has been silent for ``stall_after_s``."""
        if self._paused.is_set():
            return
        try:
            self._publish(PROBE_MESSAGE, uuid.uuid4().hex, ttl_ms=0)
        except Exception as exc:  # noqa: BLE001 - any failure is a probe left unanswered
            self._last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        else:
            self._last_answer = self._clock()
            return
        silent_s = self._clock() - self._last_answer
        if silent_s >= self.stall_after_s and not self.stalled.is_set():
            self.reason = (
                f"the engine answered no command for {silent_s:.0f} s; last error: {self._last_error}"
            )
            self.stalled.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.probe_once()
