"""Command lines: every ``python -m`` command answers ``--help`` and refuses what it does not take.

A command that reads only its environment still parses its arguments. Without that,
``python -m webapp --help`` started serving and ``python -m hireflow.seed --help`` loaded
the demo data: a newcomer asking what a command does made it do it.
"""

from __future__ import annotations

import argparse
from typing import Any


def command_line(module: str, doc: str | None, **options: Any) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``: its usage names the command as it is typed,
    and ``--help`` shows ``doc`` (the module's docstring) as written, without its
    reStructuredText quotes."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=(doc or "").replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **options,
    )
