"""Resolve the pinned Camunda distribution through Maven into a per-machine cache.

Layout of the cache (``~/.cache/hireflow/camunda-<version>/``):

- ``lib/``: the runtime classpath (the ``camunda-zeebe`` jar and its dependencies);
  present only when the fetch completed and passed its checks.
- ``maven-settings.xml``: the settings Maven ran with (see ``write_maven_settings``).
- ``fetch-failure.json``: what was missing when the last fetch failed.
- ``fetch.log``: Maven's full output of the last fetch.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hireflow.engine.profiles import CAMUNDA_DEPLOY_DIR, camunda_version
from hireflow.paths import cache_root

CENTRAL_URL = "https://repo.maven.apache.org/maven2"
MIRROR_ID = "hireflow-all-repositories-via-central"
MAIN_CLASS = "io.camunda.application.StandaloneCamunda"
# Exit code of `python -m hireflow.engine fetch` when the artifact is not in the registry.
EXIT_UNAVAILABLE = 3


class FetchError(RuntimeError):
    """The distribution could not be fetched or failed its checks."""


class DistributionUnavailable(FetchError):
    """The registry does not serve the pinned distribution or part of its closure."""

    def __init__(self, version: str, missing: list[str], detail: str, label: str | None = None):
        self.version = version
        self.missing = missing
        self.detail = detail
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
        what = label or f"Camunda {version}"
        super().__init__(
            f"{what} cannot be resolved from the Maven registry this machine reaches: "
            f"{len(missing)} artifact(s) missing ({shown}). {detail}"
        )


@dataclass(frozen=True)
class Distribution:
    """A fetched, checked distribution: the classpath folder and its version."""

    version: str
    lib_dir: Path

    @property
    def classpath_glob(self) -> str:
        return str(self.lib_dir / "*")


def distribution_dir(version: str | None = None) -> Path:
    return cache_root() / f"camunda-{version or camunda_version()}"


# --- Maven settings ----------------------------------------------------------------------


def _ns(root: ET.Element) -> str:
    return root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""


def central_url_from_settings(settings_file: Path) -> str:
    """URL through which the user's settings reach Central (their mirror, else Central)."""
    if not settings_file.is_file():
        return CENTRAL_URL
    root = ET.parse(settings_file).getroot()
    ns = _ns(root)
    for mirror in root.iter(f"{ns}mirror"):
        targets = [t.strip() for t in (mirror.findtext(f"{ns}mirrorOf") or "").split(",")]
        url = (mirror.findtext(f"{ns}url") or "").strip()
        blocked = (mirror.findtext(f"{ns}blocked") or "").strip() == "true"
        if url and not blocked and ("central" in targets or "*" in targets) and "!central" not in targets:
            return url
    return CENTRAL_URL


def write_maven_settings(dest: Path, user_settings: Path | None = None) -> Path:
    """Write Maven settings that keep the user's own and add one mirror.

    Camunda's poms declare their own artifact repository, which this machine may not
    reach. The added mirror sends every repository id except ``central`` to the URL the
    user's settings already use for Central, so resolution never waits on another host.
    The machine's global settings still apply; the user's settings are copied, not
    replaced.
    """
    user_settings = user_settings or Path.home() / ".m2" / "settings.xml"
    central = central_url_from_settings(user_settings)
    if user_settings.is_file():
        tree = ET.parse(user_settings)
        root = tree.getroot()
    else:
        root = ET.Element("{http://maven.apache.org/SETTINGS/1.2.0}settings")
        tree = ET.ElementTree(root)
    ns = _ns(root)
    if ns:
        ET.register_namespace("", ns.strip("{}"))
    mirrors = root.find(f"{ns}mirrors")
    if mirrors is None:
        mirrors = ET.SubElement(root, f"{ns}mirrors")
    for existing in list(mirrors):
        if existing.findtext(f"{ns}id") == MIRROR_ID:
            mirrors.remove(existing)
    mirror = ET.SubElement(mirrors, f"{ns}mirror")
    for tag, text in (
        ("id", MIRROR_ID),
        ("name", "Camunda's and other declared repositories, through Central"),
        ("mirrorOf", "*,!central"),
        ("url", central),
    ):
        ET.SubElement(mirror, f"{ns}{tag}").text = text
    dest.parent.mkdir(parents=True, exist_ok=True)
    tree.write(dest, encoding="utf-8", xml_declaration=True)
    return dest


