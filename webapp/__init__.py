"""The hireflow webapp: deploys models, starts processes, takes uploads and webhooks.

``create_app(config)`` builds the app. Settings come from the environment (see
``webapp.config``) and ``config`` overrides them; ``engine_client`` and ``services``
inject the engine client and the adapters (tests pass their own).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from hireflow.adapters.calendar import WorkingHours
from hireflow.adapters.email import is_timestamp, readable_span, readable_time
from hireflow.camunda_rest import CamundaRestClient
from hireflow.flask_json import use_bounded_json
from hireflow.seed import load_demo_data
from hireflow.store import Interviewer
from job_workers.services import Services, services_from_environment
from webapp import problems, request_log, security
from webapp.blueprints import register
from webapp.claims import RequestClaims, stale_after_for
from webapp.config import MULTIPART_OVERHEAD_BYTES, settings_from_environment
from webapp.domain import Hireflow
from webapp.engine import ProcessGateway, client_from_settings
from webapp.incidents import Incidents
from webapp.local_tasks import LocalTasks
from webapp.stalled_jobs import StalledJobs

log = logging.getLogger(__name__)


def working_week(interviewer: Interviewer) -> str:
    """``Asia/Tokyo mon-fri 09:00-17:00``: when and where an interviewer on file works."""
    return str(
        WorkingHours.of_panelist(
            {"timezone": interviewer.timezone, "working_hours": interviewer.working_hours}
        )
    )


def create_app(
    config: dict[str, Any] | None = None,
    *,
    engine_client: CamundaRestClient | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the webapp: settings, one engine client, the domain operations, the blueprints."""
    app = Flask(__name__)
    use_bounded_json(app)
    app.config.update(settings_from_environment())
    app.config.update(config or {})
    if int(app.config["PROXY_HOPS"]) > 0:
        # The client's address only. ProxyFix would trust X-Forwarded-Proto by default, and
        # then Flask-WTF demands a Referer on HTTPS form posts, which no-referrer withholds.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_HOPS"]), x_proto=0)
    # Flask refuses larger bodies before reading them; the file check gives the exact limit.
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's own default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_BYTES"]) + MULTIPART_OVERHEAD_BYTES

    # A person waits on the payment call (saving a card): 2 tries of 5 s, then a 503.
    services = services or services_from_environment(payment_attempts=2, payment_timeout_seconds=5.0)
    client = engine_client or client_from_settings(app.config)
    claims = RequestClaims(services.db, stale_after_for(float(app.config["ENGINE_TIMEOUT_SECONDS"])))
    gateway = ProcessGateway(client, claims, message_ttl_ms=int(app.config["MESSAGE_TTL_SECONDS"]) * 1000)
    app.extensions["hireflow"] = Hireflow(
        gateway,
        services,
        max_upload_bytes=int(app.config["MAX_UPLOAD_BYTES"]),
        max_reschedules=int(app.config["MAX_RESCHEDULES"]),
        max_offers_declined=int(app.config["MAX_OFFERS_DECLINED"]),
    )
    app.extensions["incidents"] = Incidents(client)
    app.extensions["stalled_jobs"] = StalledJobs(client)
    # Only the embedded engine, which has no Tasklist, uses it (see webapp.blueprints.tasks).
    app.extensions["local_tasks"] = LocalTasks(app.extensions["hireflow"])

    # Imported here, not at the top: ``python -m webapp`` must choose prometheus_client's
    # multiprocess mode before the first import of it (see ``webapp.__main__``).
    from webapp import metrics

    # Times on pages read as in the emails that link to them.
    app.add_template_filter(readable_time, "when")
    app.add_template_filter(readable_span, "when_until")
    app.add_template_filter(working_week, "working_week")
    app.add_template_test(is_timestamp, "timestamp")
    # First, so every later hook and every log line has the request's id.
    request_log.init_app(app)
    metrics.init_app(app)
    problems.init_app(app)
    register(app)
    security.init_app(app)
    if app.config.get("DEMO_DATA"):
        report = load_demo_data(services.db)
        log.info("demo data loaded: added %s", report.what_was_added())
    return app
