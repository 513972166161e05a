"""Fetch, configure, start, stop and check a local Camunda 8 Orchestration Cluster.

The engine runs as a plain Java process (no Docker), from the pinned
``io.camunda:camunda-zeebe`` distribution resolved through Maven. See
``deploy/camunda/`` for the pin, the pom and the configuration, and
``python -m hireflow.engine --help`` for the command line.
"""

from hireflow.engine.distribution import Distribution, DistributionUnavailable, FetchError, fetch
from hireflow.engine.java import JavaInstall, JavaNotFound, find_java
from hireflow.engine.process import EngineError, EngineStatus, start, status, stop
from hireflow.engine.profiles import EngineProfile, local_profile, profile_for_tests

__all__ = [
    "Distribution",
    "DistributionUnavailable",
    "EngineError",
    "EngineProfile",
    "EngineStatus",
    "FetchError",
    "JavaInstall",
    "JavaNotFound",
    "fetch",
    "find_java",
    "local_profile",
    "start",
    "status",
    "stop",
    "profile_for_tests",
]
