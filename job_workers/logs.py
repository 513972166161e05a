"""Readable logs that carry the job's identity: ``... job_type=x job_key=1 process_instance_key=2``.

``HIREFLOW_LOG_FORMAT=json`` switches to one JSON object per line for log shippers.
"""

from __future__ import annotations

import json
import logging
import os

from hireflow.settings import log_level

CONTEXT_FIELDS = ("worker", "job_type", "job_key", "process_instance_key", "element_id", "request_id")
# The parts of a webapp access line (webapp.request_log.AccessLine); plain text has them in its message.
ACCESS_FIELDS = ("method", "path", "status", "bytes", "duration_ms", "remote_addr")


class ContextFormatter(logging.Formatter):
    """Plain text with the job context appended as key=value pairs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if hasattr(record, f))
        return f"{text} {context}" if context else text


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


class _WorkerName(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.worker_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker_name
        return True
