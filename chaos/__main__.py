"""``python -m chaos`` (``make chaos``): every scenario against the whole product, then the table.

Starts the engine, the sandboxes, the worker pool and the webapp as real processes
under ``build/chaos/<run>/`` (their logs are there), runs each scenario, and prints the
checker's table. Exits 1 when a scenario misses the bar: 0 stuck, 0 double effects,
0 lost messages, no incident left after the faults are lifted.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from chaos.checker import ScenarioReport
from chaos.runner import Timing, ensure_posting, run_scenario, split_instances
from chaos.scenarios import SCENARIOS, by_name
from chaos.world import DatabaseNotEmpty, open_world
from hireflow.cli import command_line
from hireflow.paths import PROJECT_ROOT

COLUMNS = [
    ("scenario", "scenario"),
    ("started", "started"),
    ("completed", "completed"),
    ("incident", "incident"),
    ("stuck", "stuck"),
    ("incidents_repaired", "repaired"),
    ("unclear_incidents", "unclear incident"),
    ("double_charges", "2x charge"),
    ("double_refunds", "2x refund"),
    ("duplicate_emails", "2x email"),
    ("messages", "messages"),
    ("lost_messages", "lost"),
    ("before_subscription", "early msg"),
    ("refused_requests", "refused"),
    ("seconds", "seconds"),
]


def table(reports: list[ScenarioReport]) -> str:
    """The checker's table, as Markdown (readable in a terminal and in docs)."""
    rows = [[str(getattr(r, attr)) for attr, _ in COLUMNS] + [r.note] for r in reports]
    totals = (
        ["total"]
        + [str(sum(getattr(r, attr) for r in reports)) for attr, _ in COLUMNS[1:-1]]
        + [str(round(sum(r.seconds for r in reports), 1)), ""]
    )
    header = [title for _, title in COLUMNS] + ["note"]
    lines = [header, ["---"] * len(header), *rows, totals]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: list[str] | None = None) -> int:
    parser = command_line("chaos", __doc__)
    parser.add_argument("--instances", type=int, default=520, help="flows across all scenarios (default 520)")
    parser.add_argument(
        "--scenario", action="append", help=f"run only these (of {[s.name for s in SCENARIOS]})"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the pool")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "chaos")
    parser.add_argument(
        "--database-url",
        help="an empty domain database, e.g. PostgreSQL (default: a new SQLite file in the run's folder)",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every process this run started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    scenarios = by_name(args.scenario)
    root = args.out / time.strftime("%Y%m%d-%H%M%S")
    print(f"==> Starting hireflow for a chaos run under {root}", flush=True)
    reports = []
    with ExitStack() as stack:
        try:
            world = open_world(
                stack, root, worker_processes=args.workers, database_url=args.database_url, out=sys.stdout
            )
        except DatabaseNotEmpty as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"    engine: {world.engine.description}; store: {world.db.engine.dialect.name}", flush=True)
        posting_id = ensure_posting(world)
        # A scenario this engine cannot take is reported as not run; the others share its flows.
        runnable = [s for s in scenarios if world.engine.kill_and_restart or not s.needs_restartable_engine]
        counts = split_instances(args.instances, runnable or scenarios)
        for i, scenario in enumerate(scenarios):
            reports.append(
                run_scenario(
                    world,
                    scenario,
                    counts.get(scenario.name, 0),
                    posting_id,
                    seed=args.seed + i,
                    timing=Timing(),
                )
            )
            print(table(reports[-1:]).splitlines()[-2], flush=True)
        diagnostics = "" if all(r.meets_the_bar for r in reports) else world.engine.diagnostics()
        print("==> Stopping hireflow", flush=True)

    print(
        f"\nChaos run on {world.engine.description}, {args.workers} worker processes, "
        f"{world.db.engine.dialect.name} store:\n"
    )
    print(table(reports))
    for report in reports:
        for detail in report.details[:20]:
            print(f"  {report.scenario}: {detail}")
    (root / "report.json").write_text(json.dumps([asdict(r) for r in reports], indent=2))
    (root / "report.md").write_text(table(reports) + "\n")
    ran = [r for r in reports if not r.note.startswith("not run")]
    failed = [r.scenario for r in ran if not r.meets_the_bar]
    print(f"\nReport: {root / 'report.md'}")
    if failed:
        print(f"FAILED the bar (0 stuck, 0 double, 0 lost): {', '.join(failed)}")
        if diagnostics:
            print(f"\nThe engine, read before it stopped:\n{diagnostics}")
        return 1
    print(
        f"Every scenario run met the bar: {sum(r.started for r in ran)} instances, 0 stuck, 0 double, 0 lost."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
