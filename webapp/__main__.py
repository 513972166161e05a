"""``python -m webapp``: serve the webapp with gunicorn (threaded workers), as ``make run`` does.

``HIREFLOW_WEB_HOST`` (127.0.0.1), ``HIREFLOW_WEB_PORT`` (5000), ``HIREFLOW_WEB_WORKERS`` (2
processes) and ``HIREFLOW_WEB_THREADS`` (8 per process). Each worker process builds its
own app after the fork, so each has one engine client shared by its threads.

The gunicorn master serves the worker processes' summed Prometheus metrics on
``HIREFLOW_WEB_HOST``:``HIREFLOW_WEB_METRICS_PORT`` (9465; 0 turns it off).

Every other setting (the engine, the database, secrets, the adapters) is an environment
variable too; docs/configuration.md lists them all with their defaults.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys

from gunicorn.app.base import BaseApplication

from hireflow.camunda_connection import ConnectionSettingsError
from hireflow.cli import command_line
from hireflow.lifetime import end_with_parent
from hireflow.logs import configure_logging
from hireflow.settings import SettingError, whole_number
from hireflow.store import Database, DatabaseUnavailable
from hireflow.temp_dirs import owned_temp_dir
from job_workers.services import check_settings as check_adapter_settings
from webapp.config import settings_from_environment
from webapp.gunicorn_arbiter import PauseTolerantArbiter
from webapp.gunicorn_worker import ProblemDetailsWorker
from webapp.request_log import GunicornLogger, RequestIdFilter


class WebappServer(BaseApplication):
    """gunicorn, configured in code so ``python -m webapp`` needs no config file."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from webapp import create_app

        return create_app()

    def run(self) -> None:
        """``BaseApplication.run`` with an arbiter that tolerates pauses (``gunicorn_arbiter``)."""
        try:
            PauseTolerantArbiter(self).run()
        except RuntimeError as exc:  # as gunicorn's own run: a bind it cannot make, say
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)


def serve_metrics(server) -> None:
    """gunicorn's ``when_ready`` hook: serve the workers' summed metrics from the master."""
    port = whole_number(os.environ, "HIREFLOW_WEB_METRICS_PORT", 0, minimum=0)
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    host = os.environ.get("HIREFLOW_WEB_HOST", "127.0.0.1")
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # metrics are worth a warning, not the whole webapp
        server.log.warning("webapp metrics not served on %s:%s: %s", host, port, exc)
        return
    server.log.info("webapp metrics on http://%s:%s/metrics", host, port)


def remove_metrics_files(server) -> None:
    """gunicorn's ``on_exit`` hook, run by the master only.

    Not ``atexit``: every worker is forked from the master and leaves by ``sys.exit``, so
    a worker that exits would delete the files the others still write.
    """
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def forget_worker(server, worker) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's gauges leave the sum."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def check_database_before_forking(env) -> None:
    """Connect to the domain database once, in the master: ``DatabaseUnavailable`` if it
    cannot be used. Otherwise each worker process would fail to boot with a traceback."""
    db = Database(env.get("HIREFLOW_DATABASE_URL"))
    try:
        db.check_reachable()
    finally:
        db.engine.dispose()  # no pooled connection may cross the fork


def load_demo_data_before_forking(env) -> None:
    """Load the demo data once, in the master, so N worker processes neither race nor log it N times."""
    from hireflow.seed import load_demo_data
    from webapp.config import settings_from_environment

    if not settings_from_environment(env)["DEMO_DATA"]:
        return
    db = Database(env.get("HIREFLOW_DATABASE_URL"))
    try:
        db.create_schema()
        report = load_demo_data(db)
    finally:
        db.engine.dispose()  # no pooled connection may cross the fork
    logging.getLogger("webapp").info("demo data loaded: added %s", report.what_was_added())
    env["HIREFLOW_DEMO_DATA"] = "0"  # the workers' create_app reads it after the fork


def server_settings(env) -> tuple[str, int, int, int]:
    """Host, port, worker processes and threads per process of gunicorn."""
    return (
        env.get("HIREFLOW_WEB_HOST", "127.0.0.1"),
        whole_number(env, "HIREFLOW_WEB_PORT", 5000, minimum=0),
        whole_number(env, "HIREFLOW_WEB_WORKERS", 2, minimum=1),
        whole_number(env, "HIREFLOW_WEB_THREADS", 8, minimum=1),
    )


def check_app_settings(env) -> None:
    """Read every setting the app's worker processes and the metrics hook will read;
    ``SettingError`` (or the engine connection's error) names a bad one.

    In the master, before it forks: a worker process that fails to boot would only say so
    in a traceback, once per worker.
    """
    whole_number(env, "HIREFLOW_WEB_METRICS_PORT", 0, minimum=0)
    settings_from_environment(env)  # the engine connection's settings too
    check_adapter_settings(env)


def main() -> None:
    command_line("webapp", __doc__).parse_args()
    end_with_parent("webapp")
    env = os.environ
    try:
        # gunicorn's lines too (GunicornLogger), so the whole output is one format.
        configure_logging(filters=(RequestIdFilter(),))
        host, port, workers, threads = server_settings(env)
        check_app_settings(env)
    except (SettingError, ConnectionSettingsError) as exc:
        print(f"webapp not started: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    # Before anything imports prometheus_client: the worker processes, forked from this
    # one, then write their metrics to files the master sums. Counters start at zero.
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess mode was chosen")
    # Named by this pid: what a SIGKILLed webapp left there goes when the next one starts.
    metrics_dir = str(owned_temp_dir("webapp-metrics"))
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    env.setdefault("HIREFLOW_WEB_METRICS_PORT", "9465")
    # One secret for every worker process: a CSRF token signed by one must verify in another.
    env.setdefault("HIREFLOW_SECRET_KEY", secrets.token_urlsafe(32))
    try:
        check_database_before_forking(env)
        load_demo_data_before_forking(env)
    except DatabaseUnavailable as exc:
        shutil.rmtree(metrics_dir, ignore_errors=True)  # gunicorn's on_exit never runs now
        # Exit code 1, not 2: a database server that is down may be up at the next start.
        print(f"webapp not started: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread, answering the requests gunicorn refuses itself as problem details.
        "worker_class": ProblemDetailsWorker,
        "threads": threads,
        # Uploads and engine calls are bounded well below this.
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": "-",
        "logger_class": GunicornLogger,
        "proc_name": "hireflow-webapp",
        # gunicorn's control socket sits at one path per user: two servers (``make run``
        # beside ``make test``) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
        "when_ready": serve_metrics,
        "child_exit": forget_worker,
        "on_exit": remove_metrics_files,
    }
    logging.getLogger("webapp").info("serving on http://%s:%s with gunicorn", host, port)
    WebappServer(options).run()


if __name__ == "__main__":
    main()
