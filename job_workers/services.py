"""The adapters a worker process uses, built once per process and injected into the routers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hireflow.adapters.file_store import FileStore, LocalFileStore
from hireflow.paths import data_root
from hireflow.resume_intake import DEFAULT_LIMITS, IntakeLimits
from hireflow.store import Database


@dataclass
class Services:
    """Everything a task function may touch outside the process variables."""

    files: FileStore
    db: Database
    intake_limits: IntakeLimits = DEFAULT_LIMITS


def services_from_environment() -> Services:
    """Local defaults, overridden by ``HIREFLOW_FILES_DIR`` and ``HIREFLOW_DATABASE_URL``."""
    files_dir = Path(os.environ.get("HIREFLOW_FILES_DIR", data_root() / "files"))
    db = Database()
    db.create_schema()
    return Services(files=LocalFileStore(files_dir), db=db)
