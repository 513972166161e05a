"""Parsers of untrusted files run in a child process: a hostile file costs at most its limits.

The helpers below stand in for a parser gone wrong on a crafted file; they run in the
child exactly as pypdf and python-docx do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hireflow.parser_sandbox import ParserLimitExceeded, ParserLimits, ParserUnavailable, run_isolated
from hireflow.paths import PROJECT_ROOT
from hireflow.resume_intake import IntakeLimits, InvalidResume, check_file, read_text
from tests.resume_samples import pdf_resume, pdf_with_page_content

TIGHT = ParserLimits(cpu_seconds=1, memory_bytes=512 * 2**20, wall_seconds=30)


def add(a: int, b: int) -> dict:
    return {"sum": a + b, "pid": os.getpid()}


def spin_forever() -> None:
    while True:
        pass


def allocate(n_bytes: int) -> int:
    return len(bytearray(n_bytes))


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def own_oom_score_adj() -> str:
    with open("/proc/self/oom_score_adj") as adjust:
        return adjust.read().strip()


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def reject(reason: str) -> None:
    raise InvalidResume(reason, "Detail for the candidate.")


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("cannot travel")
        self.callback = lambda: None


def raise_unpicklable() -> None:
    raise Unpicklable()


def test_the_result_comes_back_from_another_process():
    result = run_isolated(add, (2, 3), TIGHT)
    assert result["sum"] == 5 and result["pid"] != os.getpid()


def test_out_of_memory_the_kernel_kills_a_parser_before_its_worker():
    assert run_isolated(own_oom_score_adj, (), TIGHT) == "1000"


def test_a_parser_that_never_stops_is_stopped_by_its_cpu_limit():
    started = time.monotonic()
    with pytest.raises(ParserLimitExceeded, match="more than 1 s of CPU time"):
        run_isolated(spin_forever, (), TIGHT)
    assert time.monotonic() - started < 20


def test_a_parser_that_allocates_too_much_is_stopped_by_its_memory_limit():
    with pytest.raises(ParserLimitExceeded, match="more than 512 MiB of memory"):
        run_isolated(allocate, (2 * 2**30,), TIGHT)
    assert run_isolated(allocate, (64 * 2**20,), TIGHT) == 64 * 2**20  # a normal appetite is fine


def test_no_answer_in_time_is_the_machines_fault_not_the_files():
    with pytest.raises(ParserUnavailable, match="no answer within 0.5 s"):
        run_isolated(sleep, (30,), ParserLimits(wall_seconds=0.5))


def test_a_parser_that_dies_is_reported_with_its_exit_code():
    with pytest.raises(ParserUnavailable, match=f"exit code {-signal.SIGSEGV}"):
        run_isolated(crash, (), TIGHT)


def test_the_parsers_own_verdict_arrives_intact():
    with pytest.raises(InvalidResume) as raised:
        run_isolated(reject, ("encrypted",), TIGHT)
    assert raised.value.reason == "encrypted"
    assert raised.value.variables()["rejection_message"].endswith("Detail for the candidate.")


def test_an_exception_that_cannot_travel_is_described():
    with pytest.raises(RuntimeError, match="cannot travel"):
        run_isolated(raise_unpicklable, (), TIGHT)


def test_a_hostile_resume_is_rejected_as_too_complex_and_costs_only_its_limits():
    # 11 KB that cost about 9 s of CPU time and 190 MB to read; a larger one, any amount.
    hostile = pdf_with_page_content(b"BT /F1 12 Tf 72 720 Td (python) Tj ET\n" * 100_000)
    assert len(hostile) < 20_000
    started = time.monotonic()
    with pytest.raises(InvalidResume) as raised:
        read_text(hostile, IntakeLimits(parser=ParserLimits(cpu_seconds=2)))
    assert raised.value.reason == "too_complex"
    assert "more than 2 s of CPU time" in str(raised.value)
    assert time.monotonic() - started < 15
    with pytest.raises(InvalidResume, match="MiB of memory"):
        read_text(hostile, IntakeLimits(parser=ParserLimits(memory_bytes=160 * 2**20)))


def test_a_pdf_past_pypdfs_own_limits_is_too_complex_not_damaged():
    # 44 KB that decompress to 15 MB of drawing commands: pypdf refuses to go on.
    hostile = pdf_with_page_content(b"BT /F1 12 Tf 72 720 Td (python) Tj ET\n" * 400_000)
    with pytest.raises(InvalidResume) as raised:
        read_text(hostile)
    assert raised.value.reason == "too_complex"
    assert "far more compressed content than a resume" in str(raised.value)
    assert "Error" not in str(raised.value)  # the candidate reads it: no exception names


def test_a_real_resume_reads_within_the_default_limits():
    checked = check_file(pdf_resume(pages=2))
    assert (checked.kind, checked.pages) == ("pdf", 2)
    _, text = read_text(pdf_resume(pages=2))
    assert "python" in text.lower()


def test_a_program_run_with_dash_m_parses_without_warnings():
    # The worker runs as `python -m job_workers.worker`; each parse's child re-runs that
    # module, and must not warn about it on stderr (once per file, in production logs).
    result = subprocess.run(
        [sys.executable, "-m", "tests.stand_in.parses"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "read twice"
    assert "Warning" not in result.stderr, result.stderr


def test_a_parse_does_not_import_the_main_modules_imports_again(tmp_path):
    # Each parse's child runs the main module again; what that imports must already be
    # loaded in the fork server, or every parse imports (and, without bytecode files,
    # compiles) it anew: 85 ms a parse instead of 9 for the worker's imports.
    import_log = tmp_path / "imports"
    result = subprocess.run(
        [sys.executable, "-m", "tests.stand_in.parses"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "HIREFLOW_TEST_IMPORT_LOG": str(import_log)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    importers = import_log.read_text().split()
    # Once by the program, once by the fork server: not by every parse's child.
    assert len(importers) == 2, f"imported in {len(importers)} processes"
