"""Who may call what, CSRF protection for the UI's forms, and security headers on every response.

- The domain API (with the candidates' erasure) needs ``Authorization: Bearer <HIREFLOW_API_TOKEN>``
  when that is set;
  the admin API always needs its own token (``webapp.blueprints.admin``).
- Webhooks carry the provider's signature; slot and card pages open by a signed link.
- The HTML console is served only while ``HIREFLOW_CONSOLE`` is on.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from webapp.problems import CONSOLE_BLUEPRINTS, SIGNED_LINK_BLUEPRINTS, TYPE_BASE, Problem, problem_response
from webapp.request_log import loggable_path

log = logging.getLogger(__name__)

csrf = CSRFProtect()

DOMAIN_API_BLUEPRINTS = (
    "resumes",
    "applications",
    "unlocks",
    "interviews",
    "items",
    "candidates",
    "postings",
    "employers",
    "skills",
)
# The JSON APIs are called with tokens or signatures, never with the UI's cookies.
CSRF_EXEMPT_BLUEPRINTS = ("health", "docs", "admin", *DOMAIN_API_BLUEPRINTS, "webhooks")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Signed links carry their token in the URL: never send it on to another site.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def require_bearer(tokens: str, realm: str, what: str) -> None:
    """Refuse the request with 401 unless it carries ``Authorization: Bearer <token>``.

    ``tokens`` may list several, separated by commas, so a new token can be handed out
    before the old one is withdrawn.
    """
    given = request.headers.get("Authorization", "").encode()
    accepted = [t.strip() for t in tokens.split(",") if t.strip()]
    # A list, not a generator: every token is compared, so the time taken tells nothing.
    if not any([hmac.compare_digest(given, f"Bearer {token}".encode()) for token in accepted]):
        raise Problem(
            401,
            "Unauthorized",
            f"send Authorization: Bearer <{what}>",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )


def guard_access() -> None:
    """Before each request: the domain API's token, and whether the console is served."""
    if request.blueprint in DOMAIN_API_BLUEPRINTS and current_app.config.get("API_TOKEN"):
        require_bearer(current_app.config["API_TOKEN"], "hireflow-api", "API token")
    if request.blueprint in CONSOLE_BLUEPRINTS and not current_app.config.get("CONSOLE"):
        raise Problem(404, "Not found", "this deployment serves no console (HIREFLOW_CONSOLE is off)")


def init_app(app: Flask) -> None:
    app.before_request(guard_access)
    if app.config.get("API_TOKEN") and app.config.get("CONSOLE"):
        log.warning(
            "the domain API needs a token but the HTML console is on, and it starts processes "
            "with no login: set HIREFLOW_CONSOLE=off, or serve it behind your sign-in proxy"
        )
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600 * 8)
    csrf.init_app(app)
    for name in CSRF_EXEMPT_BLUEPRINTS:
        csrf.exempt(app.blueprints[name])

    @app.errorhandler(CSRFError)
    def refuse_unchecked_form(error: CSRFError):
        # Flask-WTF's words ("The CSRF token has expired.") name a token nobody sees: say
        # what happened and what to do, and keep its words for the log and the problem's reason.
        log.info("form refused on %s %s: %s", request.method, loggable_path(), error.description)
        if "expired" in (error.description or ""):
            hours = current_app.config["WTF_CSRF_TIME_LIMIT"] / 3600
            why = f"This form was shown more than {hours:g} hours ago, so it can no longer be sent."
        else:
            why = (
                "This form could not be checked as one this site showed you: your session "
                "may have ended, or the form came from another page."
            )
        detail = f"{why} Nothing was done. Go back, reload the page and send the form again."
        return problem_response(
            Problem(
                400,
                "Form not accepted",
                detail,
                type_=TYPE_BASE + "form-not-accepted",
                reason=error.description,
            )
        )

    @app.context_processor
    def console_links() -> dict[str, bool]:
        # Candidates and employers open the signed-link pages from their emails: those never
        # link into the console, which is the team's (and may sit behind its sign-in).
        return {
            "console_links": bool(app.config.get("CONSOLE"))
            and request.blueprint not in SIGNED_LINK_BLUEPRINTS
        }

    @app.after_request
    def add_security_headers(response):
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if request.blueprint in SIGNED_LINK_BLUEPRINTS:
            response.headers["Cache-Control"] = "no-store"
        return response
