"""The engine's local users and groups fit the user tasks, and the README lists them (issue 6).

The groups the engine creates at start must be exactly the candidate groups the models
name, each with a local user in it, so that every user task reaches a person in
Tasklist. The production compose file creates the same groups, without personal users.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import yaml

from hireflow.model_checks import MODELS_DIR, NS
from hireflow.paths import PROJECT_ROOT

LOCAL_CONFIG = PROJECT_ROOT / "deploy" / "camunda" / "config" / "application.yaml"
COMPOSE_CONFIG = PROJECT_ROOT / "deploy" / "compose" / "camunda" / "application.yaml"


def initialization(path) -> dict:
    return yaml.safe_load(path.read_text())["camunda"]["security"]["initialization"]


def candidate_groups() -> set[str]:
    groups = set()
    for path in MODELS_DIR.glob("*.bpmn"):
        for assignment in ET.parse(path).getroot().iter(f"{{{NS['zeebe']}}}assignmentDefinition"):
            groups |= set(filter(None, (assignment.get("candidateGroups") or "").split(",")))
    return groups


def test_the_local_groups_are_the_models_candidate_groups_each_with_a_user():
    config = initialization(LOCAL_CONFIG)
    users = {user["username"] for user in config["users"]}
    groups = {group["groupId"]: group for group in config["groups"]}
    assert set(groups) == candidate_groups() == {"recruiters", "lead-recruiters", "interviewers"}
    for group_id, group in groups.items():
        assert group["name"] and group["description"]
        members = set(group["users"])
        assert members <= users, f"{group_id} names users the engine does not create"
        assert members - {"demo"}, f"{group_id} needs a user of its own besides demo"


def test_every_local_login_is_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for user in initialization(LOCAL_CONFIG)["users"]:
        assert f"`{user['username']}` / `{user['password']}`" in readme


def test_production_creates_the_same_groups_and_no_personal_users():
    config = initialization(COMPOSE_CONFIG)
    assert {group["groupId"] for group in config["groups"]} == candidate_groups()
    assert all("users" not in group for group in config["groups"])
    assert all(user["password"].startswith("${") for user in config["users"])
