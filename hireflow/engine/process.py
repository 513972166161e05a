"""Start, stop and inspect the engine as a background Java process."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from hireflow.engine.distribution import MAIN_CLASS, Distribution
from hireflow.engine.java import JavaInstall
from hireflow.engine.profiles import EngineProfile
from hireflow.lifetime import process_running
from hireflow.settings import decimal_number

DEFAULT_START_TIMEOUT_S = 420.0
STOP_TIMEOUT_S = 90.0
JVM_FLAGS = [
    # The flags Camunda's own start scripts use.
    "-XX:+ExitOnOutOfMemoryError",
    "-Dfile.encoding=UTF-8",
    "-Xshare:auto",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
]


def start_timeout(env=os.environ) -> float:
    """Seconds the engine may take to start: ``HIREFLOW_ENGINE_START_TIMEOUT``, else 420.

    Read when an engine starts, not on import: a bad value is then a ``SettingError`` the
    caller reports in one line, not a traceback from every import of ``hireflow.engine``.
    """
    return decimal_number(env, "HIREFLOW_ENGINE_START_TIMEOUT", DEFAULT_START_TIMEOUT_S, minimum=1)


class EngineError(RuntimeError):
    """The engine could not be started, stopped or reached."""


@dataclass
class EngineStatus:
    """What a person needs to know about one engine."""

    profile: EngineProfile
    pid: int | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    rss_mb: float | None = None
    uptime_s: float | None = None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def describe(self) -> str:
        p = self.profile
        if not self.running:
            return f"Camunda engine '{p.name}': not running (data: {p.data_dir})."
        checks = ", ".join(f"{name} {'ok' if ok else 'waiting'}" for name, ok in self.checks.items())
        lines = [
            f"Camunda engine '{p.name}': {'ready' if self.ready else 'starting'} "
            f"(pid {self.pid}, up {self.uptime_s or 0:.0f} s, resident memory {self.rss_mb or 0:.0f} MB)",
            f"  checks:     {checks}",
            f"  Operate:    {p.operate_url}  (login demo/demo)",
            f"  Tasklist:   {p.tasklist_url}  (login demo/demo)",
            f"  REST API:   {p.rest_url}/v2  (topology: {p.rest_url}/v2/topology)",
            f"  gRPC:       {p.grpc_address}",
            f"  Health:     {p.management_url}/actuator/health",
            f"  Data:       {p.data_dir}",
            f"  Log:        {p.log_file}",
        ]
        return "\n".join(lines)


# --- Process bookkeeping -----------------------------------------------------------------


def _is_our_engine(pid: int, profile: EngineProfile) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return MAIN_CLASS.encode() in cmdline and f"-Dhireflow.engine={profile.name}".encode() in cmdline


def engine_pid(profile: EngineProfile) -> int | None:
    """The pid of this profile's engine if it runs, cleaning up a stale pid file."""
    try:
        pid = int(profile.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if process_running(pid) and _is_our_engine(pid, profile):
        return pid
    profile.pid_file.unlink(missing_ok=True)
    return None


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _uptime_s(pid: int) -> float | None:
    try:
        started_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot_uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return boot_uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def _start_lock(profile: EngineProfile):
    """Serialise starts, so two `make` runs at once cannot start two brokers."""
    profile.data_dir.mkdir(parents=True, exist_ok=True)
    with (profile.data_dir / "engine.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- Readiness ---------------------------------------------------------------------------


def readiness(profile: EngineProfile, timeout: float = 3.0) -> dict[str, bool]:
    """Each readiness signal: actuator health, REST topology, Operate and Tasklist pages."""

    def ok(url: str, accept=lambda r: r.status_code == 200) -> bool:
        try:
            return accept(requests.get(url, timeout=timeout, allow_redirects=False))
        except requests.RequestException:
            return False

    def has_broker(response: requests.Response) -> bool:
        if response.status_code != 200:
            return False
        brokers = response.json().get("brokers") or []
        return any(p.get("health") == "healthy" for b in brokers for p in b.get("partitions", []))

    # The web apps answer a page or a redirect to their login.
    page = lambda r: r.status_code in (200, 302)  # noqa: E731
    return {
        "health": ok(f"{profile.management_url}/actuator/health"),
        "topology": ok(f"{profile.rest_url}/v2/topology", has_broker),
        "operate": ok(f"{profile.operate_url}", page),
        "tasklist": ok(f"{profile.tasklist_url}", page),
    }


def status(profile: EngineProfile) -> EngineStatus:
    """What runs for this profile, and how healthy it is."""
    pid = engine_pid(profile)
    if pid is None:
        return EngineStatus(profile=profile)
    return EngineStatus(
        profile=profile, pid=pid, checks=readiness(profile), rss_mb=_rss_mb(pid), uptime_s=_uptime_s(pid)
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(
    profile: EngineProfile, pid: int, timeout: float | None = None, out=sys.stderr
) -> EngineStatus:
    """Poll the readiness signals, reporting progress, until all pass or the engine dies
    (within ``timeout`` seconds, else ``start_timeout()``)."""
    if timeout is None:
        timeout = start_timeout()
    deadline = time.monotonic() + timeout
    last_report = 0.0
    started = time.monotonic()
    while True:
        if not process_running(pid):
            raise EngineError(
                f"The engine exited during start-up. Last lines of {profile.log_file}:\n"
                + _tail(profile.log_file)
            )
        checks = readiness(profile)
        if all(checks.values()):
            return status(profile)
        now = time.monotonic()
        if now > deadline:
            raise EngineError(
                f"The engine was not ready after {timeout:.0f} s ({checks}). "
                f"Last lines of {profile.log_file}:\n{_tail(profile.log_file)}"
            )
        if now - last_report >= 10:
            last_report = now
            waiting = ", ".join(name for name, ok in checks.items() if not ok)
            print(f"  waiting for the engine ({now - started:.0f} s): {waiting}", file=out, flush=True)
        time.sleep(1.0)


# --- Start and stop ----------------------------------------------------------------------


def java_command(profile: EngineProfile, dist: Distribution, java: JavaInstall) -> list[str]:
    """The full command line that starts this profile's engine."""
    classpath = os.pathsep.join([*(str(d) for d in profile.config_dirs), dist.classpath_glob])
    locations = ",".join(f"file:{d}/" for d in profile.config_dirs)
    return [
        str(java.java),
        f"-Xmx{profile.heap}",
        *JVM_FLAGS,
        f"-Dbasedir={profile.data_dir}",
        # Marks the process as this profile's engine, for status and stop.
        f"-Dhireflow.engine={profile.name}",
        "-cp",
        classpath,
        MAIN_CLASS,
        f"--spring.config.additional-location={locations}",
    ]


def engine_environment(profile: EngineProfile, java: JavaInstall) -> dict[str, str]:
    """Environment read by the ${...} placeholders in deploy/camunda/config*/application.yaml."""
    return {
        **os.environ,
        "JAVA_HOME": str(java.home),
        "HIREFLOW_ENGINE_DATA_DIR": str(profile.data_dir),
        "HIREFLOW_ENGINE_HTTP_PORT": str(profile.http_port),
        "HIREFLOW_ENGINE_GRPC_PORT": str(profile.grpc_port),
        "HIREFLOW_ENGINE_MANAGEMENT_PORT": str(profile.management_port),
        "HIREFLOW_ENGINE_COMMAND_PORT": str(profile.command_port),
        "HIREFLOW_ENGINE_INTERNAL_PORT": str(profile.internal_port),
    }


def start(
    profile: EngineProfile,
    dist: Distribution,
    java: JavaInstall,
    *,
    timeout: float | None = None,
    out=sys.stderr,
) -> EngineStatus:
    """Start the engine in the background and wait until it is ready (within ``timeout``
    seconds, else ``start_timeout()``).

    Starting an engine that already runs does nothing but wait for it to be ready.
    """
    if timeout is None:
        timeout = start_timeout()
    with _start_lock(profile):
        pid = engine_pid(profile)
        if pid is not None:
            print(
                f"Camunda engine '{profile.name}' already runs (pid {pid}); not starting another.",
                file=out,
                flush=True,
            )
            return wait_until_ready(profile, pid, timeout, out)
        busy = [f"{name} {port}" for name, port in profile.ports.items() if _port_open(profile.host, port)]
        if busy:
            raise EngineError(
                f"Cannot start engine '{profile.name}': port(s) {', '.join(busy)} are taken by "
                "another program. Stop it, or stop an engine started from another checkout."
            )
        profile.log_file.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"Starting Camunda {dist.version} ('{profile.name}') on Java {java.major}; "
            f"log: {profile.log_file}",
            file=out,
            flush=True,
        )
        started = time.monotonic()
        with profile.log_file.open("ab") as log:
            proc = subprocess.Popen(
                java_command(profile, dist, java),
                cwd=profile.data_dir,
                env=engine_environment(profile, java),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in `make run` stops workers and webapp, not the engine.
                start_new_session=True,
            )
        profile.pid_file.write_text(f"{proc.pid}\n")
        try:
            result = wait_until_ready(profile, proc.pid, timeout, out)
        except EngineError:
            stop(profile, out=out)
            raise
        print(
            f"Camunda engine '{profile.name}' ready in {time.monotonic() - started:.0f} s.",
            file=out,
            flush=True,
        )
        return result


def stop(profile: EngineProfile, *, timeout: float = STOP_TIMEOUT_S, out=sys.stderr) -> bool:
    """Stop the engine cleanly (SIGTERM, then SIGKILL after ``timeout``). True if one ran."""
    pid = engine_pid(profile)
    if pid is None:
        print(f"Camunda engine '{profile.name}' is not running.", file=out, flush=True)
        return False
    print(f"Stopping Camunda engine '{profile.name}' (pid {pid})...", file=out, flush=True)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_running(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if process_running(pid):
        print(f"  no clean stop after {timeout:.0f} s; killing it.", file=out, flush=True)
        os.kill(pid, signal.SIGKILL)
        while process_running(pid):
            time.sleep(0.2)
    profile.pid_file.unlink(missing_ok=True)
    print(f"Camunda engine '{profile.name}' stopped; data kept in {profile.data_dir}.", file=out, flush=True)
    return True
