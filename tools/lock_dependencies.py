"""Write constraints.txt: every Python distribution hireflow installs, pinned (``make lock``).

pyproject.toml pins hireflow's direct dependencies, but not theirs: without a lock, a
fresh machine installs whatever release of Werkzeug, urllib3 or grpcio's protobuf came
out last, which no test has run with. The Makefile and the Dockerfile install with
``pip install -c constraints.txt``, so every machine gets the versions the tests passed on.

The lock is pip's own resolution (``pip install --dry-run --report``) of hireflow with
every extra, as a fresh venv would install it today, for this interpreter and platform.
Run it after editing pyproject.toml's dependencies, then ``make test``;
``tests/test_dependency_lock.py`` fails while the two disagree.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = PROJECT_ROOT / "constraints.txt"
# Every extra, so one lock serves `make test`, `make bench`, the images and the JDK fallback.
EXTRAS = "dev,bench,postgres,s3,java"

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


def render(pins: dict[str, str]) -> str:
    """The lock file's text: the header, then ``name==version`` lines sorted by name."""
    header = HEADER.format(
        python=".".join(platform.python_version_tuple()[:2]),
        platform=f"{platform.system()} {platform.machine()}",
    )
    lines = [f"{name}=={pins[name]}" for name in sorted(pins, key=str.lower)]
    return header + "\n".join(lines) + "\n"


def main() -> None:
    pins = resolve()
    LOCK_FILE.write_text(render(pins))
    print(f"wrote {LOCK_FILE.name}: {len(pins)} distributions pinned")


if __name__ == "__main__":
    main()
