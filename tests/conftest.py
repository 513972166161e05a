"""Shared fixtures: the real test engine, a REST client, and the models under test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hireflow.camunda_rest import CamundaRestClient
from hireflow.engine import (
    DistributionUnavailable,
    EngineProfile,
    fetch,
    find_java,
    profile_for_tests,
    start,
    stop,
)
from hireflow.engine.process import engine_pid
from hireflow.serving import serve_in_thread

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def serve() -> Iterator:
    """``serve(app)`` runs a Flask app on a free local port for this test; returns its server."""
    running = []

    def start(app):
        running.append(serve_in_thread(app))
        return running[-1]

    yield start
    for server in running:
        server.shutdown()


@pytest.fixture(scope="session")
def engine() -> Iterator[EngineProfile]:
    """The real Camunda 8 test engine, started if it is not running.

    An engine this session started is stopped at the end, unless
    HIREFLOW_KEEP_TEST_ENGINE=1 (faster reruns). One that already ran is left running.

    If the registry does not serve the pinned distribution, engine tests are skipped
    with Maven's exact report, never run against a stand-in. HIREFLOW_REQUIRE_ENGINE=1
    turns that skip into a failure.
    """
    profile = profile_for_tests()
    try:
        dist = fetch()
    except DistributionUnavailable as exc:
        if os.environ.get("HIREFLOW_REQUIRE_ENGINE") == "1":
            pytest.fail(str(exc))
        pytest.skip(f"real engine unavailable: {exc}")
    started_here = engine_pid(profile) is None
    start(profile, dist, find_java())
    yield profile
    if started_here and os.environ.get("HIREFLOW_KEEP_TEST_ENGINE") != "1":
        stop(profile)


@pytest.fixture(scope="session")
def camunda(engine: EngineProfile) -> CamundaRestClient:
    """REST v2 client for the test engine, with access to its controlled clock."""
    return CamundaRestClient(engine.rest_url, engine.management_url)


@pytest.fixture(scope="session")
def smoke_models(camunda: CamundaRestClient) -> dict:
    """Deploy the engine smoke-test models and form in one deployment."""
    return camunda.deploy(
        [
            FIXTURES / "engine-smoke.bpmn",
            FIXTURES / "engine-smoke-review.form",
            FIXTURES / "engine-fragile.bpmn",
        ]
    )


def pytest_terminal_summary(terminalreporter) -> None:
    """Make skipped engine tests impossible to overlook at the end of the run."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "real engine unavailable" in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} test(s) needing the real Camunda engine were SKIPPED", red=True
        )
        terminalreporter.write_line(str(skipped[0].longrepr[2]))
