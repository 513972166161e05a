"""The production deployment files parse, resolve and hang together (issue 7, acceptance 1).

There is no container engine or Kubernetes cluster here, so:
* compose: ``docker compose config`` where the plugin exists, otherwise the compose-spec
  loader that Docker Compose itself is built on (tools/composecheck, from the Go proxy);
  plus structure checks of our own;
* Kubernetes: the kustomize rendering, validated offline against the Kubernetes JSON
  schemas bundled in kubernetes-validate, plus cross-reference checks.
"""

from __future__ import annotations

import importlib
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from hireflow.paths import PROJECT_ROOT
from tests.deploy_files import (
    CAMUNDA_VALUES,
    CAMUNDA_VERSION,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    KUSTOMIZATION_DIR,
    compose_config_command,
    dockerfile_stages,
    env_example,
    kubernetes_documents,
    raw_compose,
)
from webapp.security import DOMAIN_API_BLUEPRINTS, SIGNED_LINK_BLUEPRINTS

KUBERNETES_VERSION = "1.33.0"
LONG_RUNNING = {"workers", "webapp", "payment-sandbox", "mail-capture"}
HIREFLOW_SERVICES = LONG_RUNNING | {"deploy-models"}

# -- compose --


@pytest.fixture(scope="module")
def compose_command(tmp_path_factory):
    def command(env_file):
        built = compose_config_command(env_file, tmp_path_factory.mktemp("compose"))
        if built is None:
            pytest.skip("neither the docker compose plugin nor Go is installed; the YAML checks still ran")
        return built

    return command


def test_compose_resolves_as_docker_compose_config_does(compose_command):
    result = subprocess.run(compose_command(ENV_EXAMPLE), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == HIREFLOW_SERVICES | {"postgres", "orchestration"}
    assert resolved["services"]["orchestration"]["image"] == f"camunda/camunda:{CAMUNDA_VERSION}"
    workers = resolved["services"]["workers"]["environment"]
    assert workers["CAMUNDA_AUTH_STRATEGY"] == "BASIC" and workers["CAMUNDA_BASIC_AUTH_USERNAME"]


def test_compose_refuses_to_start_without_the_secrets(compose_command, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(compose_command(empty), capture_output=True, text=True)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


def test_every_service_is_health_checked_and_started_in_order_of_health():
    services = raw_compose()["services"]
    for name, service in services.items():
        if name == "deploy-models":
            assert service["restart"] == "no"  # a one-shot release step, not a daemon
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("logging"), f"{name} keeps unbounded logs"
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}, name
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency]
    assert services["webapp"]["depends_on"]["deploy-models"]["condition"] == "service_completed_successfully"


def test_compose_uses_the_pinned_camunda_version_and_documents_every_variable():
    text = COMPOSE_FILE.read_text()
    assert f"camunda/camunda:${{CAMUNDA_VERSION:-{CAMUNDA_VERSION}}}" in text
    documented = env_example()
    assert documented["CAMUNDA_VERSION"] == CAMUNDA_VERSION
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert used - set(documented) == set(), "variables missing from .env.example"
    # Every value .env.example leaves as a placeholder is a secret that compose requires.
    for key, value in documented.items():
        if value == "change-me":
            assert f"${{{key}:?" in text, f"{key} is a secret but compose does not require it"


def test_compose_secrets_are_never_written_in_the_file():
    for name, service in raw_compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|_KEY$|TOKEN", key):
                assert "${" in str(value), f"{name}.{key} holds a literal secret"


def test_workers_scale_and_share_the_file_store_with_the_webapp():
    services = raw_compose()["services"]
    workers, webapp = services["workers"], services["webapp"]
    assert "container_name" not in workers and "ports" not in workers  # --scale workers=N
    assert "hireflow-files:/var/lib/hireflow/files" in workers["volumes"]
    assert "hireflow-files:/var/lib/hireflow/files" in webapp["volumes"]
    assert set(raw_compose()["volumes"]) >= {"postgres-data", "orchestration-data", "hireflow-files"}