# --- Maven output ------------------------------------------------------------------------

_SIZE = re.compile(r"\((\d+(?:\.\d+)?) (B|kB|KB|MB|GB) at")
_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
_UNRESOLVED = re.compile(
    r"following artifacts could not be resolved: (.+?): (?:Could not find|Could not transfer|The following)"
)
_NOT_FOUND = re.compile(r"Could not find artifact (\S+)")
_DESCRIPTOR = re.compile(r"Failed to read artifact descriptor for (\S+)")
_NOT_FOUND_IN = re.compile(r"(\S+:\S+:\S+:\S+) was not found in")


def missing_artifacts(maven_output: str) -> list[str]:
    """Artifact coordinates Maven reported as unresolvable, in report order, without repeats."""
    found: list[str] = []
    for match in _UNRESOLVED.finditer(maven_output):
        found.extend(a.strip() for a in match.group(1).split(","))
    found.extend(_NOT_FOUND.findall(maven_output))
    found.extend(_DESCRIPTOR.findall(maven_output))
    found.extend(_NOT_FOUND_IN.findall(maven_output))
    return list(dict.fromkeys(a.rstrip(":,") for a in found if a))


class _Progress:
    """Turns Maven's per-file transfer lines into a short running summary."""

    def __init__(self, out=sys.stderr, every_seconds: float = 5.0):
        self.out = out
        self.every = every_seconds
        self.files = 0
        self.bytes = 0.0
        self.last = 0.0

    def feed(self, line: str) -> None:
        if not line.startswith(("Downloaded from", "[INFO] Downloaded from")):
            return
        self.files += 1
        size = _SIZE.search(line)
        if size:
            self.bytes += float(size.group(1)) * _UNITS[size.group(2)]
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.report()

    def report(self) -> None:
        print(f"  fetched {self.files} files, {self.bytes / 1e6:.1f} MB so far", file=self.out, flush=True)


# --- Checks ------------------------------------------------------------------------------


