"""The real Zeebe engine, embedded, for process tests while the pinned distribution is missing.

See ``deploy/camunda/embedded/README.md``. ``fetch_embedded()`` resolves Camunda's
``zeebe-process-test-engine`` through Maven, ``EmbeddedEngine`` runs it as a Java
process (gRPC gateway plus a local control port), and ``EmbeddedEngineClient`` answers
the questions process tests ask of REST v2, from the engine's own records.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from hireflow.camunda_rest import CamundaApiError, CamundaRestClient
from hireflow.engine.distribution import FetchError, resolve_classpath
from hireflow.engine.java import JavaInstall
from hireflow.engine.profiles import CAMUNDA_DEPLOY_DIR
from hireflow.paths import cache_root

EMBEDDED_DIR = CAMUNDA_DEPLOY_DIR / "embedded"
LAUNCHER = EMBEDDED_DIR / "HireflowEmbeddedEngine.java"
START_TIMEOUT_S = 120.0
# The Java heap: the engine's working objects and its log's index (its state is in RocksDB,
# off the heap), and without a state file its whole log too (about 80 KB per instance of
# the four processes), so ``make run`` lets it be raised (``HIREFLOW_EMBEDDED_ENGINE_HEAP``).
DEFAULT_HEAP = "1g"
T = TypeVar("T")


def embedded_version() -> str:
    """The pinned version of the embedded engine (``deploy/camunda/embedded/VERSION``)."""
    return (EMBEDDED_DIR / "VERSION").read_text().strip()


def embedded_dir(version: str | None = None) -> Path:
    return cache_root() / f"zeebe-embedded-{version or embedded_version()}"


def _check_embedded(lib_dir: Path, version: str) -> None:
    engine_jar = lib_dir / f"zeebe-process-test-engine-{version}.jar"
    workflow_jar = lib_dir / f"zeebe-workflow-engine-{version}.jar"
    missing = [jar.name for jar in (engine_jar, workflow_jar) if not jar.is_file()]
    if not any(lib_dir.glob("slf4j-simple-*.jar")):
        missing.append("slf4j-simple (the engine's log binding)")
    if missing:
        raise FetchError(f"the embedded Zeebe engine in {lib_dir} lacks {', '.join(missing)}")


def fetch_embedded(version: str | None = None, *, out=sys.stderr) -> Path:
    """The embedded engine's classpath folder, resolved through Maven once per machine."""
    version = version or embedded_version()
    lib_dir = embedded_dir(version) / "lib"
    if (lib_dir / ".complete").is_file():
        try:
            _check_embedded(lib_dir, version)
            return lib_dir
        except FetchError:
            pass  # fetched by an older pom.xml: resolve again
    return resolve_classpath(
        EMBEDDED_DIR / "pom.xml",
        {"zeebe.version": version},
        embedded_dir(version),
        label=f"the embedded Zeebe engine {version}",
        version=version,
        check=lambda lib: _check_embedded(lib, version),
        out=out,
        size_hint="about 130 MB",
    )


class EngineOutOfMemory(RuntimeError):
    """The embedded engine ran out of its Java heap."""


class PortTaken(RuntimeError):
    """A port the embedded engine needs is in use: most likely by an engine still running."""


class EngineRefused(RuntimeError):
    """The embedded engine would not start on its state file (in use by another engine, or
    damaged), and said why: the message is its reason, with what to do."""


# How the launcher begins the line saying why it would not start (then exits with 2).
REFUSAL_PREFIX = "Refused to start: "


@dataclass(frozen=True)
class HeapUse:
    """The engine's Java heap: what its last garbage collection left in use, and its maximum."""

    used_after_gc_bytes: int
    max_bytes: int

    @property
    def share(self) -> float:
        return self.used_after_gc_bytes / self.max_bytes if self.max_bytes > 0 else 0.0


# How full the heap may be after a collection before make run warns, once per step.
# Measured when the heap held the whole log: a 128 MB heap ran out after a reading of 80%,
# before the next. Now what collections leave of it was 96 MB after 1,000 instances and
# 110 MB after 6,000 in make soak (the state is in RocksDB, off the heap).
HEAP_WARNING_STEPS = (0.7, 0.8, 0.9)
HEAP_CHECK_EVERY_S = 10.0


