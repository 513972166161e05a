"""JSON values' kinds in an operator's words, for messages that name a kind, not a value."""

from __future__ import annotations

from typing import Any

# The kinds a task function's annotation can name (job_workers.task_router), and the words
# for each.
KIND_NAMES = {str: "text", int: "a whole number", list: "a list", dict: "an object", type(None): "null"}


def kind_name(value: Any) -> str:
    """The JSON kind of ``value`` in words; never the value itself, which may be personal data."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return KIND_NAMES.get(type(value), type(value).__name__)
