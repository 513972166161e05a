"""The webapp's settings as the environment gives them (docs/configuration.md lists them all)."""

from __future__ import annotations

from tests.offline_webapp import empty_services, offline_app
from webapp.config import settings_from_environment


def session_cookie(response) -> str:
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))


def test_the_ui_session_cookie_stays_on_this_site(tmp_path):
    """It holds the CSRF secret: HttpOnly, SameSite=Lax, and Secure only behind HTTPS."""
    settings = settings_from_environment({})
    assert (settings["SESSION_COOKIE_SAMESITE"], settings["SESSION_COOKIE_SECURE"]) == ("Lax", False)
    cookie = session_cookie(offline_app(empty_services(tmp_path)).test_client().get("/"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_https_the_session_cookie_is_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("HIREFLOW_PUBLIC_URL", "https://hireflow.example.com")
    cookie = session_cookie(offline_app(empty_services(tmp_path)).test_client().get("/"))
    assert "Secure" in cookie and "SameSite=Lax" in cookie