def test_compose_builds_existing_dockerfile_targets_and_mounts_existing_files():
    stages = dockerfile_stages()
    for name in HIREFLOW_SERVICES:
        assert raw_compose()["services"][name]["build"]["target"] in stages
    for service in raw_compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).is_file(), source


def test_the_compose_engine_config_protects_the_api_and_uses_postgresql():
    config = yaml.safe_load((PROJECT_ROOT / "deploy/compose/camunda/application.yaml").read_text())
    camunda = config["camunda"]
    assert camunda["security"]["authentication"] == {"method": "basic", "unprotected-api": False}
    assert camunda["security"]["authorizations"]["enabled"] is True
    rdbms = camunda["data"]["secondary-storage"]
    assert rdbms["type"] == "rdbms" and rdbms["rdbms"]["url"].startswith("jdbc:postgresql://postgres:")
    assert rdbms["rdbms"]["password"] == "${CAMUNDA_DB_PASSWORD}"
    users = [u["username"] for u in camunda["security"]["initialization"]["users"]]
    assert users == ["${CAMUNDA_ADMIN_USER}", "${HIREFLOW_CAMUNDA_CLIENT_USER}"]


def test_every_cluster_config_keeps_one_active_instance_per_business_item():
    # The webapp names each start's item (businessId); without this the cluster starts a
    # twin for a retried start whose first answer was lost (chaos on PostgreSQL, 2026-12-03).
    for path in ("deploy/camunda/config/application.yaml", "deploy/compose/camunda/application.yaml"):
        camunda = yaml.safe_load((PROJECT_ROOT / path).read_text())["camunda"]
        assert camunda["process-instance-creation"] == {"business-id-uniqueness-enabled": True}, path
    env = yaml.safe_load(CAMUNDA_VALUES.read_text())["orchestration"]["env"]
    assert {"name": "CAMUNDA_PROCESSINSTANCECREATION_BUSINESSIDUNIQUENESSENABLED", "value": "true"} in env


# -- Dockerfile --


def test_every_image_target_has_a_command_and_runs_as_a_user():
    stages = dockerfile_stages()
    assert set(stages) >= HIREFLOW_SERVICES | {"base"}
    for name in HIREFLOW_SERVICES:
        stage = stages[name]
        assert stage.cmd[:2] == ["python", "-m"], name
        assert stage.user and not stage.user.startswith("0"), f"{name} runs as root"
    for name in LONG_RUNNING:
        assert stages[name].healthcheck[:3] == ["python", "-m", "hireflow.healthcheck"], name
        assert stages[name].exposed, name


# -- Kubernetes --


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return kubernetes_documents()


def by_kind(documents: list[dict], kind: str) -> list[dict]:
    return [d for d in documents if d["kind"] == kind]


def test_the_validator_catches_a_mistake():
    """A control: strict validation refuses an unknown field, so a pass below means something."""
    broken = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_manifest_is_valid_against_the_kubernetes_schemas(manifests):
    secrets = [d for d in yaml.safe_load_all((KUSTOMIZATION_DIR / "secrets.example.yaml").read_text()) if d]
    for document in manifests + secrets:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    kinds = {d["kind"] for d in manifests}
    assert kinds >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Job",
        "ConfigMap",
        "PersistentVolumeClaim",
    }


def test_deployments_probe_their_health_endpoints(manifests):
    expected = {"hireflow-workers": ("/healthz", "/healthz"), "hireflow-webapp": ("/readyz", "/healthz")}
    deployments = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    assert set(deployments) == set(expected)
    for name, (ready_path, live_path) in expected.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["path"] == ready_path
        assert container["livenessProbe"]["httpGet"]["path"] == live_path
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] in ports
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def pod_labels(manifests: list[dict]) -> list[dict]:
    return [d["spec"]["template"]["metadata"]["labels"] for d in by_kind(manifests, "Deployment")]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_budgets_services_and_the_autoscaler_point_at_real_pods(manifests):
    labels = pod_labels(manifests)
    for kind in ("PodDisruptionBudget", "Service"):
        for document in by_kind(manifests, kind):
            selector = document["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selects(selector, pod) for pod in labels), document["metadata"]["name"]
    (hpa,) = by_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "hireflow-workers",
    }


