"""Run a parser of untrusted files in a child process, within CPU, memory and time limits.

A crafted PDF or Word file can drive a parser (pypdf, python-docx and lxml beneath it)
into a near-endless loop or a huge allocation. In the worker's own process that would
hold a thread for good, or get the whole worker killed for its memory; the engine would
then hand the same job to the next worker, and one file could stop the pool. In a child
process a file costs at most its limits:

- more CPU time or memory than allowed: the file is at fault (``ParserLimitExceeded``;
  resume intake rejects the resume);
- no answer in the wall-clock limit, or the child dying any other way: the machine may
  be at fault (``ParserUnavailable``, a technical error that is retried).

Children fork from a fork server that has the parsers and the main module's imports
loaded, so a call costs a fork, not an interpreter start (a one-page resume: about 10 ms
in all, its reading included).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import multiprocessing
import pickle
import resource
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The fork server imports these once; every child starts with them loaded.
PRELOADED_MODULES = ["hireflow.resume_intake"]
_CONTEXT = multiprocessing.get_context("forkserver")
_preload_lock = threading.Lock()
_preloaded = False


def _fork_server() -> multiprocessing.context.ForkServerContext:
    """The fork server's context, preloading the parsers and what the main module imports.

    Each child runs the program's main module again as ``__mp_main__`` (multiprocessing's
    rule outside plain fork). Run as ``python -m job_workers.worker``, that module
    imports pyzeebe and gRPC: about half a second per child, unless the server has them
    loaded. The main module itself is not preloaded: runpy would then find it already
    imported and warn about it in every child, once per parsed file.
    """
    global _preloaded
    with _preload_lock:
        if not _preloaded:
            _CONTEXT.set_forkserver_preload(PRELOADED_MODULES + _imports_of_main_module())
            _preloaded = True
    return _CONTEXT


def _imports_of_main_module() -> list[str]:
    """The modules a ``python -m package.module`` program's main module imports at its top.

    Read from its import statements, not its namespace: ``from package.module import
    CONSTANT`` leaves a number there that does not say where it came from, and a module
    missed here is imported (and, without bytecode files, compiled) again by every child.
    """
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if not name or name.endswith("__main__"):  # multiprocessing does not run those again
        return []
    try:
        source = spec.loader.get_source(name)
    except (AttributeError, ImportError, OSError):
        source = None
    if not source:
        return []
    named: set[str] = set()
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Import):
            named.update(alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            relative_name = "." * statement.level + (statement.module or "")
            module = importlib.util.resolve_name(relative_name, spec.parent)
            named.add(module)
            # `from package import module` names a module too
            named.update(f"{module}.{alias.name}" for alias in statement.names)
    # Only what the program did import: the others are names of classes and functions.
    return sorted(module for module in named if module in sys.modules and module != name)


@dataclass(frozen=True)
class ParserLimits:
    """What reading one file may cost. A real resume needs a small part of each."""

    cpu_seconds: int = 20
    # Address space, not resident memory: a 20-page resume reads within 128 MiB.
    memory_bytes: int = 512 * 1024 * 1024
    # Above the CPU limit, for a loaded machine; below the job timeout of the tasks that parse.
    wall_seconds: float = 45.0


class ParserLimitExceeded(Exception):
    """The parser needed more CPU time or memory than allowed for this file."""


class ParserUnavailable(Exception):
    """The parser process gave no answer in time, or died; trying again later may succeed."""


def run_isolated(func: Callable[..., Any], args: tuple, limits: ParserLimits) -> Any:
    """``func(*args)`` in a child process within ``limits``; its result, or the exception it raised.

    ``func``, ``args`` and the result cross a pipe, so they must pickle, and ``func``
    must be importable by name.
    """
    context = _fork_server()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child_main, args=(sender, limits, func, args), name="hireflow-parser", daemon=True
    )
    try:
        child.start()
    except OSError as exc:
        raise ParserUnavailable(f"could not start a parser process: {exc}") from exc
    finally:
        sender.close()
    outcome = None
    try:
        if not receiver.poll(limits.wall_seconds):
            raise ParserUnavailable(f"the parser gave no answer within {limits.wall_seconds:g} s")
        with contextlib.suppress(EOFError):  # it died before answering; its exit code says how
            outcome = receiver.recv()
    finally:
        receiver.close()
        if outcome is None and child.is_alive():
            child.kill()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
    if outcome is None:
        # SIGXCPU is the CPU limit. A SIGKILL may be the operator's or the OOM killer's,
        # which is not the file's fault, so it counts as the machine's.
        if child.exitcode == -signal.SIGXCPU:
            raise ParserLimitExceeded(f"reading it took more than {limits.cpu_seconds} s of CPU time")
        hint = " (killed: is the machine out of memory?)" if child.exitcode == -signal.SIGKILL else ""
        raise ParserUnavailable(
            f"the parser process ended with exit code {child.exitcode} and no answer{hint}"
        )
    kind, value = outcome
    if kind == "memory":
        raise ParserLimitExceeded(f"reading it took more than {limits.memory_bytes // 2**20} MiB of memory")
    if kind == "raised":
        raise value
    return value


def _child_main(sender, limits: ParserLimits, func: Callable[..., Any], args: tuple) -> None:
    """In the child: set the limits, run ``func``, send back what happened."""
    # If the machine runs out of memory all the same, the kernel kills a parser first,
    # not the worker that waits for it.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adjust:
        adjust.write("1000")
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    try:
        outcome: tuple[str, Any] = ("ok", func(*args))
    except MemoryError:
        outcome = ("memory", None)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller to judge
        outcome = ("raised", exc)
    try:
        payload = pickle.dumps(outcome)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle is described instead
        payload = pickle.dumps(("raised", RuntimeError(f"{outcome[1]!r} (could not be sent back: {exc})")))
    sender.send_bytes(payload)
    sender.close()
