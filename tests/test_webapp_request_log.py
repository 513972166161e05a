"""Request ids and the webapp's log lines: one format, and no signed-link token in them."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from hireflow.logs import ContextFormatter, JsonFormatter
from tests.offline_webapp import empty_services, offline_app
from tests.resume_samples import pdf_resume
from tests.web_helpers import resume_upload
from webapp.request_log import SECRET_ROUTE_PARAMETERS, GunicornLogger, RequestIdFilter


def keep_environs(app) -> list[dict]:
    """The WSGI environ of every request ``app`` answers, as gunicorn's access line reads it."""
    environs: list[dict] = []
    serve = app.wsgi_app

    def keep_environ(environ, start_response):
        answer = serve(environ, start_response)
        environs.append(environ)
        return answer

    app.wsgi_app = keep_environ
    return environs


@pytest.fixture
def app(tmp_path):
    """An offline app (the engine is unreachable) with a route that fails like a bug would."""
    app = offline_app(empty_services(tmp_path))

    def broken_view():
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", view_func=broken_view)
    return app


@pytest.fixture
def app_log():
    """Records the webapp's loggers write, with the request id filter ``python -m webapp`` adds."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("webapp")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_every_answer_carries_a_request_id(app):
    client = app.test_client()
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["X-Request-ID"]) == 32
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_callers_request_id_is_kept_when_it_is_a_plain_token(app):
    client = app.test_client()
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.91:b_c"})
    assert kept.headers["X-Request-ID"] == "edge-7f3a.91:b_c"
    for unsafe in ("short", "two words here", "x" * 129, "id\tforged=log"):
        replaced = client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert replaced.headers["X-Request-ID"] != unsafe


def test_log_lines_written_during_a_request_carry_its_id(app, app_log):
    response = app.test_client().post(
        "/api/resumes", **resume_upload(pdf_resume(pages=1)), headers={"X-Request-ID": "upload-0001"}
    )
    assert response.status_code == 503
    warning = next(r for r in app_log if "engine unavailable" in r.getMessage())
    assert warning.request_id == "upload-0001"


def test_an_unexpected_error_quotes_the_request_id_as_its_reference(app, app_log):
    response = app.test_client().get("/broken", headers={"X-Request-ID": "broken-0001"})
    assert response.status_code == 500
    assert response.json["reference"] == "broken-0001"
    assert "broken-0001" in response.json["detail"]
    assert "a bug" not in response.json["detail"]
    logged = next(r for r in app_log if r.exc_info)
    assert logged.request_id == "broken-0001" and "broken-0001" in logged.getMessage()


def test_a_signed_links_token_stays_out_of_the_log(app, app_log):
    """The app hands gunicorn the path with the token blanked (``hireflow.log_path``)."""
    environs = keep_environs(app)
    client = app.test_client()
    paths = (
        "/interviews/slot/SECRET-TOKEN.abc",
        "/unlocks/card/SECRET-TOKEN.abc",
        "/unlocks/payment/SECRET-TOKEN.abc/return",
        # Links a mail client or a person mangled match no route (a 404, or a 308 to the
        # merged slashes), and the token was logged as sent.
        "/interviews/slot/SECRET-TOKEN.abc/",
        "/unlocks//payment/SECRET-TOKEN.abc/return",
    )
    for path in paths:
        assert client.get(path).status_code < 500
    assert [e["hireflow.log_path"] for e in environs] == [
        "/interviews/slot/<token>",
        "/unlocks/card/<token>",
        "/unlocks/payment/<token>/return",
        "/interviews/slot/<token>/",
        "/unlocks//payment/<token>/return",
    ]
    assert all(len(e["hireflow.request_id"]) == 32 for e in environs)
    assert not [r for r in app_log if "SECRET-TOKEN" in r.getMessage()]


# -- gunicorn's access lines --


# What the app leaves in the environ of a slot link's request.
SEEN_BY_THE_APP = {"hireflow.log_path": "/interviews/slot/<token>", "hireflow.request_id": "req-00001"}


def access_record(environ_extra: dict, status: str = "200 OK") -> logging.LogRecord | None:
    """The record gunicorn's access log writes for one answered request, through GunicornLogger."""
    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append
    logger.access_log.addHandler(capture)
    try:
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": "/interviews/slot/SECRET-TOKEN.abc?utm=mail",
            "PATH_INFO": "/interviews/slot/SECRET-TOKEN.abc",
            "QUERY_STRING": "utm=mail",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "10.0.0.7",
            **environ_extra,
        }
        response = SimpleNamespace(status=status, sent=512, headers=[("Content-Type", "text/html")])
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=12))
    finally:
        logger.access_log.removeHandler(capture)
    assert logger.access_log.propagate and not logger.access_log.handlers
    return records[0] if records else None


