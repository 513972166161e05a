"""CSRF protection for the UI's forms and security headers on every response."""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

# The JSON APIs are called with tokens or signatures, never with the UI's cookies.
CSRF_EXEMPT_BLUEPRINTS = (
    "health",
    "docs",
    "admin",
    "resumes",
    "applications",
    "unlocks",
    "interviews",
    "webhooks",
)

# Pages reached by a signed link in an email: the token in the URL works like a password.
SIGNED_LINK_BLUEPRINTS = ("slots", "cards")

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


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600 * 8)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    csrf.init_app(app)
    for name in CSRF_EXEMPT_BLUEPRINTS:
        csrf.exempt(app.blueprints[name])

    @app.after_request
    def add_security_headers(response):
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if request.blueprint in SIGNED_LINK_BLUEPRINTS:
            response.headers["Cache-Control"] = "no-store"
        return response
