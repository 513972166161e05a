"""Write constraints.txt: every Python distribution hireflow installs, pinned (``make lock``).

pyproject.toml pins hireflow's direct dependencies, but not theirs: without a lock, a
fresh machine installs whatever release of Werkzeug, urllib3 or grpcio's protobuf came
out last, which no test has run with. The Makefile and the Dockerfile install with
``pip install -c constraints.txt``, so every machine gets the versions the tests passed on.

The lock is pip's own resolution (``pip install --dry-run --report``) of hireflow with
every extra, as a fresh venv would install it today, for this interpreter and platform.
Run it after editing pyproject.toml's dependencies, then ``make test``;
``tests/test_dependency_lock.py`` fails while the two disagree.

The tests run on this interpreter only, but a newcomer's may be newer (Ubuntu 24.04 has
3.12, Debian 13 has 3.13, Fedora 43 has 3.14). So the lock is then resolved for each of
``NEWER_PYTHONS`` too, from wheels only, as pip on such a machine would: a pin with no
wheel for it, or a dependency only it pulls in (behind a ``python_version`` marker),
fails the lock.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = PROJECT_ROOT / "constraints.txt"
# Every extra, so one lock serves `make test`, `make bench`, the images and the JDK fallback.
EXTRAS = "dev,bench,postgres,s3,java"
# Pythons a fresh machine may bring besides the one the tests run on; README's "What the
# machine needs" names them.
NEWER_PYTHONS = ("3.12", "3.13", "3.14")
# The wheels a Linux x86_64 machine with glibc 2.28 or newer installs.
LINUX_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")

HEADER = """\
# Every Python distribution hireflow installs, pinned: pyproject.toml's pins and all that
# they pull in, as resolved by pip for Python {python} on {platform}.
# The Makefile and the Dockerfile install with `pip install -c constraints.txt`, so a new
# release of a dependency's dependency cannot change what a fresh machine runs.
# Do not edit by hand: after changing pyproject.toml, run `make lock`, then `make test`.
"""


def resolve() -> dict[str, str]:
    """Name and version of every distribution pip would install for hireflow today."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                "--report", str(report), "-e", f"{PROJECT_ROOT}[{EXTRAS}]",
            ],
            check=True,
        )  # fmt: skip
        installs = json.loads(report.read_text())["install"]
    return {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in installs
        if item["metadata"]["name"] != "hireflow"
    }


def requirements() -> list[str]:
    """pyproject.toml's dependencies with every extra's, markers and all."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(dep for extra in EXTRAS.split(",") for dep in extras.get(extra, []))]


def problems_on(python: str, pins: dict[str, str]) -> list[str]:
    """What keeps the pins from installing on ``python`` (``3.12``); empty when nothing does."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "constraints.txt").write_text(render(pins))
        (folder / "requirements.txt").write_text("\n".join(requirements()) + "\n")
        report = folder / "report.json"
        platforms = [arg for name in LINUX_PLATFORMS for arg in ("--platform", name)]
        resolved = subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                "--target", str(folder / "target"), "--python-version", python, "--implementation", "cp",
                "--only-binary=:all:", *platforms, "--report", str(report),
                "-r", str(folder / "requirements.txt"), "-c", str(folder / "constraints.txt"),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if resolved.returncode != 0:
            return [line for line in resolved.stderr.splitlines() if line.startswith("ERROR")] or [
                resolved.stderr.strip()
            ]
        installs = json.loads(report.read_text())["install"]
    pinned = {_normal(name) for name in pins}
    return [
        f"{item['metadata']['name']} {item['metadata']['version']} is installed there but not pinned"
        for item in installs
        if _normal(item["metadata"]["name"]) not in pinned
    ]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def render(pins: dict[str, str]) -> str:
    """The lock file's text: the header, then ``name==version`` lines sorted by name."""
    header = HEADER.format(
        python=".".join(platform.python_version_tuple()[:2]),
        platform=f"{platform.system()} {platform.machine()}",
    )
    lines = [f"{name}=={pins[name]}" for name in sorted(pins, key=str.lower)]
    return header + "\n".join(lines) + "\n"


def main() -> None:
    # It takes no arguments, but --help must not rewrite the lock.
    argparse.ArgumentParser(
        prog="python tools/lock_dependencies.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    pins = resolve()
    for python in NEWER_PYTHONS:
        problems = problems_on(python, pins)
        if problems:
            print(f"The lock would not install on Python {python}; constraints.txt is kept:", file=sys.stderr)
            print("\n".join(f"  {problem}" for problem in problems), file=sys.stderr)
            sys.exit(1)
        print(f"checked: every pin installs from wheels on Python {python}")
    LOCK_FILE.write_text(render(pins))
    print(f"wrote {LOCK_FILE.name}: {len(pins)} distributions pinned")


if __name__ == "__main__":
    main()