class HeapWatch:
    """Warns, once per step, as what the engine's collections leave nears its heap's maximum.

    The embedded engine's heap holds its working objects (its state is in RocksDB, and
    with a state file its log in the file), and the engine exits when the heap runs out
    (the replay at its next start needs about the same heap). A warning well before gives
    its operator the time to act.
    """

    def __init__(
        self,
        engine: EmbeddedEngine,
        steps: tuple[float, ...] = HEAP_WARNING_STEPS,
        every_s: float = HEAP_CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.steps = steps
        self.every_s = every_s
        self.clock = clock
        self._next_check = clock()
        self._passed = 0.0  # the highest step warned of

    def check(self) -> str | None:
        """A warning when the heap has passed a step not warned of yet; else None.

        Asks the engine at most every ``every_s``; an engine that does not answer is
        watched by other means (make run sees it end).
        """
        if self.clock() < self._next_check:
            return None
        self._next_check = self.clock() + self.every_s
        use = self.engine.heap_use()
        if use is None:
            return None
        passed = max((step for step in self.steps if use.share >= step), default=0.0)
        if passed <= self._passed:
            return None
        self._passed = passed
        return (
            f"!! The engine's heap is {use.share:.0%} full after its last garbage collection "
            f"({use.used_after_gc_bytes / 2**20:.0f} of {use.max_bytes / 2**20:.0f} MB): the embedded "
            "engine exits when its heap runs out. Before it does, "
            f"stop make run and start it with a larger heap (now {self.engine.heap}; such as "
            f"HIREFLOW_EMBEDDED_ENGINE_HEAP={_doubled(use.max_bytes)} make run), or start afresh with "
            "`make clean-data`."
        )


def _doubled(heap_bytes: int) -> str:
    """Twice the heap, as -Xmx takes it: 1 GB gives ``2g``, 768 MB ``1536m``."""
    megabytes = round(2 * heap_bytes / 2**20)
    return f"{megabytes // 1024}g" if megabytes % 1024 == 0 else f"{megabytes}m"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port nothing listens on now (another process may take it before it is used)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different free ports.

    Each socket stays bound until all are chosen: ports asked for one by one, each socket
    closed at once, may come back twice (a chaos run once gave its webapp and its mail
    capture the same port, and the webapp could not start).
    """
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_ports_for(names: Iterable[str]) -> dict[str, int]:
    """A different free port for each name (a server's, or the variable that gives it one)."""
    names = list(names)
    return dict(zip(names, free_ports(len(names)), strict=True))


def compiled_launcher(lib_dir: Path, java: JavaInstall, source: Path = LAUNCHER) -> Path | None:
    """A directory of the launcher's classes, compiled once for this source, or None.

    Run as a source file, the launcher is compiled in memory at every start: 1.8 s (2.4 s
    of CPU) on a 2-core machine before the engine begins, at every ``make run``, every
    restart after a kill and every test engine. So it is compiled once, beside the
    engine's jars (so against them), into a directory named by the source's hash and the
    Java version. None when this Java has no ``javac`` (a runtime without the JDK's tools)
    or the compiler fails: the engine then runs the source file, as before.
    """
    javac = java.home / "bin" / "javac"
    if not javac.is_file():
        return None
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    classes = lib_dir.parent / "launcher" / f"{digest}-java{java.major}"
    main_class = f"{source.stem}.class"
    if (classes / main_class).is_file():
        return classes
    try:
        classes.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=classes.parent, prefix=f".{classes.name}."))
    except OSError:
        return None
    try:
        # -proc:none: the jars carry annotation processors, which older javacs would run.
        compiled = subprocess.run(
            [str(javac), "-nowarn", "-proc:none", "-cp", str(lib_dir / "*"), "-d", str(partial), str(source)],
            capture_output=True,
            timeout=300,
        )
        if compiled.returncode == 0:
            # Renamed whole: an engine starting meanwhile sees every class or none. Another
            # process that compiled it first keeps its own (the rename then fails).
            os.replace(partial, classes)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(partial, ignore_errors=True)
    return classes if (classes / main_class).is_file() else None


