"""What `make run` starts and deploys."""

from __future__ import annotations

from hireflow.run import component_environment, components_to_start, model_files, runnable


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
