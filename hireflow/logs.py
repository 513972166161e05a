"""Readable logs that carry the job's identity: ``... job_type=x job_key=1 process_instance_key=2``.

``HIREFLOW_LOG_FORMAT=json`` switches to one JSON object per line for log shippers. Every
hireflow program logs through ``configure_logging``, so one deployment writes one format.

A record's line never holds a line break or a terminal control of its own: log messages
quote what outsiders sent (a request's path, a file's name), and a ``%0A`` in a URL would
otherwise start a forged line in the log. Such characters are written escaped (``\\n``,
``\\x1b``). A traceback still follows its record on lines of its own, each indented: an
exception's message quotes outsiders too, and only a record's line starts at the margin.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys

from hireflow.settings import SettingError, log_level

CONTEXT_FIELDS = ("worker", "job_type", "job_key", "process_instance_key", "element_id", "request_id")
# The parts of a webapp access line (webapp.request_log.AccessLine); plain text has them in its message.
ACCESS_FIELDS = ("method", "path", "status", "bytes", "duration_ms", "remote_addr")


# What would end a line in a log file or drive the terminal showing it: the C0 controls but
# tab, DEL, the C1 controls (NEL among them), and Unicode's line and paragraph separators.
LINE_BREAKING = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break and control character written as its escape (``\\n``)."""
    return LINE_BREAKING.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


# Before each line of a traceback or a stack, so none of them can pass for a record's line.
TRACEBACK_INDENT = "  "
# Where a traceback formatted into a message begins.
TRACEBACK_IN_MESSAGE = "\nTraceback (most recent call last):"


def indented(text: str) -> str:
    """Each line of ``text`` after ``TRACEBACK_INDENT``, its other controls escaped by ``one_line``."""
    return "\n".join(TRACEBACK_INDENT + one_line(line) for line in text.split("\n"))


class ContextFormatter(logging.Formatter):
    """Plain text, one line a record, with the job context appended as key=value pairs.

    A traceback follows on lines of its own, after the context, each indented.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        # A traceback some library put into the message itself (gunicorn's "Exception during
        # worker exit:\n%s") reads as one of logging's own, below the line, indented.
        text, marker, traceback = text.partition(TRACEBACK_IN_MESSAGE)
        context = " ".join(f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if hasattr(record, f))
        line = one_line(f"{text} {context}" if context else text)
        if not marker:
            return line
        return line + "\n" + indented((marker + traceback).strip("\n"))

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return indented(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the job context as fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{f: getattr(record, f) for f in CONTEXT_FIELDS + ACCESS_FIELDS if hasattr(record, f)},
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(worker_name: str | None = None, filters: tuple[logging.Filter, ...] = ()) -> None:
    """Log to stderr in the configured format; every record carries the worker's name.

    ``filters`` add context of the caller's own to every record (the webapp's request id).
    ``HIREFLOW_LOG_LEVEL`` takes a level in any case; another word is a ``SettingError``.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if os.environ.get("HIREFLOW_LOG_FORMAT") == "json" else ContextFormatter()
    )
    if worker_name:
        handler.addFilter(_WorkerName(worker_name))
    for extra in filters:
        handler.addFilter(extra)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level(os.environ))


def configure_command_logging(program: str) -> None:
    """``configure_logging`` for a command: a bad ``HIREFLOW_LOG_LEVEL`` stops it with one line, exit 2."""
    try:
        configure_logging()
    except SettingError as exc:
        print(f"{program} not started: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


class _WorkerName(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.worker_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker_name
        return True
