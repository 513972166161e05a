"""Request ids and request logging.

Every request gets an id: the caller's ``X-Request-ID`` when it is a plain token (a
proxy or the marketplace backend may have set one), else a new one. The id comes back in
the response's ``X-Request-ID``, is on every log line written while the request runs,
and is the reference a 500 answer quotes, so a client's report leads to the log lines.

gunicorn's own lines and its access lines go through hireflow's log format (JSON in the
images), so a log shipper reads one format. Access lines never show a signed link's
token: those links work like a password, and logs are read by many.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping

from flask import Flask, g, has_request_context, request
from gunicorn.glogging import Logger as GunicornBaseLogger
from gunicorn.util import split_request_uri

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller may choose as the id: short, and nothing that could forge a log line.
CALLER_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Route parameters that are secrets; the logged path shows their name instead.
SECRET_ROUTE_PARAMETERS = ("token",)
# A signed link's token in a path, by the routes that take one. Matched on the path, not the
# route: a link with a slash doubled or added matches no route (a 308 or a 404), and gunicorn
# refuses some requests before the app sees them. ``tests/test_webapp_request_log.py``
# holds it to every route with a parameter of SECRET_ROUTE_PARAMETERS.
TOKEN_IN_PATH = re.compile(
    r"^(/+(?:applications/+withdrawal|applications/+unlock|interviews/+slot|interviews/+reschedule"
    r"|interviews/+other-times|unlocks/+card|unlocks/+payment|unlocks/+contact)/+)[^/]+"
)
# Probes whose passing answers stay out of the access log.
QUIET_PROBES = ("/healthz", "/readyz")
# The console's stylesheet and icon: two lines after every page, saying nothing.
QUIET_PREFIX = "/static/"
QUIET_STATIC_STATUSES = (200, 304)
# Where the app leaves the id and the loggable path for gunicorn's access line, and the
# names gunicorn's access atoms give those environ keys.
ENVIRON_REQUEST_ID = "hireflow.request_id"
ENVIRON_LOG_PATH = "hireflow.log_path"
ATOM_REQUEST_ID = "{hireflow.request_id}e"
ATOM_LOG_PATH = "{hireflow.log_path}e"


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return g.get("request_id") if has_request_context() else None


def loggable_path() -> str:
    """The request's path with its secrets (a signed link's token) replaced by their names."""
    return without_tokens(request.path)


def without_tokens(path: str) -> str:
    """``path`` with a signed link's token written ``<token>``, even where no route matched it."""
    return TOKEN_IN_PATH.sub(r"\1<token>", path)


def init_app(app: Flask) -> None:
    """Give every request an id before anything else runs, and answer with it."""

    @app.before_request
    def assign_request_id() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if CALLER_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.environ[ENVIRON_REQUEST_ID] = g.request_id

    @app.after_request
    def answer_with_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        request.environ[ENVIRON_LOG_PATH] = loggable_path()
        return response


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record logged while it is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class AccessLine(logging.Filter):
    """Rewrites gunicorn's access record: a short line, its parts as fields, secrets blanked.

    ``127.0.0.1 "GET /interviews/slot/<token>" 200 512 12ms``, with ``request_id``,
    ``method``, ``path``, ``status``, ``bytes`` and ``duration_ms`` as record fields
    (the JSON format writes them out).

    A probe that passes (``/healthz`` or ``/readyz`` answering 200) is left out unless
    the log level is DEBUG: Kubernetes asks every few seconds, and those lines would bury
    the rest. A failing probe is always logged. So are static files served (200, or 304
    from the browser's cache): each page of the console fetches two.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return True
        # gunicorn's atoms answer "-" for anything missing.
        path = atoms[ATOM_LOG_PATH]
        if path == "-":
            path = refused_request_path(atoms)
        status = int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"]
        quiet = (path in QUIET_PROBES and status == 200) or (
            path.startswith(QUIET_PREFIX) and status in QUIET_STATIC_STATUSES
        )
        if quiet and not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.method = atoms["m"]
        record.path = path
        record.status = status
        record.bytes = atoms["B"] or 0
        record.duration_ms = atoms["M"]
        record.remote_addr = atoms["h"]
        request_id = atoms[ATOM_REQUEST_ID]
        if request_id != "-":
            record.request_id = request_id
        record.msg = '%s "%s %s" %s %s %sms'
        record.args = (atoms["h"], record.method, path, record.status, record.bytes, record.duration_ms)
        return True


def refused_request_path(atoms: Mapping) -> str:
    """The path of a request the app never saw (refused by gunicorn itself), its token blanked.

    The environ gunicorn builds for a request it refused (a bad header, a bad chunk) has
    the request line's URI but no ``PATH_INFO``: the path comes from the URI, read as
    gunicorn reads it.
    """
    return without_tokens(split_request_uri(str(atoms["{raw_uri}e"])).path or "-")


class ServerLine(logging.Filter):
    """gunicorn's own lines (start, workers, signals) logged as ``gunicorn``.

    Its logger is named ``gunicorn.error``, so every ordinary INFO line about booting a
    worker read like an error in the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.name = "gunicorn"
        return True


class GunicornLogger(GunicornBaseLogger):
    """gunicorn's logger, sending its lines to the root handler (hireflow's format)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True
        if not any(isinstance(f, AccessLine) for f in self.access_log.filters):
            self.access_log.addFilter(AccessLine())
        if not any(isinstance(f, ServerLine) for f in self.error_log.filters):
            self.error_log.addFilter(ServerLine())
