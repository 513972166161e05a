"""Every error as an RFC 9457 problem detail (``application/problem+json``).

Views raise ``Problem``; request validation errors become 400 with ``invalid_params``
naming each field; an unreachable engine, database or file store becomes 503 with
``Retry-After``. Unexpected
exceptions are logged with a reference and answered 500 without internals. The UI's
pages get the same information as an HTML page.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import Flask, Response, json, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from hireflow.adapters.file_store import FileStoreUnavailable
from hireflow.store import database_says
from webapp.engine import EngineRejected, EngineUnavailable, ItemAskedForBefore, KeyReused, RequestInProgress
from webapp.request_log import current_request_id, loggable_path
from webapp.schemas import reason_in_words

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://hireflow.example/problems/"
# Every refusal of what the client sent: a field, or the request as a whole.
INVALID_REQUEST = TYPE_BASE + "invalid-request"
# The team's console, served only while HIREFLOW_CONSOLE is on (webapp.security).
CONSOLE_BLUEPRINTS = ("ui", "tasks")
# Pages reached by a signed link in an email: the token in the URL works like a password.
SIGNED_LINK_BLUEPRINTS = (
    "slots",
    "other_times",
    "reschedules",
    "cards",
    "payments",
    "contacts",
    "withdrawals",
    "unlock_offers",
)
# Blueprints whose pages are HTML; their errors render as pages too, so a candidate following
# an expired link from an email reads why, and not a JSON document.
HTML_BLUEPRINTS = {*CONSOLE_BLUEPRINTS, *SIGNED_LINK_BLUEPRINTS}


def problem_type(status: int, title: str) -> str:
    """The type of a problem given no type of its own: ``about:blank`` when the title is the
    status's own phrase ("Not found" for 404), else TYPE_BASE and the title in lower case,
    its words joined by "-" ("Card declined": ``.../problems/card-declined``).

    RFC 9457 has about:blank mean "nothing more than the status code", with the status's
    phrase as title: a title of our own ("Unlock closed", "Interview over") tells clients
    apart what the status alone does not, so its type names it, for clients to branch on.
    """
    if title.casefold() == HTTP_STATUS_CODES.get(status, "").casefold():
        return "about:blank"
    return TYPE_BASE + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Problem(Exception):
    """An error to answer as a problem detail: ``status``, ``title``, ``detail`` and extensions.

    Without ``type_``, the type follows from the status and the title (``problem_type``).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or problem_type(status, title)
        self.headers = headers or {}
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        body = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body["instance"] = request.path
        body.update(self.extensions)
        return body


def invalid_field(name: str, reason: str, status: int = 400, title: str = "Invalid request") -> Problem:
    """A 400 (or ``status``) naming the one field that is wrong."""
    return Problem(
        status,
        title,
        f"{name}: {reason}",
        type_=INVALID_REQUEST,
        invalid_params=[{"name": name, "reason": reason}],
    )


def invalid_request(detail: str, **extensions: Any) -> Problem:
    """A 400 about the request as a whole (a body that is no JSON object, say), of the same
    type as one naming a field, so a client tells every refused request by its type."""
    return Problem(400, "Invalid request", detail, type_=INVALID_REQUEST, **extensions)


def invalid_fields(params: list[dict[str, str]]) -> Problem:
    """A 400 naming every field that is wrong (``{"name": ..., "reason": ...}`` each)."""
    detail = "; ".join(f"{p['name']}: {p['reason']}" for p in params)
    return invalid_request(detail, invalid_params=params)


def validation_params(error: ValidationError) -> list[dict[str, str]]:
    """Each field pydantic refused, with the reason in words."""
    return [
        {"name": ".".join(str(part) for part in e["loc"]) or "body", "reason": reason_in_words(e)}
        for e in error.errors()
    ]


def from_validation_error(error: ValidationError) -> Problem:
    """A 400 naming every field pydantic refused."""
    return invalid_fields(validation_params(error))


def engine_unavailable(reason: str, retry_after_seconds: int = 5) -> Problem:
    """503: the engine cannot take the request now; nothing was accepted, so retrying is safe."""
    return Problem(
        503,
        "Process engine unavailable",
        f"{reason}. Nothing was accepted; retry in {retry_after_seconds} s.",
        type_=TYPE_BASE + "engine-unavailable",
        headers={"Retry-After": str(retry_after_seconds)},
    )


def dependency_unavailable(title: str, retry_after_seconds: int = 5) -> Problem:
    """503: a store the request needs cannot be reached now; retrying later is safe.

    The detail stays generic: the exception's text may name hosts or credentials, so it
    goes to the log only.
    """
    return Problem(
        503,
        title,
        f"Nothing was accepted; retry in {retry_after_seconds} s.",
        type_=TYPE_BASE + "dependency-unavailable",
        headers={"Retry-After": str(retry_after_seconds)},
    )


