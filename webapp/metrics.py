"""Prometheus metrics of the webapp: requests by route, method and status, and how long they took.

``python -m webapp`` runs several gunicorn worker processes. Each writes its metrics to
``PROMETHEUS_MULTIPROC_DIR``, and the gunicorn master serves their sum on a port of its
own (``HIREFLOW_WEB_METRICS_PORT``, 9465), apart from the routes an Ingress exposes, as
the worker pool does on 9464.
"""

from __future__ import annotations

import time

from flask import Flask, g, request
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "hireflow_web_requests_total",
    "Requests answered, by route (its URL rule), method and status",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "hireflow_web_request_duration_seconds",
    "Time from a request's arrival in the app to its answer, by route and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def init_app(app: Flask) -> None:
    @app.before_request
    def start_timing() -> None:
        g.metrics_started = time.monotonic()

    @app.after_request
    def count_request(response):
        # The URL rule, not the path: ids in paths would make a series per item.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            REQUEST_DURATION.labels(route, request.method).observe(time.monotonic() - started)
        return response
