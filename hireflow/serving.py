"""Run a WSGI app on a local port in a background thread (tests) or the foreground (``make run``)."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from hireflow.cli import command_line
from hireflow.logs import configure_command_logging
from hireflow.paths import data_root

log = logging.getLogger(__name__)


# Asked every few seconds by probes and scrapers: a line each would bury everything else.
QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


class PlainRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with plain access lines, and none for passing probes and scrapes.

    ``127.0.0.1 "POST /v3/mail/send HTTP/1.1" 202 -``, as the webapp's access lines read:
    werkzeug's own colour their parts with terminal codes, which garble log files, and
    repeat the time the log line already starts with. A probe or a scrape that fails is
    still logged; passing ones only at DEBUG.
    """

    # The version a request line that names none is answered in. Python's default, HTTP/0.9,
    # answers a line it cannot read with a bare HTML page and no status line; no client
    # speaks 0.9 any more, and every one can read "HTTP/1.0 400".
    default_request_version = "HTTP/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        access_log = logging.getLogger("werkzeug")
        # A request line the server could not read (``GARBAGE``) is answered 400 before it
        # has a path; reading one anyway failed, and the client got no answer at all.
        path = getattr(self, "path", "").split("?", 1)[0]
        quiet = path in QUIET_PATHS and str(code).startswith("2")
        if quiet and not access_log.isEnabledFor(logging.DEBUG):
            return
        access_log.info('%s "%s" %s %s', self.address_string(), self.requestline, code, size)


def bearer_matches(api_key: str) -> bool:
    """Whether the request being served carries ``Authorization: Bearer <api_key>``, as a sandbox checks it.

    Compared as bytes, in constant time: ``compare_digest`` refuses a str holding a
    non-ASCII letter, and a header can hold one (that was a 500).
    """
    given = request.headers.get("Authorization", "").encode()
    return secrets.compare_digest(given, f"Bearer {api_key}".encode())


@dataclass
class RunningServer:
    """A server started by ``serve_in_thread``; ``url`` is its base URL."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` threaded on ``host:port`` (0 picks a free port) until ``shutdown()``."""
    server = make_server(host, port, app, threaded=True, request_handler=PlainRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"{app.name}-server")
    thread.start()
    return RunningServer(server=server, thread=thread)


def stop_serving_once(signum, frame) -> None:
    """Stop serving (KeyboardInterrupt) on the first SIGINT, SIGTERM or SIGHUP; ignore later ones.

    A second Ctrl-C, which `make run` passes on to the process group, would otherwise
    interrupt the server's own close with a traceback.
    """
    for each in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_sandbox_cli(
    create_app: Callable[[str, str], Flask],
    *,
    module: str,
    doc: str | None,
    port: int,
    db_file: str,
    api_key: str,
    api_key_variable: str,
) -> None:
    """Command line of a sandbox: ``--host``, ``--port``, ``--db``, ``--api-key``; serves in the foreground.

    ``--host`` defaults to ``HIREFLOW_SANDBOX_HOST`` or 127.0.0.1 (a container sets 0.0.0.0);
    ``--api-key`` to the variable the clients read it from, so both sides share one setting.
    """
    parser = command_line(module, doc)
    host = os.environ.get("HIREFLOW_SANDBOX_HOST", "127.0.0.1")
    parser.add_argument(
        "--host", default=host, help="address to listen on (%(default)s; HIREFLOW_SANDBOX_HOST)"
    )
    parser.add_argument("--port", type=int, default=port, help="port to listen on (%(default)s)")
    parser.add_argument("--db", default=str(data_root() / db_file), help="its SQLite file (%(default)s)")
    # Its value is not shown in --help: a key is a secret, even a local one.
    parser.add_argument(
        "--api-key",
        default=os.environ.get(api_key_variable, api_key),
        help=f"the only API key it accepts ({api_key_variable}, else the local default)",
    )
    args = parser.parse_args()
    # The sandboxes' own lines (webhook deliveries, injected faults) next to the access log.
    configure_command_logging("sandbox")
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    # `docker stop` and Kubernetes send SIGTERM, a closed terminal SIGHUP: stop serving as
    # on Ctrl-C and exit 0.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_serving_once)
    try:
        app = create_app(args.db, args.api_key)
    except sqlite3.DatabaseError as exc:  # a damaged file, or not SQLite at all
        refusal = f"sandbox not started: its database {args.db} cannot be used: {exc}"
        print(refusal, file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    # Werkzeug's threaded server, without Flask's banner and its red "development server"
    # warning: a sandbox is a local stand-in for a provider, never production traffic.
    server = make_server(args.host, args.port, app, threaded=True, request_handler=PlainRequestHandler)
    log.info("%s serving on http://%s:%d (data in %s)", app.name, args.host, args.port, args.db)
    server.serve_forever()  # returns on Ctrl-C or SIGTERM (KeyboardInterrupt), closing the socket
