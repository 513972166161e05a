"""The alert rules in deploy/monitoring: valid for Prometheus, proven by promtool's rule tests,
and written against metrics hireflow really serves."""

from __future__ import annotations

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
# Where hireflow defines its metrics: the pool, its supervisor and the webapp.
METRIC_SOURCES = [
    PROJECT_ROOT / "job_workers" / "metrics.py",
    PROJECT_ROOT / "job_workers" / "supervisor.py",
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


def test_the_rules_use_only_metrics_hireflow_serves():
    served = served_metrics()
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in re.findall(r"\bhireflow_[a-z_]+", rule["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                assert name in served or base in served, f"{rule['alert']} uses {name}, which nothing serves"
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
