"""The routers' common base: a job without the variables its task needs is an incident at once.

pyzeebe passes a task function the job's variables by name. A variable the instance does
not have (an admin start without it, a mapping an analyst removed in the Modeler) then
raised ``TypeError: missing ... argument`` inside pyzeebe, and one of the wrong kind (text
where a list belongs) a TypeError or AttributeError somewhere in the task: to the failure
policy unexpected errors, retried with backoff for minutes and then reported as probable
bugs. Retrying cannot mend a variable, so the job is failed at once instead, and the
incident names the variables to set.

No ``from __future__ import annotations`` here: the check reads the parameters' real
annotations, as pyzeebe does to find the one that takes the Job.
"""

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from pyzeebe import Job, ZeebeTaskRouter

from hireflow.errors import PermanentFailure

TaskFunction = Callable[..., Any]

# The JSON kinds the task functions' annotations name, in an operator's words. A parameter
# annotated otherwise is passed on unchecked.
KIND_NAMES = {str: "text", int: "a whole number", list: "a list", dict: "an object", type(None): "null"}


class BadVariables(PermanentFailure):
    """The instance lacks variables the task needs, or has them of the wrong kind; set them, then retry."""


class TaskRouter(ZeebeTaskRouter):
    """pyzeebe's router; each task first checks that the job has the variables it needs."""

    def task(self, task_type: str, **options: Any) -> Callable[[TaskFunction], TaskFunction]:  # type: ignore[override]
        register = super().task(task_type, **options)

        def register_checked(task_function: TaskFunction) -> TaskFunction:
            register(checking_its_variables(task_function))
            return task_function

        return register_checked


def checking_its_variables(task_function: TaskFunction) -> TaskFunction:
    """``task_function``, raising ``BadVariables`` for a variable it needs that is absent or wrong.

    A parameter without a default needs its variable. Each variable given is checked
    against its parameter's annotation when that names JSON kinds only (``str``,
    ``list | None``, ...). The wrapper keeps the function's signature
    (``functools.wraps``), so pyzeebe still fetches the same variables and passes the Job
    to the same parameter.
    """
    parameters = [
        parameter
        for parameter in inspect.signature(task_function).parameters.values()
        if parameter.annotation is not Job
        and parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    kinds = {p.name: kinds_of(p.annotation) for p in parameters if kinds_of(p.annotation)}
    if not required and not kinds:
        return task_function

    @functools.wraps(task_function)
    def checked(**variables: Any) -> Any:
        missing = [name for name in required if name not in variables]
        wrong = [
            (name, value, kinds[name])
            for name, value in variables.items()
            if name in kinds and not any(is_of_kind(value, kind) for kind in kinds[name])
        ]
        if missing or wrong:
            raise BadVariables(_what_is_wrong(task_function.__name__, missing, wrong))
        return task_function(**variables)

    return checked


def kinds_of(annotation: Any) -> tuple[type, ...]:
    """The JSON kinds ``annotation`` names (``str | None``: str and NoneType); () if it names others."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kinds = typing.get_args(annotation) if union else (annotation,)
    return kinds if all(kind in KIND_NAMES for kind in kinds) else ()


def is_of_kind(value: Any, kind: type) -> bool:
    """Whether the JSON value ``value`` is of ``kind`` (one of ``KIND_NAMES``)."""
    if kind is int:
        # JSON has one kind of number: 3.0 is a whole number too. true is no number.
        whole_float = isinstance(value, float) and value.is_integer()
        return (isinstance(value, int) and not isinstance(value, bool)) or whole_float
    return isinstance(value, kind)


def kind_name(value: Any) -> str:
    """The JSON kind of ``value`` in words; never the value itself, which may be personal data."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return KIND_NAMES.get(type(value), type(value).__name__)


def _what_is_wrong(task: str, missing: list[str], wrong: list[tuple[str, Any, tuple[type, ...]]]) -> str:
    problems = []
    if missing:
        named = f"variable {missing[0]}" if len(missing) == 1 else f"variables {', '.join(missing)}"
        problems.append(f"the process instance has no {named}, which {task} needs")
    for name, value, kinds in wrong:
        wanted = " or ".join(KIND_NAMES[kind] for kind in kinds)
        problems.append(f"the variable {name} is {kind_name(value)}, where {task} needs {wanted}")
    it = "it" if len(missing) + len(wrong) == 1 else "them"
    return (
        f"{'; '.join(problems)}. Set {it} right on the instance, or mend the model's mappings that"
        f" should set {it} before this task"
    )
