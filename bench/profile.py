"""Where the engine's CPU goes during a measurement: a JFR recording and its summary.

``make bench BENCH_ARGS=--profile`` records the engine with Java Flight Recorder (started
on the running engine through ``jcmd``, so the engine starts as it always does) while the
closed loop measures, and sums the execution samples two ways:

- by thread: the stream processor's actor threads, the gateway's gRPC threads, ...;
- by code: the package of the innermost Camunda frame of each sample (the engine's
  processing, its state store, message packing, the log), or, for a sample in no
  Camunda frame, the library it was in.

The recording stays beside the summary, for JDK Mission Control or ``jfr print``.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hireflow.engine.java import JavaInstall

CAMUNDA = "io.camunda."
SHOWN = 8  # rows of each table
STACK_DEPTH = 16  # enough to reach a Camunda frame from the JDK or library code it calls


@dataclass
class ProfileSummary:
    """Shares of the engine's execution samples, largest first."""

    samples: int
    by_thread: list[tuple[str, float]]
    by_code: list[tuple[str, float]]

    def markdown(self, title: str) -> str:
        lines = [f"### {title}", "", f"{self.samples} execution samples of the engine.", ""]
        for heading, shares in (("thread", self.by_thread), ("code", self.by_code)):
            lines += [f"| {heading} | share |", "| --- | --- |"]
            lines += [f"| {name} | {share:.0f}% |" for name, share in shares[:SHOWN]]
            lines.append("")
        return "\n".join(lines)

    def line(self) -> str:
        """The three largest shares of each kind, for the console."""
        threads = ", ".join(f"{name} {share:.0f}%" for name, share in self.by_thread[:3])
        code = ", ".join(f"{name} {share:.0f}%" for name, share in self.by_code[:3])
        return f"engine CPU by thread: {threads}; by code: {code}"


_SAMPLE = re.compile(r'sampledThread = "(?P<thread>[^"]*)".*?stackTrace = \[(?P<stack>.*?)\n\s*\]', re.S)
_FRAME = re.compile(r"^\s+(?P<method>[\w.$<>]+)\(", re.M)


@dataclass
class Sample:
    thread: str
    frames: list[str]  # "package.Class.method", innermost first


def parse_samples(printed: str) -> list[Sample]:
    """The execution samples in ``jfr print --events jdk.ExecutionSample`` text."""
    return [Sample(match["thread"], _FRAME.findall(match["stack"])) for match in _SAMPLE.finditer(printed)]


def _package(method: str) -> str:
    owner = method.rsplit(".", 1)[0]  # drop the method
    # A class in no package is the launcher's (HireflowEmbeddedEngine and its inner classes).
    return owner.rsplit(".", 1)[0] if "." in owner else owner.split("$")[0]


def _module(package: str) -> str:
    """A Camunda package named by its Zeebe module (io.camunda.zeebe.engine, .msgpack, ...).

    zeebe-process-test keeps two apart: its in-memory state database (the embedded engine's
    until 2026-12-05) and the rest of it (gateway, log storage, job streamer). Zeebe's own
    state store, RocksDB behind ``io.camunda.zeebe.db``, is named as such.
    """
    if package.startswith("io.camunda.zeebe.db"):
        return "io.camunda.zeebe.db (state store, RocksDB)"
    if package.startswith("io.camunda.zeebe.process.test.engine.db"):
        return "io.camunda.zeebe.process.test.engine.db (in-memory state)"
    if package.startswith("io.camunda.zeebe.process.test"):
        return "io.camunda.zeebe.process.test (embedded gateway, log)"
    return ".".join(package.split(".")[:4])


def _code_of(frames: list[str]) -> str:
    """The module of the innermost Camunda or launcher frame, else the innermost frame's library."""
    packages = [_package(frame) for frame in frames]
    for package in packages:
        if package.startswith(CAMUNDA):
            return _module(package)
        if "." not in package:
            return f"{package} (launcher)"
    return ".".join(packages[0].split(".")[:2]) if packages else "(no stack)"


def summarize(samples: list[Sample]) -> ProfileSummary:
    """Sum execution samples by thread group (digits as N) and by code."""
    threads = Counter(re.sub(r"\d+", "N", sample.thread) or "(unnamed)" for sample in samples)
    code = Counter(_code_of(sample.frames) for sample in samples)
    total = len(samples) or 1

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * count / total) for name, count in counter.most_common()]

    return ProfileSummary(len(samples), shares(threads), shares(code))


class EngineProfiler:
    """One JFR recording of a running engine process, from ``start`` to ``summary``."""

    def __init__(self, java: JavaInstall, pid: int, recording: Path):
        self.jcmd = java.home / "bin" / "jcmd"
        self.jfr = java.home / "bin" / "jfr"
        self.pid = pid
        self.recording = recording

    @property
    def available(self) -> bool:
        """jcmd and jfr come with a JDK, not with every Java runtime."""
        return self.jcmd.is_file() and self.jfr.is_file()

    def _jcmd(self, *command: str) -> None:
        command_line = [str(self.jcmd), str(self.pid), *command]
        subprocess.run(command_line, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.recording.parent.mkdir(parents=True, exist_ok=True)
        self._jcmd("JFR.start", "name=bench", "settings=profile")

    def summary(self) -> ProfileSummary:
        """Stop the recording (jcmd returns once it is written), then sum its samples."""
        self._jcmd("JFR.stop", "name=bench", f"filename={self.recording}")
        if not self.recording.is_file():
            raise RuntimeError(f"no recording was written to {self.recording}")
        printed = subprocess.run(
            [
                str(self.jfr),
                "print",
                "--stack-depth",
                str(STACK_DEPTH),
                "--events",
                "jdk.ExecutionSample",
                str(self.recording),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return summarize(parse_samples(printed.stdout))
