"""make bench's report: a worker too slow for the usual load is measured with fewer in flight."""

from __future__ import annotations

from pathlib import Path

import bench.__main__ as bench
from bench.__main__ import Measurement, Timing, WorkerSet, measure_with_fewer_in_flight, ratios

BECAUSE = "no instance ended within 30 s of its start with 64 in flight (64 DEADLINE_EXCEEDED)"
NO_FIGURE = f"no figure: {BECAUSE}"
SLOW = WorkerSet("pyzeebe, defaults", start=lambda engine, root: [])


def pyzeebe_without_a_figure() -> Measurement:
    """pyzeebe's defaults on the five-task process with 64 in flight: nothing ended in time."""
    return Measurement(
        "pyzeebe, defaults",
        5,
        per_second=0.0,
        failed=64,
        note=NO_FIGURE,
        no_figure_because=BECAUSE,
        in_flight=64,
    )


def test_a_worker_with_no_figure_is_measured_again_with_an_eighth_in_flight(monkeypatch):
    first = pyzeebe_without_a_figure()
    asked = []

    def measure_again(engines, workers, tasks, timing, root, **_):
        asked.append(timing.concurrency)
        return Measurement(workers.name, tasks, per_second=0.8, in_flight=timing.concurrency)

    monkeypatch.setattr(bench, "measure", measure_again)
    again = measure_with_fewer_in_flight(None, SLOW, 5, Timing(), Path("."), first)

    assert asked == [8]
    assert (again.per_second, again.in_flight, again.failed) == (0.8, 8, 64)
    assert again.note == (
        "at 8 in flight, since no instance ended within 30 s of its start with 64 in flight "
        "(64 DEADLINE_EXCEEDED)"
    )


def test_the_workers_own_note_follows_the_reason_for_fewer_in_flight(monkeypatch):
    # The REST SDK's note (its calls go through the embedded engine's launcher) once took
    # the reason's place: "at 8 in flight, since its REST v2 job calls answered by ...".
    first = Measurement(
        "sdk", 5, per_second=0.0, note="no figure: ...; through a shim", no_figure_because="slow"
    )
    monkeypatch.setattr(
        bench,
        "measure",
        lambda engines, workers, tasks, timing, root, **_: Measurement(
            workers.name, tasks, per_second=1.5, note="through a shim"
        ),
    )
    again = measure_with_fewer_in_flight(None, SLOW, 5, Timing(), Path("."), first)

    assert again.note == "at 8 in flight, since slow; through a shim"


def test_a_worker_still_without_a_figure_keeps_the_first_answer(monkeypatch):
    first = pyzeebe_without_a_figure()
    monkeypatch.setattr(
        bench, "measure", lambda engines, workers, tasks, timing, root, **_: Measurement(workers.name, tasks)
    )
    assert measure_with_fewer_in_flight(None, SLOW, 5, Timing(), Path("."), first) is first


def test_the_ratios_say_when_a_peer_was_measured_at_another_load():
    rows = [
        Measurement("engine alone", 0, per_second=700.0, in_flight=64),
        Measurement("hireflow pool x1", 5, per_second=80.0, p99_ms=60.0, in_flight=64),
        Measurement("Java client (reference)", 5, per_second=80.0, in_flight=64),
        Measurement("pyzeebe, defaults", 5, per_second=0.8, in_flight=8),
    ]
    (line,) = ratios(rows)
    assert "1.00x Java client (reference);" in line
    assert "100.00x pyzeebe, defaults (it at 8 in flight)" in line
