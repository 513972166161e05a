"""Puts a benchmark run's figures into ``docs/performance.md`` (``python -m bench --write-docs``).

Only the block between the ``<!-- figures -->`` markers is replaced; the page's prose,
findings and caveats are written by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.__main__ import Measurement, table

BLOCK = re.compile(r"<!-- figures -->.*?<!-- /figures -->", re.DOTALL)


def figures_block(results: dict) -> str:
    rows = [Measurement(**row) for row in results["rows"]]
    timing = results["timing"]
    ratios = "\n".join(f"- {line}" for line in results["ratios"])
    rounds = results.get("rounds", 1)
    median = (
        f" Each row is the median of {rounds} rounds, run in turn and in alternating order"
        " (*rounds /s*: the lowest and highest round)."
        if rounds > 1
        else ""
    )
    return (
        "<!-- figures -->\n"
        f"Engine: {results['engine']}. Machine: {results['machine']}. Each figure: "
        f"{timing['measure_s']:.0f} s measured after a {timing['warmup_s']:.0f} s warm-up; "
        f"latency over {timing['latency_s']:.0f} s at half of that configuration's maximum.{median}\n\n"
        f"{table(rows)}\n\n{ratios}\n"
        "<!-- /figures -->"
    )


def write_performance_doc(results: dict, path: Path) -> None:
    """Replace the figures block of ``path`` with ``results``; the rest stays as written."""
    text = path.read_text()
    if not BLOCK.search(text):
        raise ValueError(f"{path} has no <!-- figures --> ... <!-- /figures --> block to replace")
    path.write_text(BLOCK.sub(lambda _: figures_block(results), text))
