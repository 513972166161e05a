"""Fetching, configuring and finding Java for the engine, checked without starting it."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from hireflow.engine import distribution as fetch_module
from hireflow.engine.distribution import (
    MIRROR_ID,
    DistributionUnavailable,
    FetchError,
    check_distribution,
    missing_artifacts,
    write_maven_settings,
)
from hireflow.engine.java import MIN_MAJOR, find_java, java_major
from hireflow.engine.process import java_command
from hireflow.engine.profiles import CAMUNDA_DEPLOY_DIR, camunda_version, local_profile, profile_for_tests

SETTINGS_NS = "{http://maven.apache.org/SETTINGS/1.2.0}"


def mirrors(settings: Path) -> dict[str, tuple[str, str]]:
    root = ET.parse(settings).getroot()
    return {
        m.findtext(f"{SETTINGS_NS}id"): (
            m.findtext(f"{SETTINGS_NS}mirrorOf"),
            m.findtext(f"{SETTINGS_NS}url"),
        )
        for m in root.iter(f"{SETTINGS_NS}mirror")
    }


def test_without_user_settings_camundas_repositories_are_routed_to_central(tmp_path):
    settings = write_maven_settings(tmp_path / "settings.xml", user_settings=tmp_path / "absent.xml")
    assert mirrors(settings) == {MIRROR_ID: ("*,!central", "https://repo.maven.apache.org/maven2")}


def test_the_users_own_route_to_central_is_kept_and_reused(tmp_path):
    user = tmp_path / "user-settings.xml"
    user.write_text(
        '<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0"><localRepository>/srv/m2</localRepository>'
        "<mirrors><mirror><id>corp</id><mirrorOf>central</mirrorOf><url>https://maven.corp.example/central</url>"
        "</mirror></mirrors></settings>"
    )
    settings = write_maven_settings(tmp_path / "out.xml", user_settings=user)
    assert mirrors(settings) == {
        "corp": ("central", "https://maven.corp.example/central"),
        MIRROR_ID: ("*,!central", "https://maven.corp.example/central"),
    }
    assert ET.parse(settings).getroot().findtext(f"{SETTINGS_NS}localRepository") == "/srv/m2"


def test_missing_artifacts_are_read_from_each_form_of_maven_report():
    output = "\n".join(
        [
            "[ERROR] Failed to execute goal on project p: Could not resolve dependencies for project p: "
            "The following artifacts could not be resolved: io.camunda:operate-webapp:jar:8.6.0, "
            "io.camunda:tasklist-webapp:jar:8.6.0: "
            "Could not find artifact io.camunda:operate-webapp:jar:8.6.0 "
            "in central (https://repo.maven.apache.org/maven2) -> [Help 1]",
            "[ERROR] ... io.camunda:camunda-zeebe:jar:8.9.26 was not found in https://repo.maven.apache.org/maven2",
        ]
    )
    assert missing_artifacts(output) == [
        "io.camunda:operate-webapp:jar:8.6.0",
        "io.camunda:tasklist-webapp:jar:8.6.0",
        "io.camunda:camunda-zeebe:jar:8.9.26",
    ]


def test_a_failed_fetch_names_the_missing_artifacts_and_keeps_the_cache_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("HIREFLOW_CACHE_DIR", str(tmp_path))
    fake_mvn = tmp_path / "mvn"
    fake_mvn.write_text(
        "#!/bin/sh\n"
        "echo '[ERROR] Could not find artifact io.camunda:camunda-zeebe:jar:9.9.9 in central'\n"
        "exit 1\n"
    )
    fake_mvn.chmod(0o755)
    with pytest.raises(DistributionUnavailable) as raised:
        fetch_module.fetch("9.9.9", mvn=str(fake_mvn))
    assert raised.value.missing == ["io.camunda:camunda-zeebe:jar:9.9.9"]
    assert fetch_module.last_failure("9.9.9")["missing"] == ["io.camunda:camunda-zeebe:jar:9.9.9"]
    assert fetch_module.cached_distribution("9.9.9") is None
    # The next start asks the registry again, and says why it fetches once more.
    said = io.StringIO()
    with pytest.raises(DistributionUnavailable):
        fetch_module.fetch("9.9.9", mvn=str(fake_mvn), out=said)
    assert "again: the last try (" in said.getvalue() and "found 1 artifact(s) missing" in said.getvalue()
    assert "first time only" not in said.getvalue()


def test_an_incomplete_classpath_is_refused(tmp_path):
    with pytest.raises(FetchError, match="Operate web app"):
        check_distribution(tmp_path, "8.9.26")


def test_a_jdk_new_enough_for_camunda_is_found():
    java = find_java()
    assert java.major >= MIN_MAJOR
    assert java_major(java.home) == java.major


def test_the_version_is_pinned_once_and_the_pom_takes_it_from_the_command_line():
    assert camunda_version().startswith(("8.9.", "8.10."))
    pom = (CAMUNDA_DEPLOY_DIR / "pom.xml").read_text()
    assert "${camunda.version}" in pom
    assert camunda_version() not in pom


def test_local_config_has_the_documented_ports_storage_and_auth():
    config = yaml.safe_load((CAMUNDA_DEPLOY_DIR / "config" / "application.yaml").read_text())
    camunda = config["camunda"]
    assert config["server"]["port"] == "${HIREFLOW_ENGINE_HTTP_PORT:8080}"
    assert config["management"]["server"]["port"] == "${HIREFLOW_ENGINE_MANAGEMENT_PORT:9600}"
    assert camunda["api"]["grpc"]["port"] == "${HIREFLOW_ENGINE_GRPC_PORT:26500}"
    assert camunda["data"]["secondary-storage"]["type"] == "rdbms"
    assert camunda["data"]["secondary-storage"]["rdbms"]["url"].startswith("jdbc:h2:file:")
    assert camunda["security"]["authentication"]["method"] == "BASIC"
    assert camunda["security"]["initialization"]["users"][0]["username"] == "demo"
    assert camunda["system"]["cpu-thread-count"] == 1
    assert camunda["system"]["clock-controlled"] is False
    assert not {"dev", "test"} & set(config["spring"]["profiles"]["active"].split(","))


def test_test_engine_adds_the_controlled_clock_and_immediate_flush_on_its_own_ports_and_data():
    overlay = yaml.safe_load((CAMUNDA_DEPLOY_DIR / "config-test" / "application.yaml").read_text())
    assert overlay["camunda"]["system"]["clock-controlled"] is True
    assert overlay["camunda"]["data"]["secondary-storage"]["rdbms"]["flushInterval"] == "PT0S"
    local, test = local_profile(), profile_for_tests()
    assert set(local.ports.values()).isdisjoint(test.ports.values())
    assert local.data_dir != test.data_dir


def test_the_java_command_bounds_the_heap_and_loads_the_profile_config(tmp_path):
    dist = fetch_module.Distribution(version="8.9.26", lib_dir=tmp_path / "lib")
    java = find_java()
    command = java_command(profile_for_tests(), dist, java)
    assert command[0] == str(java.java)
    assert "-Xmx1g" in command
    assert command[command.index("-cp") + 1].endswith(str(tmp_path / "lib" / "*"))
    assert command[-1].endswith("config/,file:" + str(CAMUNDA_DEPLOY_DIR / "config-test") + "/")
