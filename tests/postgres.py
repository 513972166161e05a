"""A throwaway PostgreSQL server for the store's tests, from Debian's packages.

The domain store runs on SQLite by default and on PostgreSQL by URL; the tests that
depend on the database's locking and constraints run on both. ``make test`` installs
Debian's ``postgresql`` package when it is missing; the server here lives in a temporary
folder, listens on a free loopback port and is stopped at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hireflow.engine.embedded import free_port

# A server refuses to run as root; Debian's package creates this account.
SERVER_USER = "postgres"


def server_binaries() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` that has ``pg_ctl``."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server in a new temporary folder; yields its admin URL (``postgresql+psycopg://...``).

    The folder is not pytest's: those are private to root, and the server runs as ``postgres``.
    """
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL is not installed: run `make postgres` (Debian's postgresql)")
    with tempfile.TemporaryDirectory(prefix="hireflow-postgres-") as folder:
        root = Path(folder)
        root.chmod(0o755)
        with _server_in(root, binaries) as admin_url:
            yield admin_url


@contextmanager
def _server_in(root: Path, binaries: Path) -> Iterator[str]:
    data, sockets = root / "data", root / "sockets"
    for folder in (data, sockets):
        folder.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
        for folder in (data, sockets):
            shutil.chown(folder, SERVER_USER)
    port = free_port()

    def run(tool: str, *args: str, check: bool = True) -> None:
        command = _as_server_user([str(binaries / tool), "-D", str(data), *args])
        subprocess.run(command, check=check, capture_output=True)

    run("initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run("pg_ctl", "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-m", "fast", "-w", "stop", check=False)


def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    import psycopg  # the `postgres` extra; imported here so SQLite-only runs need not have it

    name = f"hireflow_{uuid.uuid4().hex[:12]}"
    libpq_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
