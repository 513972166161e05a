"""constraints.txt pins every distribution hireflow installs, and agrees with pyproject.toml.

A fresh machine installs with ``-c constraints.txt`` (Makefile, Dockerfile): these tests
fail when pyproject.toml changed without ``make lock``, and when the environment the tests
run in was not installed from the lock.
"""

import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = PROJECT_ROOT / "constraints.txt"


def locked_versions() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    lists = [project["dependencies"], *project["optional-dependencies"].values()]
    return [Requirement(text) for requirements in lists for text in requirements]


def required_closure(root: str, extras: set[str]) -> set[str]:
    """The names of every installed distribution ``root[extras]`` needs here, ``root`` included."""
    visited: set[tuple[str, frozenset[str]]] = set()  # a distribution with extras needs more
    pending = [(root, frozenset(extras))]
    while pending:
        name, wanted_extras = pending.pop()
        if (canonicalize_name(name), wanted_extras) in visited:
            continue
        visited.add((canonicalize_name(name), wanted_extras))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in wanted_extras | {""}):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in visited}


def test_every_dependency_in_pyproject_is_locked_at_a_version_it_allows():
    locked = locked_versions()
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in constraints.txt: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"pyproject.toml asks for {requirement}, constraints.txt pins {locked[name]}: run `make lock`"
        )


def test_what_the_tests_run_with_is_what_the_lock_pins():
    locked = locked_versions()
    try:
        needed = required_closure("hireflow", {"dev"}) - {"hireflow"}
    except metadata.PackageNotFoundError as exc:
        pytest.fail(f"not installed: {exc}; run `make venv`")
    unlocked = sorted(needed - set(locked))
    assert not unlocked, f"installed but not in constraints.txt: {unlocked}; run `make lock`"
    differing = {
        name: (metadata.version(name), str(locked[name]))
        for name in needed
        if Version(metadata.version(name)) != locked[name]
    }
    assert not differing, f"installed (first) against locked versions: {differing}; run `make venv`"


def test_requests_runs_on_urllib3_and_caldav_on_its_own_fork():
    """urllib3-future, which caldav brings in through niquests, must not replace urllib3.

    Its wheel writes its fork over urllib3's files and a ``.pth`` file copies it back at every
    start, so the payment adapter's ``requests`` and boto3 would run on code they were not
    made for. The Makefile and the Dockerfile build it with ``URLLIB3_NO_OVERRIDE``.
    """
    import urllib3
    from niquests import _compat as niquests_compat
    from requests import adapters

    fork_mark = Path(sysconfig.get_path("purelib")) / "urllib3_future.pth"
    assert not fork_mark.exists(), f"{fork_mark} copies the fork over urllib3: run `make venv`"
    assert urllib3.__version__ == metadata.version("urllib3"), (
        f"urllib3 {metadata.version('urllib3')} is installed, but `import urllib3` gives "
        f"{urllib3.__version__} (urllib3-future's): run `make venv`"
    )
    assert adapters.PoolManager is urllib3.PoolManager
    assert niquests_compat.urllib3_future is not None, "niquests found no urllib3_future of its own"
