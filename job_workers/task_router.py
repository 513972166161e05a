"""The routers' common base: a job that lacks a variable its task needs is an incident at once.

pyzeebe passes a task function the job's variables by name. A variable the instance does
not have (an admin start without it, a mapping an analyst removed in the Modeler) then
raises ``TypeError: missing ... argument`` inside pyzeebe: to the failure policy an
unexpected error, retried with backoff for minutes and then reported as a probable bug.
Retrying cannot make the variable appear, so the job is failed at once instead, and the
incident names the variables to set.

No ``from __future__ import annotations`` here: the check recognises the parameter that
takes the Job by its real annotation, as pyzeebe does.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

from pyzeebe import Job, ZeebeTaskRouter

from hireflow.errors import PermanentFailure

TaskFunction = Callable[..., Any]


class MissingVariables(PermanentFailure):
    """The process instance lacks variables the task needs; set them, then retry the incident."""


class TaskRouter(ZeebeTaskRouter):
    """pyzeebe's router; each task first checks that the job has every variable it needs."""

    def task(self, task_type: str, **options: Any) -> Callable[[TaskFunction], TaskFunction]:  # type: ignore[override]
        register = super().task(task_type, **options)

        def register_checked(task_function: TaskFunction) -> TaskFunction:
            register(needing_its_variables(task_function))
            return task_function

        return register_checked


def needing_its_variables(task_function: TaskFunction) -> TaskFunction:
    """``task_function``, raising ``MissingVariables`` when a parameter without a default gets no variable.

    The wrapper keeps the function's signature (``functools.wraps``), so pyzeebe still
    fetches the same variables and passes the Job to the same parameter.
    """
    required = [
        parameter.name
        for parameter in inspect.signature(task_function).parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.annotation is not Job
        and parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    if not required:
        return task_function

    @functools.wraps(task_function)
    def checked(**variables: Any) -> Any:
        missing = [name for name in required if name not in variables]
        if missing:
            named = f"variable {missing[0]}" if len(missing) == 1 else f"variables {', '.join(missing)}"
            it = "it" if len(missing) == 1 else "them"
            raise MissingVariables(
                f"the process instance has no {named}, which {task_function.__name__} needs."
                f" Set {it} on the instance, or mend the model's mappings that should set {it}"
                " before this task"
            )
        return task_function(**variables)

    return checked
