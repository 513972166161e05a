"""Reading hireflow's settings from the environment (docs/configuration.md lists them).

A value that cannot be used (``HIREFLOW_WORKER_MAX_JOBS=eight``, a port of ``0x50``) is
a ``SettingError`` that names the variable and what it takes, so a component refuses to
start with one clear line, rather than a traceback, or a worker pool whose processes
each fail and are restarted for good. An unset or empty number takes its default; an
empty switch is refused, since ``HIREFLOW_CONSOLE=`` may well mean "off".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingError(ValueError):
    """A setting's value cannot be used; the message names the variable and what it takes."""


def _given(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    """``name`` as a whole number (at least ``minimum``), or ``default`` when unset."""
    raw = _given(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} is below its minimum, {minimum}")
    return value


def decimal_number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None
) -> float:
    """``name`` as a number such as ``2.5`` (at least ``minimum``), or ``default`` when unset."""
    raw = _given(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
        raise SettingError(f"{name}={raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={raw} is below its minimum, {minimum:g}")
    return value


def switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``name`` as on (``1``, ``true``, ``yes``, ``on``) or off (``0``, ``false``, ``no``, ``off``),
    in any case, or ``default`` when unset."""
    if name not in env:
        return default
    raw = env[name].strip()
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise SettingError(f"{name}={raw!r} is neither on (1, true, yes, on) nor off (0, false, no, off)")


def log_level(env: Mapping[str, str], name: str = "HIREFLOW_LOG_LEVEL", default: str = "INFO") -> int:
    """``name`` as a logging level, in any case (``debug`` or ``DEBUG``)."""
    raw = _given(env, name)
    if raw is None:
        return logging.getLevelName(default)
    if raw.upper() not in LOG_LEVELS:
        raise SettingError(f"{name}={raw!r} is not a log level: one of {', '.join(LOG_LEVELS)}")
    return logging.getLevelName(raw.upper())