def test_only_the_webapp_takes_outside_traffic(manifests):
    policies = by_kind(manifests, "NetworkPolicy")
    deny_all = [p for p in policies if "ingress" not in p["spec"]]
    assert deny_all and all(
        selects(deny_all[0]["spec"]["podSelector"]["matchLabels"], pod) for pod in pod_labels(manifests)
    )
    open_to_all = [p for p in policies for rule in p["spec"].get("ingress", []) if "from" not in rule]
    assert [p["spec"]["podSelector"]["matchLabels"] for p in open_to_all] == [
        {"app.kubernetes.io/name": "hireflow-webapp"}
    ]


def secret_key_refs(node):
    """Every ``secretKeyRef`` anywhere in ``node``."""
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]
        for value in node.values():
            yield from secret_key_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from secret_key_refs(item)


def test_secrets_are_referenced_by_key_and_documented(manifests):
    documented = {
        d["metadata"]["name"]: set(d["stringData"])
        for d in yaml.safe_load_all((KUSTOMIZATION_DIR / "secrets.example.yaml").read_text())
    }
    assert not by_kind(manifests, "Secret"), "real secrets never live in the manifests"
    references = list(secret_key_refs(manifests))
    assert references
    for reference in references:
        assert reference["key"] in documented[reference["name"]], reference
    for needed in ("CAMUNDA_CLIENT_ID", "CAMUNDA_CLIENT_SECRET", "SENDGRID_API_KEY", "PAYMENT_API_KEY"):
        assert needed in documented["hireflow-secrets"]
    (job,) = by_kind(manifests, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == [
        "python",
        "-m",
        "hireflow.deploy_models",
    ]


def test_the_camunda_chart_values_describe_a_replicated_cluster_on_postgresql():
    values = yaml.safe_load(CAMUNDA_VALUES.read_text())
    orchestration = values["orchestration"]
    assert (
        orchestration["clusterSize"],
        orchestration["partitionCount"],
        orchestration["replicationFactor"],
    ) == (
        "3",
        "3",
        "3",
    )
    assert orchestration["image"]["tag"] == CAMUNDA_VERSION
    assert orchestration["data"]["secondaryStorage"]["type"] == "rdbms"
    assert orchestration["data"]["secondaryStorage"]["rdbms"]["url"].startswith("jdbc:postgresql://")
    assert orchestration["exporters"] == {"camunda": {"enabled": False}, "rdbms": {"enabled": True}}
    assert orchestration["resources"]["requests"] and orchestration["resources"]["limits"]
    security = orchestration["security"]
    assert (
        security["authentication"]["method"] == "oidc"
        and security["authentication"]["unprotectedApi"] is False
    )
    assert "hireflow-workers" in security["initialization"]["defaultRoles"]["admin"]["clients"]
    documented = {
        d["metadata"]["name"]
        for d in yaml.safe_load_all((KUSTOMIZATION_DIR / "secrets.example.yaml").read_text())
    }
    for secret in re.findall(r"existingSecret: (\S+)", CAMUNDA_VALUES.read_text()):
        assert secret in documented


def test_the_guide_to_the_webapps_front_names_every_outside_path_and_not_the_admin_api():
    # deploy/README.md lists what a proxy in front of the webapp should expose; a blueprint
    # added for the outside world must be named there, and the admin API never.
    guide = (PROJECT_ROOT / "deploy" / "README.md").read_text()
    row = next(line for line in guide.splitlines() if line.startswith("| expose "))
    exposed, _, kept_in = row.partition("; not ")
    for name in (*DOMAIN_API_BLUEPRINTS, *SIGNED_LINK_BLUEPRINTS, "webhooks"):
        prefix = importlib.import_module(f"webapp.blueprints.{name}").bp.url_prefix
        assert f"`{prefix}" in exposed, prefix
    assert "/api/admin" not in exposed and "`/api/admin/`" in kept_in