# RocksDB's JNI library in its jar, by (machine, C library), as RocksDB names them.
ROCKSDB_LIBRARIES = {
    ("x86_64", "glibc"): "librocksdbjni-linux64.so",
    ("x86_64", "musl"): "librocksdbjni-linux64-musl.so",
    ("aarch64", "glibc"): "librocksdbjni-linux-aarch64.so",
    ("aarch64", "musl"): "librocksdbjni-linux-aarch64-musl.so",
}


def rocksdb_library_dir(lib_dir: Path) -> Path | None:
    """A directory beside ``lib_dir`` with RocksDB's JNI library for this machine, or None.

    RocksDB loads its library from the Java library path when it finds it there. Otherwise
    it copies it (15 MB) out of its jar into the temporary directory at every start, and an
    engine killed with SIGKILL leaves that copy behind. So it is copied out once, next to
    the engine's jars. None where there is no such library for this machine, or the copy
    cannot be written: RocksDB then copies it itself, as before.
    """
    if platform.system() != "Linux":
        return None
    libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"
    name = ROCKSDB_LIBRARIES.get((platform.machine(), libc))
    jars = sorted(lib_dir.glob("rocksdbjni-*.jar"))
    if not name or not jars:
        return None
    # One directory per jar: a library from another RocksDB release would not match its classes.
    native_dir = lib_dir.parent / "native" / jars[-1].stem
    if (native_dir / name).is_file():
        return native_dir
    try:
        with zipfile.ZipFile(jars[-1]) as jar:
            library = jar.read(name)
        native_dir.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=native_dir, prefix=f".{name}.")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    # Written to a file of its own, then renamed: an engine starting meanwhile, in this
    # process or another, sees all of the library or none of it.
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(library)
        os.replace(partial, native_dir / name)
    except OSError:
        Path(partial).unlink(missing_ok=True)
        return None
    return native_dir


