"""``python -m bench`` (``make bench``): the engine's ceiling, the pool, and its peers, in one run.

For each measurement the engine starts fresh (the embedded engine keeps every record in
memory), the benchmark processes are deployed, one set of workers starts, and then:

1. a closed loop finds the most instances per second it sustains;
2. an open loop at half that rate measures latency (created to completed, p50 and p99);
3. the workers' CPU and resident memory are sampled throughout.

This machine's figures drift between runs and within one, so ``--rounds N`` measures every
configuration N times, in turn, each round in the reverse order of the one before (a drift
over the run then weighs on all alike). Each row is then the round with the median
throughput, and the ratios also say what each round gave on its own.

Writes ``build/bench/results.json``, ``build/bench/results.md`` and
``build/bench/throughput.png``; ``--write-docs`` also rewrites ``docs/performance.md``, and
``--profile`` records each engine with JFR and says where its CPU went (``bench/profile.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from bench.load import RESULT_TIMEOUT_MS, LoadResult, closed_loop, open_loop
from bench.models import JOB_TYPE, bench_resources, process_id
from bench.profile import EngineProfiler
from chaos.world import Engine, start_engine
from hireflow.cli import command_line
from hireflow.engine import find_java
from hireflow.engine.distribution import resolve_classpath
from hireflow.engine.embedded import (
    EmbeddedEngine,
    EmbeddedEngineClient,
    fetch_embedded,
    free_port,
)
from hireflow.lifetime import child_environment
from hireflow.paths import PROJECT_ROOT, cache_root

if TYPE_CHECKING:
    import psutil

BUILD = PROJECT_ROOT / "build" / "bench"
JAVA_DIR = Path(__file__).parent / "peers" / "java"


@dataclass(frozen=True)
class Timing:
    warmup_s: float = 4.0
    measure_s: float = 15.0
    latency_s: float = 12.0
    concurrency: int = 64


@dataclass
class Measurement:
    """One row: who did the jobs, on which process, and what it cost."""

    workers: str
    tasks: int
    per_second: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    latency_rate: float | None = None
    cpu_percent: float | None = None  # of one core, summed over the workers' processes
    rss_mb: float | None = None
    engine_cpu_percent: float | None = None  # where the rest of the machine went
    load_cpu_percent: float | None = None  # this process: the load generator
    failed: int = 0
    note: str = ""
    no_figure_because: str = ""  # why a closed loop ended no instance, for the retry's note
    engine_profile: str = ""  # with --profile: where the engine's CPU went
    in_flight: int | None = None  # instances the closed loop kept in flight for ``per_second``
    rounds: list[float | None] = field(default_factory=list)  # with --rounds: each round's per_second


class ResourceSampler:
    """CPU and RSS of processes (with their children, unless told not to), sampled every half second."""

    def __init__(self, roots: list[int], *, children: bool = True):
        self.roots = roots
        self.children = children
        self.cpu: list[float] = []
        self.rss: list[float] = []
        self._stop = threading.Event()
        self._known: dict[int, psutil.Process] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        # Imported here: it comes with the bench extra, which `make test` (testing the
        # report, which samples nothing) does not install.
        import psutil

        self._psutil = psutil

    def _processes(self) -> list[psutil.Process]:
        found = []
        for pid in self.roots:
            try:
                root = self._psutil.Process(pid)
                found.extend([root, *(root.children(recursive=True) if self.children else [])])
            except self._psutil.NoSuchProcess:
                continue
        for process in found:  # cpu_percent() needs the same object between calls
            self._known.setdefault(process.pid, process)
        return [self._known[p.pid] for p in found]

    def _run(self) -> None:
        for process in self._processes():
            process.cpu_percent(None)
        while not self._stop.wait(0.5):
            cpu = rss = 0.0
            for process in self._processes():
                try:
                    cpu += process.cpu_percent(None)
                    rss += process.memory_info().rss
                except self._psutil.NoSuchProcess:
                    continue
            self.cpu.append(cpu)
            self.rss.append(rss / 2**20)

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean_cpu(self) -> float | None:
        if not self.roots:
            return None
        samples = self.cpu[1:] or self.cpu
        return round(sum(samples) / len(samples), 1) if samples else None

    @property
    def max_rss(self) -> float | None:
        return round(max(self.rss), 1) if self.rss else None


@dataclass
class WorkerSet:
    """How to start one kind of worker against an engine; ``None`` from start means unavailable."""

    name: str
    start: Callable[[Engine, Path], list[subprocess.Popen] | str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    note_on_embedded: str = ""  # how its figure on the embedded engine differs from a cluster's


def _spawn(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        # hireflow's pool ends with the bench, even a SIGKILLed one (hireflow.lifetime); the
        # peers ignore the variable.
        env = child_environment({**os.environ, **(env or {})})
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def hireflow_pool(size: int) -> WorkerSet:
    def start(engine: Engine, root: Path) -> list[subprocess.Popen]:
        port = free_port()
        env = {
            "ZEEBE_GRPC_ADDRESS": engine.grpc_address,
            "CAMUNDA_AUTH_STRATEGY": "NONE",
            "HIREFLOW_DATA_DIR": str(root / "pool-data"),
            "HIREFLOW_LOG_FORMAT": "text",
        }
        pool = _spawn(
            [sys.executable, "-m", "bench.pool", "--processes", str(size), "--status-port", str(port)],
            root / f"pool-{size}.log",
            env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    time.sleep(2)  # let each process open its job streams
                    return [pool]
            except requests.RequestException:
                pass
            time.sleep(0.3)
        pool.kill()
        raise RuntimeError(f"the benchmarked pool did not start; see {root / f'pool-{size}.log'}")

    return WorkerSet(f"hireflow pool x{size}", start)


def pyzeebe_default() -> WorkerSet:
    def start(engine: Engine, root: Path) -> list[subprocess.Popen]:
        process = _spawn(
            [sys.executable, "-m", "bench.peers.pyzeebe_default", engine.grpc_address], root / "pyzeebe.log"
        )
        time.sleep(3)
        return [process]

    return WorkerSet("pyzeebe, defaults", start)


def orchestration_sdk() -> WorkerSet:
    def start(engine: Engine, root: Path) -> list[subprocess.Popen] | str:
        # The embedded engine's control port takes REST v2's job calls (activation held as
        # the gRPC gateway holds it, completion, failure, error) under the same /v2 paths.
        env = {"CAMUNDA_REST_ADDRESS": f"{engine.client.rest_url}/v2", "CAMUNDA_AUTH_STRATEGY": "NONE"}
        process = _spawn([sys.executable, "-m", "bench.peers.orchestration_sdk"], root / "sdk.log", env)
        time.sleep(4)
        return [process]

    return WorkerSet(
        "camunda-orchestration-sdk",
        start,
        note_on_embedded="its REST v2 job calls answered by the embedded engine's launcher (Java client)",
    )


def java_client_lib(out=sys.stderr) -> Path:
    """Camunda's Java client and its dependencies, through Maven once per machine."""
    version = (JAVA_DIR / "VERSION").read_text().strip()
    target = cache_root() / f"camunda-client-java-{version}"
    if (target / "lib" / ".complete").is_file():
        return target / "lib"

    def check(lib: Path) -> None:
        if not list(lib.glob("camunda-client-java-*.jar")):
            raise RuntimeError(f"camunda-client-java is missing from {lib}")

    return resolve_classpath(
        JAVA_DIR / "pom.xml",
        {"client.version": version},
        target,
        label=f"Camunda's Java client {version}",
        version=version,
        check=check,
        out=out,
        size_hint="about 20 MB",
    )


