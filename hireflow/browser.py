"""Headless Debian Chromium for Playwright: never a downloaded browser.

Used to render diagrams and by the browser tests. ``make chromium`` installs the
Debian package when it is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Without the networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses; the rest keeps a run quiet and reproducible.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class ChromiumMissing(RuntimeError):
    """No Chromium on this machine: ``make chromium`` installs Debian's."""


def chromium_path() -> Path:
    """The Chromium binary: ``HIREFLOW_CHROMIUM``, else Debian's ``chromium`` on PATH."""
    configured = os.environ.get("HIREFLOW_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        raise ChromiumMissing("Chromium is not installed: run `make chromium` (Debian's chromium package)")
    return Path(found)


def launch(playwright):
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS, headless=True)