def _jar_has(jar: Path, predicate) -> bool:
    try:
        with zipfile.ZipFile(jar) as archive:
            return any(predicate(name) for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def check_distribution(lib_dir: Path, version: str) -> None:
    """Fail unless the classpath holds the entry point and the Operate and Tasklist web apps."""
    problems = []
    main_jar = lib_dir / f"camunda-zeebe-{version}.jar"
    main_entry = MAIN_CLASS.replace(".", "/") + ".class"
    if not main_jar.is_file() or not _jar_has(main_jar, lambda n: n == main_entry):
        problems.append(f"{MAIN_CLASS} not found in {main_jar.name}")
    for webapp in ("operate", "tasklist"):
        jars = sorted(lib_dir.glob(f"{webapp}-webapp-*.jar"))
        if not jars or not any(_jar_has(j, lambda n: n.endswith("index.html")) for j in jars):
            problems.append(f"the {webapp.title()} web app (index.html in {webapp}-webapp-*.jar) is missing")
    if problems:
        raise FetchError(f"Camunda {version} in {lib_dir} is incomplete: " + "; ".join(problems))


# --- Fetch -------------------------------------------------------------------------------


def cached_distribution(version: str | None = None) -> Distribution | None:
    """The fetched distribution if it is complete, without touching the network."""
    version = version or camunda_version()
    lib_dir = distribution_dir(version) / "lib"
    if (lib_dir / ".complete").is_file():
        return Distribution(version=version, lib_dir=lib_dir)
    return None


def last_failure(version: str | None = None) -> dict | None:
    """What the last failed fetch of this version recorded, if any."""
    path = distribution_dir(version) / "fetch-failure.json"
    return json.loads(path.read_text()) if path.is_file() else None


def fetch(version: str | None = None, *, out=sys.stderr, mvn: str | None = None) -> Distribution:
    """Resolve the pinned distribution into the cache (once per machine) and check it.

    Raises DistributionUnavailable when the registry lacks an artifact of the closure,
    FetchError for any other failure. Both leave Maven's output in ``fetch.log``.
    """
    version = version or camunda_version()
    cached = cached_distribution(version)
    if cached:
        return cached
    lib_dir = resolve_classpath(
        CAMUNDA_DEPLOY_DIR / "pom.xml",
        {"camunda.version": version},
        distribution_dir(version),
        label=f"Camunda {version}",
        version=version,
        check=lambda lib: check_distribution(lib, version),
        out=out,
        mvn=mvn,
        size_hint="several hundred MB",
    )
    return Distribution(version=version, lib_dir=lib_dir)


def _fetching_line(label: str, target: Path, size_hint: str) -> str:
    """What a fetch says as it starts: the first one, or another try after a failed one.

    A registry that lacked an artifact is asked again at every start (it may have it by
    now); saying "first time only" each time would read as if nothing was remembered.
    """
    earlier = target / "fetch-failure.json"
    if earlier.is_file():
        try:
            failure = json.loads(earlier.read_text())
            when, missing = failure["when"], len(failure["missing"])
        except (ValueError, KeyError, TypeError):
            return f"Fetching {label} through Maven into {target} again: the last try failed."
        return (
            f"Fetching {label} through Maven into {target} again: the last try ({when}) found "
            f"{missing} artifact(s) missing, and the registry may have them by now."
        )
    hint = f" (first time only; {size_hint})" if size_hint else " (first time only)"
    return f"Fetching {label} through Maven into {target}{hint}."


def resolve_classpath(
    pom: Path,
    properties: dict[str, str],
    target: Path,
    *,
    label: str,
    version: str,
    check,
    out=sys.stderr,
    mvn: str | None = None,
    size_hint: str = "",
) -> Path:
    """Copy the runtime dependencies of ``pom`` into ``target/lib`` through Maven, once.

    ``check(partial_lib_dir)`` raises FetchError when the result is unusable. A missing
    artifact raises DistributionUnavailable and leaves ``fetch-failure.json`` behind.
    """
    mvn = mvn or shutil.which("mvn")
    if not mvn:
        raise FetchError("Maven (`mvn`) is not on PATH; install it, e.g. `apt-get install maven`.")
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "lib.partial"
    shutil.rmtree(partial, ignore_errors=True)
    settings = write_maven_settings(target / "maven-settings.xml")
    log_path = target / "fetch.log"
    command = [
        # -U: retry artifacts an earlier run found missing, instead of Maven's cached "not found".
        mvn,
        "-B",
        "-U",
        "-s",
        str(settings),
        "-f",
        str(pom),
        *(f"-D{name}={value}" for name, value in properties.items()),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={partial}",
    ]
    print(_fetching_line(label, target, size_hint), file=out, flush=True)
    started = time.monotonic()
    progress = _Progress(out)
    with log_path.open("w") as log:
        log.write(" ".join(command) + "\n")
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                progress.feed(line.rstrip("\n"))
        code = proc.returncode
    progress.report()
    output = log_path.read_text()
    if code != 0:
        missing = missing_artifacts(output)
        failure = {
            "version": version,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "maven_exit_code": code,
            "missing": missing,
            "log": str(log_path),
        }
        (target / "fetch-failure.json").write_text(json.dumps(failure, indent=2))
        if missing:
            raise DistributionUnavailable(version, missing, f"Maven's output: {log_path}", label=label)
        raise FetchError(f"Maven failed (exit {code}) resolving {label}; see {log_path}")
    check(partial)
    lib_dir = target / "lib"
    shutil.rmtree(lib_dir, ignore_errors=True)
    partial.rename(lib_dir)
    (lib_dir / ".complete").write_text(f"{version}\n")
    (target / "fetch-failure.json").unlink(missing_ok=True)
    print(f"Fetched {label} in {time.monotonic() - started:.0f} s.", file=out, flush=True)
    return lib_dir
