"""Readers for the deployment files (Dockerfile stages, compose, Kubernetes), shared by tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

from hireflow.paths import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
KUSTOMIZATION_DIR = PROJECT_ROOT / "deploy" / "helm" / "hireflow"
CAMUNDA_VALUES = PROJECT_ROOT / "deploy" / "helm" / "camunda-values.yaml"
COMPOSE_CHECKER_SOURCE = PROJECT_ROOT / "tools" / "composecheck"
CAMUNDA_VERSION = (PROJECT_ROOT / "deploy" / "camunda" / "VERSION").read_text().strip()


@dataclass
class Stage:
    """One ``FROM ... AS name`` stage, with what it inherits from its parent stage."""

    name: str
    parent: str
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    user: str = ""


def _exec_form(value: str) -> list[str]:
    """The JSON (exec) form of CMD/HEALTHCHECK CMD; the shell form is refused on purpose."""
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"use the exec form: {value}"
    return parsed


def dockerfile_stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """Every named stage, with ENV, CMD, HEALTHCHECK, EXPOSE and USER resolved through parents."""
    parser = DockerfileParser(path=str(path))
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in parser.structure:
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "FROM":
            image, _, name = value.partition(" AS ")
            parent = stages.get(image.strip())
            current = Stage(name=name.strip(), parent=image.strip())
            if parent:
                current.env = dict(parent.env)
                current.cmd, current.healthcheck = list(parent.cmd), list(parent.healthcheck)
                current.exposed, current.user = list(parent.exposed), parent.user
            stages[current.name] = current
        elif current is None:
            continue
        elif kind == "ENV":
            for pair in value.split():
                key, _, raw = pair.partition("=")
                current.env[key] = raw.strip('"')
        elif kind == "CMD":
            current.cmd = _exec_form(value)
        elif kind == "HEALTHCHECK":
            current.healthcheck = _exec_form(value.split(" CMD ", 1)[1])
        elif kind == "EXPOSE":
            current.exposed += value.split()
        elif kind == "USER":
            current.user = value
    return stages


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def compose_config_command(env_file: Path, build_dir: Path) -> list[str] | None:
    """``docker compose config`` where the plugin exists, else the compose-spec loader (Go)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose", "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config"]
    go = shutil.which("go")
    if not go:
        return None
    binary = build_dir / "composecheck"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=COMPOSE_CHECKER_SOURCE, check=True)
    return [str(binary), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]


def kubernetes_documents() -> list[dict]:
    """The hireflow manifests as ``kubectl apply -k`` would send them (kustomize), or as written."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        rendered = subprocess.run(
            [kubectl, "kustomize", str(KUSTOMIZATION_DIR)], capture_output=True, text=True, check=True
        ).stdout
        return [d for d in yaml.safe_load_all(rendered) if d]
    kustomization = yaml.safe_load((KUSTOMIZATION_DIR / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((KUSTOMIZATION_DIR / resource).read_text()) if d]
    return documents
