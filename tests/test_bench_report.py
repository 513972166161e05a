"""make bench's report: a worker too slow for the usual load is measured with fewer in flight."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

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


def test_several_rounds_give_the_median_round_with_every_rounds_figure():
    rounds = [
        Measurement("hireflow pool x1", 1, per_second=300.0, p99_ms=30.0, failed=1),
        Measurement("hireflow pool x1", 1, per_second=420.0, p99_ms=12.0),
        Measurement("hireflow pool x1", 1, per_second=380.0, p99_ms=18.0, failed=2),
    ]
    row = bench.median_round(rounds)

    # The median round's own figures, not a mix of rounds.
    assert (row.per_second, row.p99_ms) == (380.0, 18.0)
    assert row.rounds == [300.0, 420.0, 380.0]
    assert row.failed == 3


def test_one_round_is_its_own_row():
    only = Measurement("Java client (reference)", 1, per_second=360.0)
    assert bench.median_round([only]) is only


def test_the_table_shows_the_spread_over_rounds_only_when_there_were_several():
    single = [Measurement("engine alone", 0, per_second=1500.0)]
    assert "rounds /s" not in bench.table(single)

    several = [
        Measurement("engine alone", 0, per_second=1500.0, rounds=[1500.0, 1200.0, 1600.0]),
        Measurement("pyzeebe, defaults", 5, per_second=160.0, rounds=[0.0, 160.0, 170.0]),
    ]
    header, _, engine, pyzeebe = bench.table(several).splitlines()
    assert header.split(" | ")[3] == "rounds /s"
    assert engine.split(" | ")[3] == "1200.0 to 1600.0"
    assert pyzeebe.split(" | ")[3] == "0.0 to 170.0"


def test_the_ratios_give_each_rounds_ratio_when_both_were_measured_in_rounds():
    rows = [
        Measurement("hireflow pool x1", 1, per_second=400.0, p99_ms=16.0, rounds=[400.0, 300.0, 450.0]),
        Measurement("Java client (reference)", 1, per_second=350.0, rounds=[400.0, 250.0, 350.0]),
    ]
    (line,) = ratios(rows)
    assert "1.14x Java client (reference) (by round: 1.00x, 1.20x, 1.29x);" in line


def test_rounds_run_every_configuration_in_turn_each_in_reverse_of_the_last(monkeypatch, tmp_path):
    measured = []

    def measure_one(engines, workers, tasks, timing, root, **_):
        name = workers.name if workers else "engine alone"
        measured.append((name, tasks))
        return Measurement(name, tasks, per_second=100.0 + len(measured), in_flight=timing.concurrency)

    class NoEngines:
        fresh_each_time = True
        description = "no engine"

        def __init__(self, root):
            pass

        def close(self):
            pass

    monkeypatch.setattr(bench, "measure", measure_one)
    monkeypatch.setattr(bench, "Engines", NoEngines)
    monkeypatch.setattr(bench, "java_client_lib", lambda: None)
    monkeypatch.setattr(bench, "plot", lambda rows, path: None)

    assert bench.main(["--rounds", "2", "--only", "java", "--out", str(tmp_path)]) == 0

    one_round = [("engine alone", 0), ("Java client (reference)", 1), ("Java client (reference)", 5)]
    assert measured == one_round + one_round[::-1]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["rounds"] == 2
    assert [(row["workers"], row["tasks"], row["rounds"]) for row in results["rows"]] == [
        ("engine alone", 0, [101.0, 106.0]),
        ("Java client (reference)", 1, [102.0, 105.0]),
        ("Java client (reference)", 5, [103.0, 104.0]),
    ]


def test_rounds_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit) as refused:
        bench.main(["--rounds", "0"])
    assert refused.value.code == 2
    assert "--rounds takes a whole number of at least 1" in capsys.readouterr().err


def test_the_docs_block_says_each_row_is_the_median_of_its_rounds():
    from bench.docs import figures_block

    row = Measurement("engine alone", 0, per_second=1500.0, rounds=[1500.0, 1200.0, 1600.0])
    results = {
        "engine": "the embedded Zeebe engine 8.8.21",
        "machine": "x86_64, 2 cores",
        "timing": {"measure_s": 15.0, "warmup_s": 4.0, "latency_s": 12.0},
        "rounds": 3,
        "rows": [vars(row)],
        "ratios": [],
    }
    block = figures_block(results)
    assert "Each row is the median of 3 rounds, run in turn and in alternating order" in block
    assert "| engine alone | 0 | 1500.0 | 1200.0 to 1600.0 |" in block
    # A run before rounds existed (no "rounds" in its results) reads as one round.
    del results["rounds"]
    assert "median" not in figures_block({**results, "rows": [vars(replace(row, rounds=[]))]})