def java_worker() -> WorkerSet:
    def start(engine: Engine, root: Path) -> list[subprocess.Popen]:
        java = find_java()
        # agrona and netty use sun.misc.Unsafe; on JDK 24+ say so instead of warning.
        unsafe = ["--sun-misc-unsafe-memory-access=allow"] if java.major >= 24 else []
        command = [
            str(java.java),
            *unsafe,
            "-Xmx512m",
            "-cp",
            str(java_client_lib() / "*"),
            str(JAVA_DIR / "BenchWorker.java"),
            engine.grpc_address,
            JOB_TYPE,
        ]
        process = _spawn(command, root / "java-worker.log")
        deadline = time.monotonic() + 60
        while "worker ready" not in (root / "java-worker.log").read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Java worker did not start; see {root / 'java-worker.log'}")
            time.sleep(0.3)
        time.sleep(2)
        return [process]

    return WorkerSet("Java client (reference)", start)


class Engines:
    """A fresh engine per measurement on the embedded engine; one engine on the cluster."""

    def __init__(self, root: Path):
        self.root = root
        self.shared: Engine | None = None
        self.embedded_lib: Path | None = None
        self.description = ""

    def open(self) -> Engine:
        if self.shared:
            return self.shared
        if self.embedded_lib is None:
            engine = start_engine(self.root)
            self.description = engine.description
            if not isinstance(engine.client, EmbeddedEngineClient):
                self.shared = engine
            else:
                self.embedded_lib = fetch_embedded()
            self._deploy(engine)
            return engine
        embedded = EmbeddedEngine(self.embedded_lib, find_java(), self.root / "engine.log").start()
        engine = Engine(
            self.description,
            embedded.grpc_address,
            EmbeddedEngineClient(embedded.control_url),
            embedded.control_url,
            None,
            embedded.stop,
            pid=lambda: embedded.pid,
        )
        self._deploy(engine)
        return engine

    def _deploy(self, engine: Engine) -> None:
        engine.client.deploy_resources(bench_resources())

    @property
    def fresh_each_time(self) -> bool:
        """Whether each measurement gets an engine of its own (not so on a shared cluster)."""
        return self.shared is None

    def done_with(self, engine: Engine) -> None:
        if engine is not self.shared:
            engine.close()

    def close(self) -> None:
        if self.shared:
            self.shared.close()


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(
    engines: Engines,
    workers: WorkerSet | None,
    tasks: int,
    timing: Timing,
    root: Path,
    *,
    profile: bool = False,
) -> Measurement:
    name = workers.name if workers else "engine alone"
    row = Measurement(name, tasks)
    print(f"==> {name}, {tasks} task(s)", flush=True)
    engine = engines.open()
    processes: list[subprocess.Popen] = []
    try:
        if workers:
            started = workers.start(engine, root)
            if isinstance(started, str):
                row.note = started
                return row
            processes = started
            if isinstance(engine.client, EmbeddedEngineClient):
                row.note = workers.note_on_embedded
        engine_pid = engine.pid()
        profiler = None
        if profile and engine_pid:
            slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {tasks} tasks".lower()).strip("-")
            recording = root / "profiles" / f"{slug}.jfr"
            profiler = EngineProfiler(find_java(), engine_pid, recording)
            if profiler.available:
                # Over the measured window only, after the warm-up.
                threading.Timer(timing.warmup_s, profiler.start).start()
            else:
                print(f"    no profile: {profiler.jcmd} is missing (it comes with a JDK)", flush=True)
                profiler = None
        with (
            ResourceSampler([p.pid for p in processes]) as sampler,
            ResourceSampler([engine_pid] if engine_pid else []) as engine_sampler,
            # Only this process: the engine and the workers are its children.
            ResourceSampler([os.getpid()], children=False) as load_sampler,
        ):
            peak = asyncio.run(
                closed_loop(
                    engine.grpc_address,
                    process_id(tasks),
                    concurrency=timing.concurrency,
                    warmup_s=timing.warmup_s,
                    seconds=timing.measure_s,
                )
            )
        row.per_second = round(peak.per_second, 1)
        row.failed = peak.failed
        row.in_flight = timing.concurrency
        if profiler:
            try:
                summary = profiler.summary()
            except (RuntimeError, subprocess.SubprocessError) as failed:
                print(f"    no profile: {failed}", flush=True)
            else:
                row.engine_profile = summary.line()
                with open(root / "profiles.md", "a") as out:
                    out.write(summary.markdown(f"{name}, {tasks} task(s): {row.per_second}/s") + "\n")
                print(f"    {row.engine_profile}", flush=True)
        if not peak.completed:
            # Too slow to measure with this many in flight: say so, rather than a bare 0.
            if peak.failed:
                errors = ", ".join(f"{count} {code}" for code, count in sorted(peak.errors.items()))
                row.no_figure_because = (
                    f"no instance ended within {RESULT_TIMEOUT_MS // 1000} s of its start "
                    f"with {timing.concurrency} in flight ({errors})"
                )
            else:
                row.no_figure_because = (
                    f"no instance ended in the {timing.measure_s:.0f} s measured "
                    f"with {timing.concurrency} in flight"
                )
            row.note = "; ".join(filter(None, [f"no figure: {row.no_figure_because}", row.note]))
        row.cpu_percent, row.rss_mb = (sampler.mean_cpu, sampler.max_rss) if processes else (None, None)
        row.engine_cpu_percent, row.load_cpu_percent = engine_sampler.mean_cpu, load_sampler.mean_cpu
        if peak.per_second > 1:
            row.latency_rate = round(peak.per_second / 2, 1)
            half: LoadResult = asyncio.run(
                open_loop(
                    engine.grpc_address, process_id(tasks), rate=row.latency_rate, seconds=timing.latency_s
                )
            )
            row.p50_ms = _round(half.percentile(50))
            row.p99_ms = _round(half.percentile(99))
            row.failed += half.failed
        print(
            f"    {row.per_second}/s; p50 {row.p50_ms} ms, p99 {row.p99_ms} ms at {row.latency_rate}/s",
            flush=True,
        )
    finally:
        stop_all(processes)
        engines.done_with(engine)
    return row


