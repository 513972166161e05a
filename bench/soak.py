"""``python -m bench.soak`` (``make soak``): the whole product under steady load, watched for growth.

Starts hireflow as ``make chaos`` does (engine, sandboxes, worker pool, webapp, each a
real process), then drives batches of the four processes through the webapp with no
fault injected (the chaos suite's ``mixed`` flows), and after each batch samples every
process's resident memory, open file descriptors, threads and CPU time. A process whose
memory climbs batch after batch holds something per instance; one that levels off does
not. One whose CPU time per batch climbs does more work for the same batch: the cause,
when batches slow down.

Prints a table per batch and the growth per 1,000 instances of each process (a least
squares line through the batches after the first, which warms caches and pools), then the
CPU seconds each process spent on each batch, and writes ``build/soak/<run>/soak.md`` and
``soak.json``. Exits 1 when a batch misses the chaos bar (an instance stuck, in an
incident, or a double effect): a soak with no faults must finish everything.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hireflow.cli import command_line
from hireflow.paths import PROJECT_ROOT

BUILD = PROJECT_ROOT / "build" / "soak"


@dataclass(frozen=True)
class Usage:
    """One process (with its children) at one moment."""

    rss_mb: float
    fds: int
    threads: int
    cpu_s: float = 0.0  # user and system CPU seconds since it started, its children's too


@dataclass
class Batch:
    """A batch of flows, settled, and what every process used afterwards."""

    number: int
    instances: int  # started in this batch
    completed: int
    incident: int
    stuck: int
    double_effects: int
    seconds: float
    usage: dict[str, Usage] = field(default_factory=dict)
    # The embedded engine's Java heap after its last collection, MB: its log, mostly.
    engine_heap_mb: float | None = None

    @property
    def clean(self) -> bool:
        return self.completed == self.instances and not (self.incident or self.stuck or self.double_effects)


def growth_per_thousand(batches: list[Batch], process: str) -> float | None:
    """MB per 1,000 instances for ``process``: the slope of its RSS over instances so far.

    The first batch is left out (it warms caches, connection pools and thread pools), so
    at least three batches are needed for a figure.
    """
    return _slope_per_thousand(
        batches, lambda batch: batch.usage[process].rss_mb if process in batch.usage else None
    )


def heap_growth_per_thousand(batches: list[Batch]) -> float | None:
    """MB per 1,000 instances of the engine's heap after collections, as for a process's RSS."""
    return _slope_per_thousand(batches, lambda batch: batch.engine_heap_mb)


def heap_lasts_for(batches: list[Batch], heap_max_mb: float) -> int | None:
    """About how many instances from the start the engine's heap holds, at the growth measured.

    Counted to the whole heap; the engine runs out somewhat before (a collection needs room).
    """
    growth = heap_growth_per_thousand(batches)
    last = next((b for b in reversed(batches) if b.engine_heap_mb is not None), None)
    if not growth or growth <= 0 or last is None:
        return None
    so_far = sum(b.instances for b in batches[: batches.index(last) + 1])
    return int(round(so_far + (heap_max_mb - last.engine_heap_mb) / growth * 1000, -2))


def cpu_per_batch(batches: list[Batch], start: dict[str, Usage], process: str) -> list[float | None]:
    """The CPU seconds ``process`` spent on each batch: the difference of its samples.

    None for a batch where it was not sampled, or where its CPU time fell (it restarted).
    """
    spent: list[float | None] = []
    before = start.get(process)
    for batch in batches:
        after = batch.usage.get(process)
        if before is None or after is None or after.cpu_s < before.cpu_s:
            spent.append(None)
        else:
            spent.append(round(after.cpu_s - before.cpu_s, 1))
        before = after
    return spent


def cpu_table(batches: list[Batch], start: dict[str, Usage]) -> str:
    """Per batch: its seconds, and the CPU seconds each process spent on it; then their growth.

    The last row is the change of a batch's CPU seconds per 1,000 instances run before it
    (after the warm-up batch, as for memory): the process whose figure climbs is the one
    that makes later batches slower.
    """
    processes = list(start)
    spent = {p: cpu_per_batch(batches, start, p) for p in processes}
    by_number = {p: {b.number: cpu for b, cpu in zip(batches, spent[p], strict=True)} for p in processes}
    header = ["batch", "instances so far", "seconds", *processes]
    lines = [header, ["---"] * len(header)]
    total = 0
    for index, batch in enumerate(batches):
        total += batch.instances
        cells = ["-" if spent[p][index] is None else str(spent[p][index]) for p in processes]
        lines.append([str(batch.number), str(total), str(batch.seconds), *cells])
    growth = [_slope_per_thousand(batches, lambda b: b.seconds)]
    growth += [_slope_per_thousand(batches, lambda b, p=p: by_number[p][b.number]) for p in processes]
    lines.append(
        ["s per batch, per 1,000 instances", "", *("-" if g is None else f"{g:+.1f}" for g in growth)]
    )
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _slope_per_thousand(batches: list[Batch], value: Callable[[Batch], float | None]) -> float | None:
    points = []
    total = 0
    for batch in batches:
        total += batch.instances
        if batch.number > 0 and (y := value(batch)) is not None:
            points.append((total, y))
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(slope * 1000, 1)


def table(batches: list[Batch], start: dict[str, Usage], start_heap_mb: float | None = None) -> str:
    """Per batch: the outcome, and each process's RSS MB / fds / threads; then the growth.

    With the engine's heap after collections (the embedded engine's), a column for it too.
    """
    processes = list(start)
    heap = start_heap_mb is not None or any(b.engine_heap_mb is not None for b in batches)
    header = ["batch", "instances so far", "completed", "not clean", "seconds", *processes]
    header += ["engine heap after GC"] if heap else []
    lines = [header, ["---"] * len(header)]
    lines.append(
        ["start", "0", "-", "-", "-", *(_cell(start[p]) for p in processes)]
        + ([_mb(start_heap_mb)] if heap else [])
    )
    total = 0
    for batch in batches:
        total += batch.instances
        # unfinished (in an incident or stuck) and double effects
        not_clean = batch.instances - batch.completed + batch.double_effects
        lines.append(
            [
                str(batch.number),
                str(total),
                str(batch.completed),
                str(not_clean),
                str(batch.seconds),
                *(_cell(batch.usage[p]) if p in batch.usage else "-" for p in processes),
            ]
            + ([_mb(batch.engine_heap_mb)] if heap else [])
        )
    growth = [growth_per_thousand(batches, p) for p in processes]
    growth += [heap_growth_per_thousand(batches)] if heap else []
    lines.append(
        ["MB per 1,000 instances", "", "", "", "", *("-" if g is None else f"{g:+.1f}" for g in growth)]
    )
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _cell(usage: Usage) -> str:
    return f"{usage.rss_mb} MB / {usage.fds} / {usage.threads}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value} MB"


def _heap_mb(world) -> tuple[float | None, float | None]:
    """The engine's heap after its last collection and its maximum, MB (None: not known)."""
    use = world.engine.heap_use()
    if use is None:
        return None, None
    return round(use.used_after_gc_bytes / 2**20, 1), round(use.max_bytes / 2**20)


