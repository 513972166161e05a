"""Where hireflow keeps things on this machine."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Root of local runtime data (engine state, files, databases); ``var/`` by default."""
    return Path(os.environ.get("HIREFLOW_DATA_DIR", PROJECT_ROOT / "var")).expanduser()


def cache_root() -> Path:
    """Per-machine cache, outside the clone, so the distribution is fetched once."""
    configured = os.environ.get("HIREFLOW_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "hireflow"