def wants_html_page() -> bool:
    """Whether the error answers a page: a UI page's URL, or a browser asking for a URL that matched none.

    An unmatched URL belongs to no blueprint. A browser (an old link in a mail, a typo)
    gets a page it can read; an API client (``Accept: */*`` or JSON) still gets JSON.
    """
    if request.blueprint in HTML_BLUEPRINTS:
        return True
    if request.blueprint is None:
        return (
            request.accept_mimetypes.best_match([PROBLEM_JSON, "application/json", "text/html"])
            == "text/html"
        )
    return False


def problem_response(problem: Problem) -> Response:
    if wants_html_page():
        html = render_template("error.html", problem=problem.body())
        response = Response(html, problem.status, mimetype="text/html")
    else:
        response = Response(json.dumps(problem.body()), problem.status, mimetype=PROBLEM_JSON)
    response.headers.update(problem.headers)
    return response


def init_app(app: Flask) -> None:
    """Answer every error as a problem detail."""

    @app.errorhandler(Problem)
    def handle_problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(ValidationError)
    def handle_validation(error: ValidationError):
        return problem_response(from_validation_error(error))

    @app.errorhandler(EngineUnavailable)
    def handle_engine_unavailable(error: EngineUnavailable):
        log.warning("engine unavailable on %s %s: %s", request.method, loggable_path(), error)
        return problem_response(engine_unavailable(str(error)))

    @app.errorhandler(FileStoreUnavailable)
    def handle_file_store_unavailable(error: FileStoreUnavailable):
        log.warning("file store unavailable on %s %s: %s", request.method, loggable_path(), error)
        return problem_response(dependency_unavailable("File store unavailable"))

    @app.errorhandler(OperationalError)
    def handle_database_unavailable(error: OperationalError):
        # Connection refused, server gone, SQLite busy: the database, not the request.
        log.warning("database unavailable on %s %s: %s", request.method, loggable_path(), error.orig)
        return problem_response(dependency_unavailable("Database unavailable"))

    @app.errorhandler(DataError)
    def handle_value_the_database_refuses(error: DataError):
        # A data exception (PostgreSQL's class 22: a NUL in a text, a number out of range):
        # the request's value, not the database's health. The checks at the door refuse such
        # values first; this keeps one that gets past them a 400, not a 500.
        reason = database_says(error)
        log.warning("database refused a value on %s %s: %s", request.method, loggable_path(), reason)
        detail = f"the database cannot store a value of this request ({reason})"
        return problem_response(Problem(400, "Value the database cannot store", detail))

    @app.errorhandler(IntegrityError)
    def handle_concurrent_write(error: IntegrityError):
        # A unique key met by a request that read before another wrote: the two raced for
        # one row (the checks before the write saw none). Trying again reads the winner's.
        reason = database_says(error)
        log.warning("concurrent write on %s %s: %s", request.method, loggable_path(), reason)
        return problem_response(
            Problem(
                409,
                "Conflict with a concurrent request",
                "another request changed the same item at the same moment; retry shortly",
                headers={"Retry-After": "1"},
            )
        )

    @app.errorhandler(EngineRejected)
    def handle_engine_rejected(error: EngineRejected):
        status = 409 if error.status == 409 else 422
        return problem_response(Problem(status, "Refused by the process engine", error.reason))

    @app.errorhandler(KeyReused)
    def handle_key_reused(error: KeyReused):
        return problem_response(
            Problem(
                409,
                "Key already used",
                f"{error}; a repeat must carry the first request's details, and a different "
                "request needs a business key of its own",
                type_=TYPE_BASE + "key-reused",
            )
        )

    @app.errorhandler(ItemAskedForBefore)
    def handle_item_asked_for_before(error: ItemAskedForBefore):
        # Its business key comes from the request's fields (the employer and the candidate of
        # an unlock...), so the client is told where the first one is, not to pick another key.
        from webapp.domain.records import KIND_OF_PROCESS  # webapp.domain imports this module

        kind = KIND_OF_PROCESS[error.process_id]
        status_url = url_for(f"{kind}s.get_{kind}", business_id=error.key)
        return problem_response(
            Problem(
                409,
                "Key already used",
                f"{error}; a repeat must carry the first request's details. {status_url} says how "
                "that one went; another starts once it ended without its purpose (an application "
                "withdrawn, an unlock cancelled or refunded, an interview cancelled or not scheduled)",
                type_=TYPE_BASE + "key-reused",
            )
        )

    @app.errorhandler(RequestInProgress)
    def handle_in_progress(error: RequestInProgress):
        return problem_response(
            Problem(409, "Request in progress", f"{error}; retry shortly", headers={"Retry-After": "1"})
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        headers = dict(error.get_headers()) if error.code == 405 else {}
        headers.pop("Content-Type", None)
        # Werkzeug's names are the statuses' own phrases ("Method Not Allowed"): nothing more to type.
        problem = Problem(
            error.code or 500, error.name, error.description, type_="about:blank", headers=headers
        )
        return problem_response(problem)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        # The request id, so a client quoting it leads to this request's log lines.
        reference = current_request_id() or secrets.token_hex(6)
        log.exception("unexpected error %s on %s %s", reference, request.method, loggable_path())
        problem = Problem(
            500,
            "Internal error",
            f"Something went wrong on our side (reference {reference}); the request may be retried.",
            reference=reference,
        )
        return problem_response(problem)