def sample(process_ids: dict[str, int | None]) -> dict[str, Usage]:
    """RSS, file descriptors, threads and CPU time of each process and its children, now."""
    import psutil  # the benchmark's extra (make soak installs it)

    usage = {}
    for name, pid in process_ids.items():
        rss = fds = threads = 0
        cpu = 0.0
        if pid:
            try:
                parent = psutil.Process(pid)
                family = [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                family = []
            for process in family:
                try:
                    rss += process.memory_info().rss
                    fds += process.num_fds()
                    threads += process.num_threads()
                    times = process.cpu_times()
                    # children_*: the children it waited for, which the listing no longer has
                    cpu += times.user + times.system + times.children_user + times.children_system
                except psutil.NoSuchProcess:
                    continue  # a child that ended between the listing and the reading
        usage[name] = Usage(round(rss / 2**20, 1), fds, threads, round(cpu, 2))
    return usage


def main(argv: list[str] | None = None) -> int:
    parser = command_line("bench.soak", __doc__)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--flows", type=int, default=200, help="flows per batch (an interview starts two)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the pool")
    parser.add_argument("--out", type=Path, default=BUILD)
    args = parser.parse_args(argv)
    if args.batches < 3:
        parser.error("--batches must be 3 or more: the first warms up, and a slope needs two more")

    from chaos.runner import Timing, ensure_posting, run_scenario
    from chaos.scenarios import Scenario, mixed
    from chaos.world import open_world

    root = args.out / time.strftime("%Y%m%d-%H%M%S")
    print(f"==> Starting hireflow for a soak run under {root}", flush=True)
    steady = Scenario("soak", "no fault", "a steady load leaves no growth behind", mixed)
    batches: list[Batch] = []
    with ExitStack() as stack:
        world = open_world(stack, root, worker_processes=args.workers, out=sys.stdout)

        def process_ids() -> dict[str, int | None]:
            ids = {"engine": world.engine.pid()}
            ids.update({name: c.process.pid if c.process else None for name, c in world.components.items()})
            return ids

        posting_id = ensure_posting(world)
        start = sample(process_ids())
        start_heap_mb, heap_max_mb = _heap_mb(world)
        for number in range(args.batches):
            report = run_scenario(
                world, steady, args.flows, posting_id, seed=number, timing=Timing(), out=sys.stdout
            )
            batch = Batch(
                number,
                instances=report.started,
                completed=report.completed,
                incident=report.incident,
                stuck=report.stuck,
                double_effects=report.double_charges + report.double_refunds + report.duplicate_emails,
                seconds=report.seconds,
                usage=sample(process_ids()),
                engine_heap_mb=_heap_mb(world)[0],
            )
            batches.append(batch)
            print(table(batches, start, start_heap_mb).splitlines()[-2], flush=True)
            print("    CPU s: " + cpu_table(batches, start).splitlines()[-2], flush=True)
        print("==> Stopping hireflow", flush=True)

    report_md = table(batches, start, start_heap_mb)
    lasts = heap_lasts_for(batches, heap_max_mb) if heap_max_mb else None
    if lasts:
        report_md += (
            f"\n\nAt that growth, the engine's {heap_max_mb} MB heap is full after about {lasts:,.0f} "
            "instances from the start (it runs out somewhat before: a collection needs room)."
        )
    print(
        f"\nSoak run on {world.engine.description}, {args.workers} worker processes "
        "(each cell: RSS / open fds / threads, with children):\n"
    )
    print(report_md)
    cpu_md = cpu_table(batches, start)
    print(f"\nCPU seconds each process spent on each batch (with children):\n\n{cpu_md}")
    (root / "soak.md").write_text(f"{report_md}\n\nCPU seconds per batch:\n\n{cpu_md}\n")
    (root / "soak.json").write_text(
        json.dumps(
            {
                "start": {k: asdict(v) for k, v in start.items()},
                "start_engine_heap_mb": start_heap_mb,
                "engine_heap_max_mb": heap_max_mb,
                "batches": [asdict(b) for b in batches],
            }
        )
    )
    print(f"\nReport: {root / 'soak.md'}")
    unclean = [b.number for b in batches if not b.clean]
    if unclean:
        print(f"FAILED: batches {unclean} left instances unfinished or did something twice")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