def test_an_access_line_is_short_and_blanks_the_token():
    record = access_record(
        {"hireflow.log_path": "/interviews/slot/<token>", "hireflow.request_id": "req-00001"}
    )
    line = ContextFormatter().format(record)
    assert line.endswith('10.0.0.7 "GET /interviews/slot/<token>" 200 512 12ms request_id=req-00001')
    assert "SECRET-TOKEN" not in line


def test_an_access_line_in_json_has_its_parts_as_fields():
    record = access_record(
        {"hireflow.log_path": "/interviews/slot/<token>", "hireflow.request_id": "req-00001"}
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["logger"] == "gunicorn.access"
    assert {k: entry[k] for k in ("method", "path", "status", "bytes", "duration_ms", "request_id")} == {
        "method": "GET",
        "path": "/interviews/slot/<token>",
        "status": 200,
        "bytes": 512,
        "duration_ms": 12,
        "request_id": "req-00001",
    }
    assert "SECRET-TOKEN" not in json.dumps(entry)


def refused(raw_uri: str) -> dict:
    """What gunicorn's environ for a request it refused itself holds: the URI, no PATH_INFO."""
    return {"RAW_URI": raw_uri, "PATH_INFO": None, "QUERY_STRING": None}


@pytest.mark.parametrize(
    ("raw_uri", "logged"),
    [
        ("/api/resumes?q=1", "/api/resumes"),
        ("http://hireflow.example/api/resumes", "/api/resumes"),  # the absolute form
        ("/interviews/slot/SECRET-TOKEN.abc?utm=mail", "/interviews/slot/<token>"),
        ("/unlocks/payment/SECRET-TOKEN.abc/return", "/unlocks/payment/<token>/return"),
        ("//unlocks//card/SECRET-TOKEN.abc", "//unlocks//card/<token>"),
        ("*", "*"),  # OPTIONS * asks the server itself
    ],
)
def test_a_request_the_app_never_saw_is_logged_by_its_path_without_a_token(raw_uri, logged):
    # Before, the path came from PATH_INFO, which gunicorn leaves out there: the access line
    # was lost to an AttributeError, logged as an ERROR with its traceback.
    record = access_record(refused(raw_uri), status="400 Bad Request")
    assert ContextFormatter().format(record).endswith(f'"GET {logged}" 400 512 12ms')
    assert not hasattr(record, "request_id")


def test_every_route_with_a_token_has_it_blanked_when_gunicorn_refuses_the_request(tmp_path):
    app = offline_app(empty_services(tmp_path))
    secret = set(SECRET_ROUTE_PARAMETERS)
    with_token = [rule for rule in app.url_map.iter_rules() if set(rule.arguments) & secret]
    assert with_token
    for rule in with_token:
        path = rule.rule.replace("<token>", "SECRET-TOKEN.abc")
        record = access_record(refused(path), status="400 Bad Request")
        assert record.path == rule.rule, rule


def test_passing_probes_stay_out_of_the_access_log_unless_debugging():
    probe = {"hireflow.log_path": "/healthz", "hireflow.request_id": "probe-0001"}
    assert access_record(probe) is None
    failing = access_record({**probe, "hireflow.log_path": "/readyz"}, status="503 Service Unavailable")
    assert failing is not None and failing.status == 503
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert access_record(probe) is not None
    finally:
        root.setLevel(level)


def test_static_files_served_stay_out_of_the_access_log_but_a_missing_one_shows():
    stylesheet = {"hireflow.log_path": "/static/style.css", "hireflow.request_id": "page-0001"}
    assert access_record(stylesheet) is None
    assert access_record(stylesheet, status="304 Not Modified") is None
    missing = access_record({**stylesheet, "hireflow.log_path": "/static/gone.css"}, status="404 Not Found")
    assert missing is not None and missing.status == 404


def test_gunicorns_own_lines_take_the_same_format():
    config = Config()
    logger = GunicornLogger(config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        logger.info("Booting worker with pid: %s", 42)
    finally:
        logging.getLogger().removeHandler(handler)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    # Not "gunicorn.error": an ordinary line must not read as an error.
    assert entry["logger"] == "gunicorn" and entry["message"] == "Booting worker with pid: 42"


@pytest.mark.parametrize(("hops", "logged"), [(0, "10.0.0.7"), (1, "203.0.113.9")])
def test_the_client_address_comes_from_the_proxy_only_when_one_is_trusted(tmp_path, hops, logged):
    app = offline_app(empty_services(tmp_path), PROXY_HOPS=hops)
    environs = keep_environs(app)
    response = app.test_client().get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
    )
    assert response.status_code == 200
    assert environs[0]["REMOTE_ADDR"] == logged  # what gunicorn's access line shows
    assert environs[0]["wsgi.url_scheme"] == "http"  # the scheme is not taken from the proxy