class EmbeddedEngine:
    """One embedded engine process: start it, wait for it, stop it.

    Its log lives in memory, or with ``state_file`` in that file: a new engine on the same
    file reads it back and replays it, as a restarted broker does, so running instances
    survive a stop or a SIGKILL. Its state is in Zeebe's RocksDB store (beside the file,
    or in a temporary directory), rebuilt from the log at every start.
    """

    def __init__(
        self,
        lib_dir: Path,
        java: JavaInstall,
        log_path: Path,
        *,
        grpc_port: int | None = None,
        control_port: int | None = None,
        state_file: Path | None = None,
        heap: str = DEFAULT_HEAP,
    ):
        self.lib_dir = lib_dir
        self.heap = heap
        self.java = java
        self.log_path = log_path
        spare_ports = free_ports(2)
        self.grpc_port = grpc_port or spare_ports[0]
        self.control_port = control_port or spare_ports[1]
        self.state_file = state_file
        self._process: subprocess.Popen | None = None
        self._log_start = 0

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        flags = [
            f"-Xmx{self.heap}",
            "-XX:+ExitOnOutOfMemoryError",
            "-Dfile.encoding=UTF-8",
            # The engine stops when this process ends, even by SIGKILL: it would otherwise hold
            # its ports and its log, and the next start would be refused.
            f"-Dhireflow.parentPid={os.getpid()}",
            # The engine's own warnings and errors (slf4j-simple), timestamped, in the log file.
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS",
            # The launcher's own client warns on every start that it is deprecated: noise.
            "-Dorg.slf4j.simpleLogger.log.io.camunda.zeebe.client.impl.ZeebeClientImpl=error",
            # With the RocksDB state store the engine registers its gauge of buffered messages
            # (zeebe.buffered.messages.count) twice at start, and micrometer warns that it
            # ignores the second: "This Gauge has been already registered". Nothing here reads
            # the engine's metrics.
            "-Dorg.slf4j.simpleLogger.log.io.micrometer.core.instrument.MeterRegistry=error",
        ]
        if self.java.major >= 24:
            # agrona and the engine use sun.misc.Unsafe; say so instead of warning on every start.
            flags.append("--sun-misc-unsafe-memory-access=allow")
        if self.java.major >= 22:
            # The engine's state store is RocksDB, a native library: likewise.
            flags.append("--enable-native-access=ALL-UNNAMED")
        native_dir = rocksdb_library_dir(self.lib_dir)
        if native_dir:
            flags.append(f"-Djava.library.path={native_dir}")
        classes = compiled_launcher(self.lib_dir, self.java)
        launcher = (
            ["-cp", f"{classes}{os.pathsep}{self.lib_dir / '*'}", LAUNCHER.stem]
            if classes
            else ["-cp", str(self.lib_dir / "*"), str(LAUNCHER)]  # compiled in memory at start
        )
        return [
            str(self.java.java),
            *flags,
            *launcher,
            str(self.grpc_port),
            str(self.control_port),
            *([str(self.state_file)] if self.state_file else []),
        ]

    def _refusal(self) -> str | None:
        """The reason this start's output gives for refusing to start, if it gave one."""
        with self.log_path.open() as log:
            log.seek(self._log_start)
            for line in log:
                if line.startswith(REFUSAL_PREFIX):
                    return line.removeprefix(REFUSAL_PREFIX).strip()
        return None

    def start(self, timeout: float = START_TIMEOUT_S) -> EmbeddedEngine:
        """Start the engine and wait until it answers; PortTaken if another program has its ports.

        Checked first: another engine on the control port would answer the health check
        in this one's place.
        """
        taken = [port for port in (self.grpc_port, self.control_port) if _listening(port)]
        if taken:
            raise PortTaken(
                f"port {' and '.join(map(str, taken))} of the embedded engine is taken by another "
                "program. Is an earlier `make run` still running? Stop it first (Ctrl-C in its "
                "terminal; `ss -ltnp` shows what holds a port)."
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A restart on the same state keeps the earlier run's output above its own.
        log = self.log_path.open("a" if self.state_file else "w")
        self._log_start = log.tell()  # where this start's output begins
        self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if self.ran_out_of_memory():
                    raise EngineOutOfMemory(self.out_of_memory_advice())
                refusal = self._refusal()
                if refusal:
                    raise EngineRefused(f"the embedded engine refused to start: {refusal}")
                raise RuntimeError(
                    f"the embedded Zeebe engine exited ({self._process.returncode}); {self.log_path}:\n"
                    + self.log_path.read_text()[-3000:]
                )
            try:
                if requests.get(f"{self.control_url}/health", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the embedded Zeebe engine was not up after {timeout:.0f} s; see {self.log_path}")

    def diagnostics(self, max_log_lines: int = 40) -> str:
        """What to look at when the engine stopped answering: its logged problems and threads.

        The engine's WARN and ERROR lines (first line of each), the stream processor's own
        health report and positions, then a thread dump (through the JDK's ``jcmd``) written
        beside the log, with the engine's own actor threads printed.
        """
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.is_file() else []
        problems = [line[:300] for line in lines if " WARN " in line or " ERROR " in line]
        report = [f"engine log {self.log_path}: {len(problems)} WARN/ERROR line(s)"]
        report += problems[-max_log_lines:]
        if self._process is None or self._process.poll() is not None:
            report.append("the engine process is not running")
            return "\n".join(report)
        try:
            state = requests.get(f"{self.control_url}/stream-processor", timeout=15).json()
            report.append(
                f"stream processor: {state.get('health')}; processed up to "
                f"{state.get('lastProcessedPosition')}, written up to {state.get('lastWrittenPosition')}"
            )
            if state.get("issue"):
                report.append(f"its issue: {state['issue']}")
        except (requests.RequestException, ValueError) as exc:
            report.append(f"the stream processor's state could not be read: {exc}")
        jcmd = self.java.home / "bin" / "jcmd"
        try:
            dump = subprocess.run(
                [str(jcmd), str(self._process.pid), "Thread.print"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            report.append(f"no thread dump: {exc}")
            return "\n".join(report)
        dump_path = self.log_path.with_name("engine-threads.txt")
        dump_path.write_text(dump)
        report.append(f"thread dump: {dump_path}; the engine's actor threads:")
        for block in dump.split("\n\n"):
            if block.startswith('"zb-'):
                report.append("\n".join(block.splitlines()[:12]))
        return "\n".join(report)

    def kill(self) -> None:
        """SIGKILL the engine, as a crash would; ``start`` again brings it back on its state file."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait(30)

    def exit_code(self) -> int | None:
        """The engine process's exit code once it has ended by itself, else None."""
        return self._process.poll() if self._process else None

    def heap_use(self) -> HeapUse | None:
        """The engine's Java heap as it says, or None when it does not answer."""
        try:
            answer = requests.get(f"{self.control_url}/health", timeout=5)
            answer.raise_for_status()
            heap = answer.json()["heap"]
            return HeapUse(int(heap["usedAfterGcBytes"]), int(heap["maxBytes"]))
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return None

    def ran_out_of_memory(self) -> bool:
        """Whether the end of this start's output in the engine's log says its Java heap ran out.

        The JVM then exits (``-XX:+ExitOnOutOfMemoryError``) and says so on its output,
        which goes to the log (after an earlier run's, which is not read).
        """
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(self._log_start, log.seek(0, os.SEEK_END) - 20_000))
                return b"OutOfMemoryError" in log.read()
        except OSError:
            return False

    def out_of_memory_advice(self) -> str:
        kept = self.state_file.stat().st_size if self.state_file and self.state_file.exists() else 0
        log = f" (its log: {kept / 2**20:.0f} MB)" if kept else ""
        return (
            f"the embedded Zeebe engine ran out of its {self.heap} Java heap{log}. Give it more with "
            "HIREFLOW_EMBEDDED_ENGINE_HEAP (such as 2g), or start "
            f"afresh with `make clean-data`. Its output: {self.log_path}"
        )

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)


# --- A REST-v2-shaped read model over the engine's records ------------------------------


def _k(value: Any) -> str:
    """A key as text, one string for each key however many rows hold it."""
    return sys.intern(str(value))


def _name(text: str) -> str:
    """An element's, process's or variable's name: one string for each, not one a record."""
    return sys.intern(text)


def rest_v2_date(epoch_ms: int | None) -> str | None:
    """A time in ms (a record's timestamp, a due date) as REST v2 writes dates: ISO 8601 in
    UTC, to the millisecond."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _matches(item: dict[str, Any], filter_: dict[str, Any]) -> bool:
    return all(str(item.get(name)) == str(wanted) for name, wanted in filter_.items())


class _Table(Mapping):
    """One kind of row of the read model, by key, with an index on some of their fields.

    A search names the fields it filters on; one the table indexes narrows the rows to
    look at to those with its value (the fewest such rows), so a search for one
    instance's rows does not read every instance's. Without the indexes each search read
    every row ever written: 130 ms for a business id among 120,000 variables, under the
    lock every reader of the projection waits on.

    ``kept`` fields never change once a row is put (such as its instance's key); ``changing``
    ones may (its state), and cost a little more memory: the table remembers what it
    indexed each row under. Rows found through an index come in the order they came to
    its value: for a kept field, the order they were first put in. Change a row through
    :meth:`put` (also after changing it in place), so that the indexes follow it.
    """

    def __init__(self, kept: tuple[str, ...] = (), changing: tuple[str, ...] = (), key_field: str = ""):
        self._rows: dict[Any, dict[str, Any]] = {}
        self._key_field = key_field  # the field that holds a row's key: a lookup, not a search
        self._kept = kept
        self._changing = changing
        # Per field: str(value) -> the keys of the rows with it (a dict keeps their order)
        self._indexes: dict[str, dict[str, dict[Any, None]]] = {name: {} for name in kept + changing}
        self._changing_as: dict[Any, tuple[str, ...]] = {}  # key -> its changing fields as indexed

    def __getitem__(self, key: Any) -> dict[str, Any]:
        return self._rows[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, key: Any, row: dict[str, Any]) -> dict[str, Any]:
        """Keep ``row`` under ``key`` (new, replaced or changed in place) and index it again."""
        if key not in self._rows:
            for name in self._kept:
                self._indexes[name].setdefault(str(row.get(name)), {})[key] = None
        self._rows[key] = row
        if self._changing:
            self._index_changing(key, row)
        return row

    def _index_changing(self, key: Any, row: dict[str, Any]) -> None:
        now = tuple(str(row.get(name)) for name in self._changing)
        before = self._changing_as.get(key)
        if now == before:
            return
        for position, name in enumerate(self._changing):
            index = self._indexes[name]
            if before is not None:
                if before[position] == now[position]:
                    continue
                keys = index[before[position]]
                del keys[key]
                if not keys:
                    del index[before[position]]
            index.setdefault(now[position], {})[key] = None
        self._changing_as[key] = now

    def find(self, filter_: dict[str, Any]) -> list[dict[str, Any]]:
        """Copies of the rows whose fields equal the filter's values (compared as text)."""
        if self._key_field in filter_:
            row = self._rows.get(str(filter_[self._key_field]))
            rows: Iterable[dict[str, Any]] = [row] if row is not None else []
        else:
            keys = self.candidates(filter_)
            rows = self._rows.values() if keys is None else (self._rows[key] for key in keys)
        return [dict(row) for row in rows if _matches(row, filter_)]

    def candidates(self, filter_: dict[str, Any]) -> list[Any] | None:
        """The keys of the rows an index leaves to check for ``filter_``; None: every row."""
        narrowest: dict[Any, None] | None = None
        for name, wanted in filter_.items():
            if name in self._indexes:
                keys = self._indexes[name].get(str(wanted), {})
                if narrowest is None or len(keys) < len(narrowest):
                    narrowest = keys
        return None if narrowest is None else list(narrowest)


def _instance_table(key_field: str) -> Callable[[], _Table]:
    # Most searches are for one instance's rows; some for those in one state.
    return lambda: _Table(("processInstanceKey",), ("state",), key_field=key_field)


@dataclass
class _Projection:
    """What the engine's EVENT records say happened, kept the way REST v2 searches show it."""

    next_index: int = 0  # the log position read up to: the next page starts after it
    instances: _Table = field(
        default_factory=lambda: _Table(("processDefinitionId",), ("state",), key_field="processInstanceKey")
    )
    elements: _Table = field(default_factory=_instance_table("elementInstanceKey"))
    user_tasks: _Table = field(default_factory=_instance_table("userTaskKey"))
    incidents: _Table = field(default_factory=_instance_table("incidentKey"))
    # By (scope key, name). A start looks its business id up by name and value; an index
    # on the value too would cost about two thirds more memory, for a millisecond or two.
    variables: _Table = field(default_factory=lambda: _Table(("processInstanceKey", "name")))
    jobs: _Table = field(default_factory=_instance_table("jobKey"))
    definitions: _Table = field(default_factory=lambda: _Table(key_field="processDefinitionKey"))
    # Every deployed form version by its key, as a user task links it (its formKey).
    forms: _Table = field(default_factory=lambda: _Table(key_field="formKey"))
    # (process id, sequence flow id) of every sequence flow taken
    taken_flows: set[tuple[str, str]] = field(default_factory=set)

    _ELEMENT_STATES = {
        "ELEMENT_ACTIVATING": "ACTIVE",
        "ELEMENT_ACTIVATED": "ACTIVE",
        "ELEMENT_COMPLETING": "ACTIVE",
        "ELEMENT_COMPLETED": "COMPLETED",
        "ELEMENT_TERMINATED": "TERMINATED",
    }

    # The records apply reads: the engine leaves the others out of the pages it is asked for.
    RECORD_TYPES = ("EVENT",)
    VALUE_TYPES = ("PROCESS_INSTANCE", "USER_TASK", "INCIDENT", "VARIABLE", "PROCESS", "JOB", "FORM")

    def apply(self, record: dict[str, Any]) -> None:
        if record.get("recordType") != "EVENT":
            return
        value, intent, key = record["value"], record["intent"], _k(record["key"])
        kind = record["valueType"]
        if kind == "PROCESS_INSTANCE" and intent in self._ELEMENT_STATES:
            self._element(key, value, self._ELEMENT_STATES[intent], record.get("timestamp"))
        elif kind == "PROCESS_INSTANCE" and intent == "SEQUENCE_FLOW_TAKEN":
            self.taken_flows.add((value["bpmnProcessId"], value["elementId"]))
        elif kind == "USER_TASK":
            self._user_task(key, value, intent)
        elif kind == "INCIDENT":
            self._incident(key, value, intent)
        elif kind == "VARIABLE":
            scope, name = _k(value["scopeKey"]), _name(value["name"])
            self.variables.put(
                (scope, name),
                {
                    "name": name,
                    "value": value["value"],
                    "scopeKey": scope,
                    "processInstanceKey": _k(value["processInstanceKey"]),
                },
            )
        elif kind == "PROCESS" and intent == "CREATED":
            self.definitions.put(
                _k(value["processDefinitionKey"]),
                {
                    "processDefinitionKey": _k(value["processDefinitionKey"]),
                    "processDefinitionId": _name(value["bpmnProcessId"]),
                    "version": value["version"],
                    "resourceName": value["resourceName"],
                },
            )
        elif kind == "FORM" and intent == "CREATED":
            self.forms.put(
                _k(value["formKey"]),
                {
                    "formKey": _k(value["formKey"]),
                    "formId": _name(value["formId"]),
                    "version": value["version"],
                    # The engine's JSON gives the resource's bytes in base64.
                    "schema": json.loads(base64.b64decode(value["resource"])),
                },
            )
        elif kind == "JOB":
            earlier = self.jobs.get(key, {})
            self.jobs.put(
                key,
                {
                    "jobKey": key,
                    "type": _name(value["type"]),
                    "state": intent,
                    "retries": value["retries"],
                    # When a job failed with a retry backoff is due again (engine clock, ms).
                    "recurringTime": value.get("recurringTime", -1),
                    "errorMessage": value.get("errorMessage"),
                    # As REST v2 answers it: set by each failure, kept by the job's later events.
                    "hasFailedWithRetriesLeft": (
                        value["retries"] > 0
                        if intent == "FAILED"
                        else earlier.get("hasFailedWithRetriesLeft", False)
                    ),
                    "elementId": _name(value["elementId"]),
                    "elementInstanceKey": _k(value["elementInstanceKey"]),
                    "processInstanceKey": _k(value["processInstanceKey"]),
                    "customHeaders": value.get("customHeaders", {}),
                    "lastUpdateTime": rest_v2_date(record.get("timestamp")),
                },
            )

    def _element(self, key: str, value: dict[str, Any], state: str, timestamp: int | None) -> None:
        element = self.elements.get(key) or self.elements.put(
            key,
            {
                "elementInstanceKey": key,
                "elementId": _name(value["elementId"]),
                "type": _name(value["bpmnElementType"]),
                "processInstanceKey": _k(value["processInstanceKey"]),
                "processDefinitionId": _name(value["bpmnProcessId"]),
                "startDate": rest_v2_date(timestamp),
            },
        )
        element["state"] = state
        if state != "ACTIVE":
            element["endDate"] = rest_v2_date(timestamp)
        self.elements.put(key, element)
        if value["bpmnElementType"] == "PROCESS":
            self.instances.put(
                key,
                {
                    "processInstanceKey": key,
                    "processDefinitionId": _name(value["bpmnProcessId"]),
                    "processDefinitionVersion": value["version"],
                    "state": state,
                },
            )

    def _user_task(self, key: str, value: dict[str, Any], intent: str) -> None:
        states = {"CREATED": "CREATED", "COMPLETED": "COMPLETED", "CANCELED": "CANCELED"}
        task = self.user_tasks.get(key) or self.user_tasks.put(
            key,
            {
                "userTaskKey": key,
                "elementId": _name(value["elementId"]),
                "processInstanceKey": _k(value["processInstanceKey"]),
                "elementInstanceKey": _k(value["elementInstanceKey"]),
                "formKey": _k(value.get("formKey")),
                "candidateGroups": value.get("candidateGroupsList", []),
                "candidateUsers": value.get("candidateUsersList", []),
                # As REST v2 gives them: ISO date-times, null when the model sets none.
                "dueDate": value.get("dueDate") or None,
                "followUpDate": value.get("followUpDate") or None,
            },
        )
        if intent in states:
            task["state"] = states[intent]
        if intent == "ASSIGNED":
            task["assignee"] = value.get("assignee")
        self.user_tasks.put(key, task)

    def _incident(self, key: str, value: dict[str, Any], intent: str) -> None:
        incident = self.incidents.get(key) or self.incidents.put(
            key,
            {
                "incidentKey": key,
                "errorType": value["errorType"],
                "errorMessage": value["errorMessage"],
                "elementId": _name(value["elementId"]),
                "processDefinitionId": value.get("bpmnProcessId"),
                "processInstanceKey": _k(value["processInstanceKey"]),
                "jobKey": _k(value["jobKey"]),
            },
        )
        incident["state"] = "RESOLVED" if intent == "RESOLVED" else "ACTIVE"
        self.incidents.put(key, incident)


class EmbeddedEngineClient(CamundaRestClient):
    """The REST v2 client, pointed at the embedded engine's control port.

    Commands (start, cancel, publish, complete a user task, job retries, incidents, job
    activation, completion, failure and errors) are inherited: the launcher takes REST v2's
    paths and bodies, with or without the ``/v2`` prefix (so REST v2 clients such as the
    official Python SDK's job worker can use it too). Searches read a projection of the
    engine's records, so (unlike REST v2 on the cluster) they see every event as soon as
    the engine wrote it.
    """

    def __init__(self, control_url: str, timeout: float = 30.0):
        super().__init__(control_url, timeout=timeout)
        self._projection = _Projection()
        self._lock = threading.Lock()

    def _v2(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.rest_url}{path}", **kwargs)

    def refresh(self) -> _Projection:
        """Read the records written since the last call into the projection."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> _Projection:
        # Call with the lock held. The engine answers in pages; read until it has no more.
        while True:
            page = self._v2(
                "GET",
                "/records",
                params={
                    "from": self._projection.next_index,
                    "recordType": ",".join(_Projection.RECORD_TYPES),
                    "valueType": ",".join(_Projection.VALUE_TYPES),
                },
            )
            for record in page["records"]:
                self._projection.apply(record)
            self._projection.next_index = page["next"]
            if not page.get("more"):
                return self._projection

    def _read(self, read: Callable[[_Projection], T]) -> T:
        """Catch up, then read the projection, under the lock.

        One client serves all of a server's threads: without the lock, one thread's
        catching up would change the projection while another iterates over it.
        """
        with self._lock:
            return read(self._catch_up())

    def _search(self, table: str, filter_: dict[str, Any]) -> list[dict[str, Any]]:
        return self._read(lambda state: getattr(state, table).find(filter_))

    def deploy_resources(self, resources: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        encoded = [
            {"name": name, "content": base64.b64encode(content).decode()} for name, content in resources
        ]
        return self._v2("POST", "/deployments", json={"resources": encoded})

    def get_process_instance(self, key: int | str) -> dict[str, Any]:
        def read(state: _Projection) -> dict[str, Any] | None:
            instance = state.instances.get(_k(key))
            if instance is None:
                return None
            # As REST v2 answers it: whether an unresolved incident stops the instance.
            has_incident = bool(state.incidents.find({"processInstanceKey": key, "state": "ACTIVE"}))
            return {**instance, "hasIncident": has_incident}

        found = self._read(read)
        if found is None:
            raise CamundaApiError("GET", f"process instance {key}", 404, "not found")
        return found

    def search_process_instances(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("instances", filter_)

    def search_element_instances(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("elements", filter_)

    def search_variables(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("variables", filter_)

    def search_user_tasks(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("user_tasks", filter_)

    def search_incidents(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("incidents", filter_)

    def search_jobs(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("jobs", filter_)

    def search_process_definitions(self, **filter_: Any) -> list[dict[str, Any]]:
        return self._search("definitions", filter_)

    def get_user_task_form(self, key: int | str) -> dict[str, Any] | None:
        def read(state: _Projection) -> dict[str, Any] | None:
            task = state.user_tasks.get(_k(key))
            if task is None:
                raise CamundaApiError("GET", f"user task {key}", 404, "not found")
            form = state.forms.get(task["formKey"]) if task.get("formKey") not in (None, "", "-1") else None
            return dict(form) if form is not None else None

        return self._read(read)

    def visited_flow_nodes(self, process_id: str) -> set[str]:
        return self._read(
            lambda state: {
                e["elementId"] for e in state.elements.values() if e["processDefinitionId"] == process_id
            }
        )

    def taken_sequence_flows(self, process_id: str) -> set[str]:
        return self._read(
            lambda state: {flow for process, flow in state.taken_flows if process == process_id}
        )

    def clock_now_ms(self) -> int:
        """The engine clock's time: the machine's plus every advance so far."""
        return int(self._v2("GET", "/clock")["epochMilli"])

    def advance_clock(self, milliseconds: int) -> None:
        self._v2("POST", "/clock/add", json={"offsetMilli": milliseconds})
