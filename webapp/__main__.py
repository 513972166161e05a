"""``python -m webapp``: serve the webapp with gunicorn (threaded workers), as ``make run`` does.

``HIREFLOW_WEB_HOST`` (127.0.0.1), ``HIREFLOW_WEB_PORT`` (5000), ``HIREFLOW_WEB_WORKERS`` (2
processes) and ``HIREFLOW_WEB_THREADS`` (8 per process). Each worker process builds its
own app after the fork, so each has one engine client shared by its threads.
"""

from __future__ import annotations

import os
import secrets

from gunicorn.app.base import BaseApplication

from job_workers.logs import configure_logging


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


def main() -> None:
    configure_logging()
    env = os.environ
    # One secret for every worker process: a CSRF token signed by one must verify in another.
    env.setdefault("HIREFLOW_SECRET_KEY", secrets.token_urlsafe(32))
    host = env.get("HIREFLOW_WEB_HOST", "127.0.0.1")
    port = env.get("HIREFLOW_WEB_PORT", "5000")
    options = {
        "bind": f"{host}:{port}",
        "workers": int(env.get("HIREFLOW_WEB_WORKERS", "2")),
        "worker_class": "gthread",
        "threads": int(env.get("HIREFLOW_WEB_THREADS", "8")),
        # Uploads and engine calls are bounded well below this.
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": "-",
        "proc_name": "hireflow-webapp",
        # gunicorn's control socket sits at one path per user: two servers (``make run``
        # beside ``make test``) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }
    print(f"webapp: serving on http://{host}:{port} with gunicorn", flush=True)
    WebappServer(options).run()


if __name__ == "__main__":
    main()
