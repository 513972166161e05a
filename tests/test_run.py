"""What `make run` starts and deploys."""

from __future__ import annotations

import pytest

from hireflow.engine.embedded import EmbeddedEngine
from hireflow.engine.java import JavaInstall
from hireflow.run import (
    component_environment,
    components_to_start,
    embedded_engine_heap,
    model_files,
    runnable,
)
from hireflow.settings import SettingError


def test_components_get_local_defaults_that_the_environment_overrides(monkeypatch):
    monkeypatch.setenv("HIREFLOW_ADMIN_TOKEN", "from-the-environment")
    env = component_environment({"HIREFLOW_ENGINE_CONTROL_URL": "http://127.0.0.1:9600"})
    assert env["HIREFLOW_ADMIN_TOKEN"] == "from-the-environment"
    assert env["HIREFLOW_DEMO_DATA"] == "1"
    assert env["HIREFLOW_ENGINE_CONTROL_URL"] == "http://127.0.0.1:9600"


def test_the_payment_sandbox_delivers_webhooks_to_the_local_webapp(monkeypatch):
    monkeypatch.delenv("PAYMENT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("HIREFLOW_WEB_PORT", "5055")
    assert component_environment()["PAYMENT_WEBHOOK_URL"] == "http://127.0.0.1:5055/webhooks/payments"
    monkeypatch.setenv("PAYMENT_WEBHOOK_URL", "")  # explicitly off
    assert component_environment()["PAYMENT_WEBHOOK_URL"] == ""


def test_make_run_starts_every_component_that_exists():
    started = {name for name, _ in components_to_start()}
    assert started == {"payment sandbox", "mail capture", "worker pool", "webapp"}
    assert not runnable("no_such_package")
    assert not runnable("hireflow.engine.no_such_module")


def test_models_are_bpmn_dmn_and_form_files_in_a_stable_order(tmp_path):
    for name in ("b.bpmn", "a.dmn", "nested/c.form", "README.md", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in model_files(tmp_path)] == [
        "a.dmn",
        "b.bpmn",
        "nested/c.form",
    ]


def test_the_embedded_engine_heap_is_1g_unless_set():
    assert embedded_engine_heap({}) == "1g"
    assert embedded_engine_heap({"HIREFLOW_EMBEDDED_ENGINE_HEAP": " 1536m "}) == "1536m"
    assert embedded_engine_heap({"HIREFLOW_EMBEDDED_ENGINE_HEAP": "2G"}) == "2G"


@pytest.mark.parametrize("value", ["2", "2gb", "0g", "-1g", "1.5g", "2g -XX:+Foo"])
def test_a_heap_that_is_no_size_is_refused_in_words(value):
    with pytest.raises(SettingError, match="HIREFLOW_EMBEDDED_ENGINE_HEAP=.*such as 1536m or 2g"):
        embedded_engine_heap({"HIREFLOW_EMBEDDED_ENGINE_HEAP": value})


def test_the_embedded_engine_runs_with_the_heap_given(tmp_path):
    java = JavaInstall(home=tmp_path, major=21)
    command = EmbeddedEngine(tmp_path, java, tmp_path / "engine.log", heap="1536m").command()
    assert "-Xmx1536m" in command and "-Xmx1g" not in command
    assert "-Xmx1g" in EmbeddedEngine(tmp_path, java, tmp_path / "engine.log").command()