# A worker too slow to end any instance in time with the usual load in flight is measured
# again with this share of it, so it gets a figure instead of a bare "no figure".
FEWER_IN_FLIGHT_DIVISOR = 8


def measure_with_fewer_in_flight(
    engines: Engines, workers: WorkerSet, tasks: int, timing: Timing, root: Path, first: Measurement
) -> Measurement:
    """``workers`` measured again, on a fresh engine, with fewer instances in flight.

    pyzeebe's defaults on the five-task process end no instance within the result timeout
    with 64 in flight: each instance waits for five jobs behind 319 others. The figure at
    fewer in flight says what such a worker does at all; the note says it is not at the
    others' load, and the ratios name it too.
    """
    fewer = replace(timing, concurrency=max(1, timing.concurrency // FEWER_IN_FLIGHT_DIVISOR))
    print(f"    again with {fewer.concurrency} in flight", flush=True)
    again = measure(engines, workers, tasks, fewer, root)
    if again.per_second:
        # again.note is what the workers' own note says, if anything.
        at_fewer = f"at {fewer.concurrency} in flight, since {first.no_figure_because}"
        again.note = "; ".join(filter(None, [at_fewer, again.note]))
        again.failed += first.failed
        return again
    return first


def median_round(measured: list[Measurement]) -> Measurement:
    """One row for a configuration measured in several rounds: the round of median throughput.

    Its other figures (latency, CPU, memory) are that round's, so a row stays one
    measurement rather than a mix; ``rounds`` keeps every round's throughput in the order
    measured, and ``failed`` counts the failures of all of them. With an even number of
    rounds the lower of the two middle ones is taken.
    """
    ranked = sorted(measured, key=lambda m: m.per_second or 0.0)
    middle = ranked[(len(ranked) - 1) // 2]
    if len(measured) == 1:
        return middle
    return replace(
        middle,
        rounds=[m.per_second for m in measured],
        failed=sum(m.failed for m in measured),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _fmt(value) -> str:
    return "-" if value is None else str(value)


def _spread(rates: list[float | None]) -> str:
    figures = [rate or 0.0 for rate in rates]
    return f"{min(figures)} to {max(figures)}"


def table(rows: list[Measurement]) -> str:
    """The rows as a Markdown table; with several rounds, each row's spread over them too."""
    with_rounds = any(r.rounds for r in rows)
    header = [
        "workers",
        "tasks",
        "instances/s",
        "p50 ms",
        "p99 ms",
        "at /s",
        "workers CPU %",
        "workers RSS MB",
        "engine CPU %",
        "load CPU %",
        "failed",
        "note",
    ]
    if with_rounds:
        header.insert(3, "rounds /s")
    lines = [header, ["---"] * len(header)]
    for r in rows:
        spread = [_spread(r.rounds) if r.rounds else "-"] if with_rounds else []
        lines.append(
            [
                r.workers,
                str(r.tasks),
                _fmt(r.per_second),
                *spread,
                _fmt(r.p50_ms),
                _fmt(r.p99_ms),
                _fmt(r.latency_rate),
                _fmt(r.cpu_percent),
                _fmt(r.rss_mb),
                _fmt(r.engine_cpu_percent),
                _fmt(r.load_cpu_percent),
                str(r.failed),
                r.note,
            ]
        )
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def ratios(rows: list[Measurement]) -> list[str]:
    """The pool's throughput against the ceiling and each peer, as measured in this run."""
    ceiling = next((r.per_second for r in rows if r.workers == "engine alone"), None)
    lines = []
    for tasks in sorted({r.tasks for r in rows if r.tasks}):
        pools = [
            r for r in rows if r.tasks == tasks and r.workers.startswith("hireflow pool") and r.per_second
        ]
        if not pools:
            continue
        best = max(pools, key=lambda r: r.per_second)
        parts = [f"{tasks} task(s): best pool ({best.workers}) {best.per_second}/s"]
        if ceiling and tasks == 1:
            parts.append(f"{best.per_second / ceiling:.0%} of the engine's ceiling ({ceiling}/s)")
        for peer in rows:
            if (
                peer.tasks == tasks
                and not peer.workers.startswith("hireflow")
                and peer.workers != "engine alone"
            ):
                if peer.per_second:
                    at = f" (it at {peer.in_flight} in flight)" if peer.in_flight != best.in_flight else ""
                    parts.append(
                        f"{best.per_second / peer.per_second:.2f}x {peer.workers}{at}{_per_round(best, peer)}"
                    )
                else:
                    parts.append(f"{peer.workers}: {peer.note or 'no figure'}")
        parts.append(f"p99 {best.p99_ms} ms at half load")
        lines.append("; ".join(parts))
    return lines


def _per_round(best: Measurement, peer: Measurement) -> str:
    """Each round's ratio: the two were measured close together in a round, so drift between
    rounds cancels out of these."""
    if len(best.rounds) < 2 or len(best.rounds) != len(peer.rounds):
        return ""
    each = [
        f"{ours / theirs:.2f}x" if ours and theirs else "-"
        for ours, theirs in zip(best.rounds, peer.rounds, strict=True)
    ]
    return f" (by round: {', '.join(each)})"


def plot(rows: list[Measurement], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task_counts = sorted({r.tasks for r in rows if r.tasks})
    names = list(dict.fromkeys(r.workers for r in rows if r.tasks))
    figure, axes = plt.subplots(1, len(task_counts), figsize=(6 * len(task_counts), 4.5), squeeze=False)
    ceiling = next((r.per_second for r in rows if r.workers == "engine alone"), None)
    for axis, tasks in zip(axes[0], task_counts, strict=True):
        values = [
            next((r.per_second or 0 for r in rows if r.workers == n and r.tasks == tasks), 0) for n in names
        ]
        bars = axis.barh(
            names, values, color=["#2a6f97" if n.startswith("hireflow") else "#999999" for n in names]
        )
        axis.bar_label(bars, fmt="%.0f")
        if ceiling and tasks == 1:
            axis.axvline(
                ceiling, color="#c0392b", linestyle="--", label=f"engine ceiling, no task ({ceiling:.0f}/s)"
            )
            axis.legend(loc="lower right")
        axis.set_title(f"Process with {tasks} service task(s)")
        axis.set_xlabel("completed instances per second")
        axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def configurations(only: list[str] | None = None) -> list[tuple[WorkerSet | None, int]]:
    """What one round measures, in order: the engine alone, then each set of workers on the
    one-task and the five-task process (those whose name contains a word of ``only``)."""
    chosen: list[tuple[WorkerSet | None, int]] = [(None, 0)]
    for tasks in (1, 5):
        for workers in (
            hireflow_pool(1),
            hireflow_pool(2),
            hireflow_pool(4),
            java_worker(),
            pyzeebe_default(),
            orchestration_sdk(),
        ):
            if only and not any(wanted.lower() in workers.name.lower() for wanted in only):
                continue
            chosen.append((workers, tasks))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = command_line("bench", __doc__)
    parser.add_argument("--quick", action="store_true", help="short phases, to try the benchmark out")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/performance.md's figures")
    parser.add_argument(
        "--profile", action="store_true", help="record the engine with JFR and say where its CPU went"
    )
    parser.add_argument("--out", type=Path, default=BUILD)
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="measure only the workers whose name contains NAME (repeatable), and the engine alone",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="measure every configuration N times, in alternating order; each row is the median round",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds takes a whole number of at least 1")
    if args.only and args.write_docs:
        parser.error("--write-docs needs every configuration measured: drop --only")
    timing = Timing(warmup_s=2, measure_s=5, latency_s=5) if args.quick else Timing()
    run_dir = args.out / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"==> Benchmark run under {run_dir}", flush=True)
    java_client_lib()
    engines = Engines(run_dir)
    measured: dict[tuple[str, int], list[Measurement]] = {}
    try:
        for round_index in range(args.rounds):
            if args.rounds > 1:
                print(f"==> Round {round_index + 1} of {args.rounds}", flush=True)
            order = configurations(args.only)
            for workers, tasks in order if round_index % 2 == 0 else order[::-1]:
                row = measure(engines, workers, tasks, timing, run_dir, profile=args.profile)
                if workers and not row.per_second and row.in_flight and engines.fresh_each_time:
                    row = measure_with_fewer_in_flight(engines, workers, tasks, timing, run_dir, row)
                measured.setdefault((row.workers, tasks), []).append(row)
    finally:
        engines.close()
    rows = [median_round(rounds) for rounds in measured.values()]

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    summary = ratios(rows)
    print(f"\nBenchmark on {engines.description}; {machine}\n")
    print(table(rows))
    print()
    for line in summary:
        print(line)
    results = {
        "engine": engines.description,
        "machine": machine,
        "timing": asdict(timing),
        "rounds": args.rounds,
        "rows": [asdict(r) for r in rows],
        "ratios": summary,
    }
    for folder in (run_dir, args.out):
        (folder / "results.json").write_text(json.dumps(results, indent=2))
        (folder / "results.md").write_text(table(rows) + "\n\n" + "\n".join(f"- {s}" for s in summary) + "\n")
        plot(rows, folder / "throughput.png")
    print(f"\nTable: {args.out / 'results.md'}; plot: {args.out / 'throughput.png'}")
    if args.profile:
        print(f"Engine profiles: {run_dir / 'profiles.md'}, recordings in {run_dir / 'profiles'}")
    if args.write_docs:
        from bench.docs import write_performance_doc

        write_performance_doc(results, PROJECT_ROOT / "docs" / "performance.md")
        print("docs/performance.md rewritten with these figures.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
