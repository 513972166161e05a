"""The webapp's settings: read from the environment, each with a documented local default.

``create_app(config)`` starts from ``settings_from_environment()`` and lets ``config``
override any key, which is how tests point the app at their own engine and database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from hireflow.camunda_connection import ConnectionSettings
from hireflow.constants import DEFAULT_MAX_OFFERS_DECLINED, DEFAULT_MAX_RESCHEDULES
from hireflow.engine.profiles import local_profile
from hireflow.resume_intake import DEFAULT_LIMITS
from hireflow.settings import decimal_number, switch, whole_number

# Room for the multipart envelope and form fields around the largest accepted file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

# (setting, environment variable, local default, what it is): the table in docs/configuration.md.
SETTINGS: list[tuple[str, str, Any, str]] = [
    (
        "ENGINE_REST_URL",
        "HIREFLOW_ENGINE_REST_URL",
        local_profile().rest_url,
        "Camunda 8 Orchestration Cluster REST API (the /v2 API lives under it); "
        "`CAMUNDA_REST_ADDRESS` is read when this is unset",
    ),
    (
        "ENGINE_CONTROL_URL",
        "HIREFLOW_ENGINE_CONTROL_URL",
        "",
        "Set by `make run` when it falls back to the embedded engine: its control port",
    ),
    ("OPERATE_URL", "HIREFLOW_OPERATE_URL", local_profile().operate_url, "Operate, for links to instances"),
    (
        "TASKLIST_URL",
        "HIREFLOW_TASKLIST_URL",
        local_profile().tasklist_url,
        "Tasklist, for links to tasks (also in the emails the workers send to recruiters and panelists)",
    ),
    (
        "ENGINE_TIMEOUT_SECONDS",
        "HIREFLOW_ENGINE_TIMEOUT_SECONDS",
        10.0,
        "How long one engine call may take before the request answers 503; an unfinished "
        "request's claim is taken over after 3 times this (at least 30 s)",
    ),
    (
        "MESSAGE_TTL_SECONDS",
        "HIREFLOW_MESSAGE_TTL_SECONDS",
        3600,
        "How long the engine buffers a published message (and refuses its id again)",
    ),
    (
        "ADMIN_TOKEN",
        "HIREFLOW_ADMIN_TOKEN",
        "",
        "Bearer token of the admin API (several, comma-separated, while you rotate it); "
        "empty disables the admin API",
    ),
    (
        "API_TOKEN",
        "HIREFLOW_API_TOKEN",
        "",
        "Bearer token of the domain API (`/api/resumes`, `applications`, `unlocks`, `interviews`, "
        "`items`, `candidates`, `postings`, `employers`); several, comma-separated, while you rotate "
        "it; empty leaves it open, for local use only",
    ),
    (
        "CONSOLE",
        "HIREFLOW_CONSOLE",
        True,
        "Serve the HTML console (`/`, `/items`, `/items/...`, `/postings`, `/candidates`, `/mail`); "
        "it starts any process with no login, so turn it off, or put it behind your sign-in proxy, "
        "where others can reach the webapp",
    ),
    (
        "SECRET_KEY",
        "HIREFLOW_SECRET_KEY",
        "",
        "Signs the UI's session and CSRF tokens; empty picks a random one per start",
    ),
    (
        "PAYMENT_WEBHOOK_SECRET",
        "PAYMENT_WEBHOOK_SECRET",
        "whsec_hireflow_local",
        "Secret that signs the payment provider's webhooks (Stripe-Signature)",
    ),
    (
        "WEBHOOK_TOLERANCE_SECONDS",
        "HIREFLOW_WEBHOOK_TOLERANCE_SECONDS",
        300,
        "Oldest webhook timestamp accepted, against replays",
    ),
    (
        "MAIL_CAPTURE_URL",
        "HIREFLOW_MAIL_CAPTURE_URL",
        "http://127.0.0.1:8102",
        "Local mail capture whose emails the UI shows; empty hides the mail page",
    ),
    (
        "MAX_UPLOAD_BYTES",
        "HIREFLOW_MAX_UPLOAD_BYTES",
        DEFAULT_LIMITS.max_bytes,
        "Largest resume file accepted",
    ),
    (
        "MAX_RESCHEDULES",
        "HIREFLOW_MAX_RESCHEDULES",
        DEFAULT_MAX_RESCHEDULES,
        "How often one interview may be moved to another time (the candidate's or a panelist's "
        "link, the console, the API); after that a request to move it is refused with 409, for "
        "people to arrange. 0 moves none",
    ),
    (
        "MAX_OFFERS_DECLINED",
        "HIREFLOW_MAX_OFFERS_DECLINED",
        DEFAULT_MAX_OFFERS_DECLINED,
        "How many offers of interview times a candidate may turn down (the emailed *Ask for other "
        "times* link, the API); after that a request is refused with 409, and the recruiter's "
        "follow-up finds a time with them. 0 offers no such link",
    ),
    (
        "PROXY_HOPS",
        "HIREFLOW_PROXY_HOPS",
        0,
        "How many proxies (load balancer, Ingress) forward to the webapp; the client address in logs "
        "then comes from their `X-Forwarded-For`. 0 trusts no such header",
    ),
    (
        "DEMO_DATA",
        "HIREFLOW_DEMO_DATA",
        False,
        "Load the demo data at start: postings, employers, interviewers (`make run` sets it; `make seed`)",
    ),
]


def _read(environ: Mapping[str, str], variable: str, default: Any) -> Any:
    """One setting, of its default's type; a number is never negative."""
    if isinstance(default, bool):
        return switch(environ, variable, default)
    if isinstance(default, int):
        return whole_number(environ, variable, default, minimum=0)
    if isinstance(default, float):
        return decimal_number(environ, variable, default, minimum=0)
    return environ.get(variable, default)


def settings_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting, from the environment where set, else its local default.

    Raises ``SettingError`` (naming the variable) for a value that cannot be used.
    """
    environ = os.environ if environ is None else environ
    settings = {name: _read(environ, variable, default) for name, variable, default, _ in SETTINGS}
    # The cluster's address and credentials, named as Camunda documents them for clients
    # (CAMUNDA_REST_ADDRESS, CAMUNDA_AUTH_STRATEGY, ...): shared with the worker pool.
    connection = ConnectionSettings.from_environment(environ)
    settings["ENGINE_CONNECTION"] = connection
    if "HIREFLOW_ENGINE_REST_URL" not in environ and (
        environ.get("CAMUNDA_REST_ADDRESS") or environ.get("ZEEBE_REST_ADDRESS")
    ):
        settings["ENGINE_REST_URL"] = connection.rest_address
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = secrets.token_urlsafe(32)
    # The UI's session cookie holds the CSRF secret: never sent along cross-site, and only
    # over HTTPS when people reach the webapp by HTTPS (the links in emails say how).
    settings["SESSION_COOKIE_SAMESITE"] = "Lax"
    settings["SESSION_COOKIE_SECURE"] = environ.get("HIREFLOW_PUBLIC_URL", "").startswith("https://")
    return settings
