"""The alert rules and the dashboard in deploy/monitoring: valid for Prometheus, the rules
proven by promtool's rule tests, and both written against metrics hireflow really serves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hireflow.paths import PROJECT_ROOT

MONITORING = PROJECT_ROOT / "deploy" / "monitoring"
RULES = MONITORING / "hireflow-alerts.yaml"
DASHBOARD = MONITORING / "hireflow-dashboard.json"
# Where hireflow defines its metrics: the pool, its supervisor and the webapp.
METRIC_SOURCES = [
    PROJECT_ROOT / "job_workers" / "metrics.py",
    PROJECT_ROOT / "job_workers" / "supervisor.py",
    PROJECT_ROOT / "job_workers" / "twins.py",
    PROJECT_ROOT / "webapp" / "metrics.py",
]


def promtool() -> str:
    """`make test` fetches it (HIREFLOW_PROMTOOL); elsewhere it may be on the PATH."""
    found = os.environ.get("HIREFLOW_PROMTOOL") or shutil.which("promtool")
    if found and Path(found).is_file():
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is missing: `make promtool` fetches it")
    pytest.skip("promtool is missing: run `make promtool`, or the tests through `make test`")


def run_promtool(*args: str) -> str:
    result = subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=MONITORING, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_prometheus_accepts_the_rules():
    assert "SUCCESS: 8 rules found" in run_promtool("check", "rules", RULES.name)


def test_every_alert_fires_when_it_should_and_only_then():
    assert "SUCCESS" in run_promtool("test", "rules", "hireflow-alerts.test.yaml")


def served_metrics() -> set[str]:
    names = set()
    for source in METRIC_SOURCES:
        names.update(re.findall(r'"(hireflow_[a-z_]+)"', source.read_text()))
    return names


def assert_served(expr: str, where: str) -> None:
    served = served_metrics()
    for name in re.findall(r"\bhireflow_[a-z_]+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in served or base in served, f"{where} uses {name}, which nothing serves"


def test_the_rules_use_only_metrics_hireflow_serves():
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert_served(rule["expr"], rule["alert"])
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def dashboard_panels() -> list[dict]:
    return json.loads(DASHBOARD.read_text())["panels"]


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` of every query on the dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]


def test_the_dashboard_uses_only_metrics_hireflow_serves():
    queries = dashboard_queries()
    assert len(queries) >= 10
    for title, expr in queries:
        assert_served(expr, f"the dashboard's panel {title!r}")
    # Every metric hireflow serves has a panel: a new one is added to the dashboard too.
    shown = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for _, e in queries
        for name in re.findall(r"\bhireflow_[a-z_]+", e)
    }
    assert served_metrics() <= shown, f"no panel shows {sorted(served_metrics() - shown)}"


def test_prometheus_accepts_every_dashboard_query(tmp_path):
    """promtool parses each query, with Grafana's interval variables as a Prometheus range."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"hireflow_dashboard:query_{i}",
                        "expr": expr.replace("$__rate_interval", "5m"),
                    }
                    for i, (_, expr) in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    (tmp_path / "dashboard-queries.yaml").write_text(yaml.safe_dump(rules))
    found = run_promtool("check", "rules", str(tmp_path / "dashboard-queries.yaml"))
    assert f"SUCCESS: {len(dashboard_queries())} rules found" in found


def test_the_dashboard_imports_anywhere_and_its_panels_do_not_overlap():
    """One Prometheus picked at import (no data source uid of ours), unique panel ids, and a
    layout on Grafana's 24-column grid where no two panels share a cell."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert [v["type"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, f"{panel['title']!r} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["description"], panel["title"]
