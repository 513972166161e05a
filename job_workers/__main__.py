"""``python -m job_workers``: the worker pool (``make run`` starts it).

Environment: the cluster connection as Camunda documents it (``ZEEBE_GRPC_ADDRESS``,
``CAMUNDA_AUTH_STRATEGY`` and credentials, TLS: see ``hireflow.camunda_connection``; the
default is the unprotected local engine on localhost:26500), ``HIREFLOW_WORKER_PROCESSES``
(one per CPU), ``HIREFLOW_WORKER_MAX_JOBS`` (8 per process), ``HIREFLOW_WORKER_STATUS_HOST``
and ``HIREFLOW_WORKER_STATUS_PORT`` (127.0.0.1:9464: /healthz and /metrics),
``HIREFLOW_LOG_FORMAT`` (text or json).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from hireflow.camunda_connection import ConnectionSettings, ConnectionSettingsError
from hireflow.cli import command_line
from hireflow.lifetime import end_with_parent
from hireflow.logs import configure_logging
from hireflow.paths import data_root
from hireflow.serving import serve_in_thread
from hireflow.settings import SettingError, whole_number
from hireflow.temp_dirs import owned_temp_dir
from job_workers.supervisor import Supervisor, create_status_app

log = logging.getLogger("job_workers")


WORKER_MODULE = "job_workers.worker"


def worker_command(name: str, heartbeat_file: Path, module: str = WORKER_MODULE) -> list[str]:
    """The command of the worker process in slot ``name``; its files sit beside the heartbeat.

    The held-jobs file keeps one slot's name across restarts, so the process started in a
    killed one's place finds the jobs it held (``job_workers.held_jobs``).
    """
    held_jobs_file = heartbeat_file.with_suffix(".held-jobs")
    return [
        *(sys.executable, "-m", module, "--name", name),
        *("--heartbeat-file", str(heartbeat_file), "--held-jobs-file", str(held_jobs_file)),
    ]


def pool_settings(env: Mapping[str, str] = os.environ) -> tuple[int, int, str]:
    """Worker processes, status port and status host; ``SettingError`` names a bad one."""
    return (
        whole_number(env, "HIREFLOW_WORKER_PROCESSES", os.cpu_count() or 2, minimum=1),
        whole_number(env, "HIREFLOW_WORKER_STATUS_PORT", 9464, minimum=0),
        env.get("HIREFLOW_WORKER_STATUS_HOST", "127.0.0.1"),
    )


def check_settings(env: Mapping[str, str] = os.environ) -> None:
    """Read every setting the pool and its worker processes read at their start.

    ``SettingError`` or ``ConnectionSettingsError`` names a bad one. For a launcher (``make
    run``) that would otherwise learn of it only after starting everything else.
    """
    # Imported here: the supervisor itself stays small (no adapters, no pyzeebe).
    from job_workers.services import check_settings as check_adapter_settings
    from job_workers.worker import WorkerSettings

    pool_settings(env)
    WorkerSettings.from_environment("settings check", env=env)
    check_adapter_settings(env)


def _arguments() -> argparse.Namespace:
    processes, status_port, status_host = pool_settings()
    parser = command_line("job_workers", __doc__)
    # The defaults are the environment's settings, so --help shows what a start would use.
    parser.add_argument("--processes", type=int, default=processes, help="worker processes (%(default)s)")
    parser.add_argument(
        "--status-port", type=int, default=status_port, help="/healthz and /metrics port (%(default)s)"
    )
    parser.add_argument("--status-host", default=status_host, help="address they listen on (%(default)s)")
    return parser.parse_args()


def main(worker_module: str = WORKER_MODULE) -> None:
    """Run the pool; ``worker_module`` is what each process runs (``bench/`` passes its own)."""
    end_with_parent("worker pool")
    try:
        # Checked once here: a bad setting stops the pool with one clear message instead of
        # every worker process failing in a restart loop. The worker processes check their
        # own (the adapters') and exit with EXIT_BAD_SETTINGS, which stops the pool too.
        # Either way the pool exits with 2, as a command refusing its settings does.
        args = _arguments()
        configure_logging("supervisor")
        connection = ConnectionSettings.from_environment()
    except (ConnectionSettingsError, SettingError) as exc:
        print(f"worker pool not started: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)

    state_dir = data_root() / "worker-pool"
    metrics_dir = state_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counters start at zero with the pool
    metrics_dir.mkdir(parents=True)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    # In the system's temporary directory, not the state directory: a short path, since the
    # workers' multiprocessing sockets go below it (see supervisor.LONGEST_TEMP_DIR). Named
    # by this pid: what a SIGKILLed pool left there goes when the next one starts.
    temp_root = owned_temp_dir("pool")
    supervisor = Supervisor(
        size=args.processes,
        command=lambda name, heartbeat: worker_command(name, heartbeat, worker_module),
        state_dir=state_dir,
        env=env,
        temp_root=temp_root,
    )
    stop = threading.Event()
    # SIGHUP (a closed terminal) as well: by default it would end the pool at once.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    server = serve_in_thread(create_status_app(supervisor), host=args.status_host, port=args.status_port)
    log.info("worker pool: %d processes; health and metrics on %s", args.processes, server.url)
    log.info("cluster connection: %s", connection.describe(rest=False))
    supervisor.start()
    try:
        supervisor.run_until(stop)
    finally:
        log.info("worker pool stopping")
        supervisor.stop()
        server.shutdown()
        shutil.rmtree(temp_root, ignore_errors=True)
    if supervisor.refused_settings:
        sys.exit(2)


if __name__ == "__main__":
    main()
