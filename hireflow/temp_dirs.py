"""Temporary directories a process owns while it runs, named by its pid.

The worker pool and the webapp each keep one (the workers' TMPDIRs, the metrics files of
gunicorn's workers) and remove it when they stop. A process SIGKILLed (the OOM killer, a
node drain) cannot; the next one of its kind to start removes every such directory whose
process has ended, so the system's temporary folder does not fill up with them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from hireflow.lifetime import process_running


def owned_temp_dir(kind: str, root: Path | None = None) -> Path:
    """A new directory ``hireflow-<kind>-<pid>-*`` in ``root`` (the system's temporary folder).

    First removes those of the same kind that processes now ended left behind.
    """
    root = Path(root or tempfile.gettempdir())
    remove_abandoned(kind, root)
    return Path(tempfile.mkdtemp(prefix=f"hireflow-{kind}-{os.getpid()}-", dir=root))


def remove_abandoned(kind: str, root: Path) -> list[Path]:
    """Remove this user's ``hireflow-<kind>-<pid>-*`` directories whose process has ended."""
    named = re.compile(rf"hireflow-{re.escape(kind)}-([0-9]+)-[^-]+")
    removed = []
    for entry in root.glob(f"hireflow-{kind}-*"):
        match = named.fullmatch(entry.name)
        try:
            if not match or entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue
        except OSError:  # removed meanwhile, by another process of the kind starting too
            continue
        if process_running(int(match[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
