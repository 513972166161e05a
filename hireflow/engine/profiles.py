"""Where each engine lives: its ports, its data folder and its configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hireflow.paths import PROJECT_ROOT, data_root

CAMUNDA_DEPLOY_DIR = PROJECT_ROOT / "deploy" / "camunda"


def camunda_version() -> str:
    """The pinned Camunda version, from ``deploy/camunda/VERSION``."""
    return (CAMUNDA_DEPLOY_DIR / "VERSION").read_text().strip()


@dataclass(frozen=True)
class EngineProfile:
    """One engine on this machine: ports, data folder and configuration folders.

    ``local`` serves ``make run``; ``test`` serves ``make test``. They use
    different ports and folders so both can run at once.
    """

    name: str
    http_port: int
    grpc_port: int
    management_port: int
    command_port: int
    internal_port: int
    data_dir: Path
    config_dirs: tuple[Path, ...]
    heap: str = "1g"
    host: str = "localhost"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API and the web apps."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def management_url(self) -> str:
        """Base URL of the actuator endpoints (health, clock)."""
        return f"http://{self.host}:{self.management_port}"

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the Zeebe gRPC gateway, for pyzeebe."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def operate_url(self) -> str:
        return f"{self.rest_url}/operate"

    @property
    def tasklist_url(self) -> str:
        return f"{self.rest_url}/tasklist"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "engine.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "camunda.log"

    @property
    def ports(self) -> dict[str, int]:
        return {
            "http": self.http_port,
            "grpc": self.grpc_port,
            "management": self.management_port,
            "command": self.command_port,
            "internal": self.internal_port,
        }


def local_profile() -> EngineProfile:
    """The engine of ``make run``: Camunda's default ports, data in ``var/engine``."""
    return EngineProfile(
        name="local",
        http_port=8080,
        grpc_port=26500,
        management_port=9600,
        command_port=26501,
        internal_port=26502,
        data_dir=data_root() / "engine",
        config_dirs=(CAMUNDA_DEPLOY_DIR / "config",),
    )


def profile_for_tests() -> EngineProfile:
    """The engine of ``make test``: controlled clock, own ports and data folder."""
    return EngineProfile(
        name="test",
        http_port=8088,
        grpc_port=26600,
        management_port=9700,
        command_port=26601,
        internal_port=26602,
        data_dir=data_root() / "test-engine",
        config_dirs=(CAMUNDA_DEPLOY_DIR / "config", CAMUNDA_DEPLOY_DIR / "config-test"),
    )


PROFILES = {"local": local_profile, "test": profile_for_tests}
