"""The routers' common base: a job without the variables its task needs is an incident at once.

pyzeebe passes a task function the job's variables by name. A variable the instance does
not have (an admin start without it, a mapping an analyst removed in the Modeler) then
raised ``TypeError: missing ... argument`` inside pyzeebe, and one of the wrong kind (text
where a list belongs) a TypeError or AttributeError somewhere in the task: to the failure
policy unexpected errors, retried with backoff for minutes and then reported as probable
bugs. A business id that is blank or no id at all (``BusinessId``) was recorded and indexed
as it was. Retrying cannot mend a variable, so the job is failed at once instead, and the
incident names the variables to set.

No ``from __future__ import annotations`` here: the check reads the parameters' real
annotations, as pyzeebe does to find the one that takes the Job.
"""

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pyzeebe import Job, ZeebeTaskRouter

from hireflow.constants import (
    EMAIL,
    EMAIL_IN_WORDS,
    EMAIL_MAX_LENGTH,
    IDENTIFIER_IN_WORDS,
    IDENTIFIER_PATTERN,
    NAME_MAX_LENGTH,
    PRINTABLE,
    SKILL_MAX_LENGTH,
)
from hireflow.errors import PermanentFailure
from hireflow.json_kinds import KIND_NAMES, kind_name

TaskFunction = Callable[..., Any]

# The JSON kinds the task functions' annotations name (KIND_NAMES) are checked; a parameter
# annotated otherwise is passed on unchecked.


@dataclass(frozen=True)
class TextForm:
    """The form a text variable must have, for ``Annotated[str, TextForm(...)]``."""

    pattern: re.Pattern[str]
    in_words: str
    what: str  # what a text of this form is, as the incident names it ("a business id")
    max_length: int | None = None

    def fits(self, value: str) -> bool:
        too_long = self.max_length is not None and len(value) > self.max_length
        return not too_long and self.pattern.fullmatch(value) is not None


BUSINESS_ID_FORM = TextForm(IDENTIFIER_PATTERN, IDENTIFIER_IN_WORDS, "a business id")
# A task parameter that takes a business id (a resume's, a candidate's, an unlock's, ...).
BusinessId = Annotated[str, BUSINESS_ID_FORM]


def printable_text(what: str, max_length: int) -> TextForm:
    """The form of a text of 1 to ``max_length`` characters without control characters."""
    in_words = f"1 to {max_length} characters, without control characters"
    return TextForm(re.compile(PRINTABLE), in_words, what, max_length=max_length)


# A person's name and email address, as the webapp takes them: what a task that keeps
# one in the store takes too, so SQLite keeps nothing PostgreSQL would refuse.
PERSON_NAME_FORM = printable_text("a name", NAME_MAX_LENGTH)
PersonName = Annotated[str, PERSON_NAME_FORM]
EMAIL_FORM = TextForm(
    re.compile(EMAIL),
    f"{EMAIL_IN_WORDS}, of at most {EMAIL_MAX_LENGTH} characters",
    "an email address",
    max_length=EMAIL_MAX_LENGTH,
)
EmailAddress = Annotated[str, EMAIL_FORM]
# A skill as search keeps it. The router checks a text parameter, not a list's items, so
# index_candidate checks each of its skills against this.
SKILL_FORM = printable_text("a skill", SKILL_MAX_LENGTH)


class BadVariables(PermanentFailure):
    """The instance lacks variables the task needs, or has them of the wrong kind or form (a
    business id that is no id); set them, then retry."""


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
    forms = {p.name: form_of(p.annotation) for p in parameters if form_of(p.annotation)}
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
        misformed = [
            (name, forms[name])
            for name, value in variables.items()
            if name in forms and isinstance(value, str) and not forms[name].fits(value)
        ]
        if missing or wrong or misformed:
            raise BadVariables(_what_is_wrong(task_function.__name__, missing, wrong, misformed))
        return task_function(**variables)

    return checked


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a union annotation joins (``str | None``: str and NoneType), or the one given."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return typing.get_args(annotation) if union else (annotation,)


def kinds_of(annotation: Any) -> tuple[type, ...]:
    """The JSON kinds ``annotation`` names (``str | None``: str and NoneType; ``BusinessId``:
    str); () if it names others."""
    kinds = tuple(
        typing.get_args(member)[0] if typing.get_origin(member) is Annotated else member
        for member in _members(annotation)
    )
    return kinds if all(kind in KIND_NAMES for kind in kinds) else ()


def form_of(annotation: Any) -> TextForm | None:
    """The form ``annotation`` asks of its text (``BusinessId``, or ``BusinessId | None``), if any."""
    for member in _members(annotation):
        if typing.get_origin(member) is Annotated:
            forms = [meta for meta in member.__metadata__ if isinstance(meta, TextForm)]
            if forms:
                return forms[0]
    return None


def is_of_kind(value: Any, kind: type) -> bool:
    """Whether the JSON value ``value`` is of ``kind`` (one of ``KIND_NAMES``)."""
    if kind is int:
        # JSON has one kind of number: 3.0 is a whole number too. true is no number.
        whole_float = isinstance(value, float) and value.is_integer()
        return (isinstance(value, int) and not isinstance(value, bool)) or whole_float
    return isinstance(value, kind)


def _what_is_wrong(
    task: str,
    missing: list[str],
    wrong: list[tuple[str, Any, tuple[type, ...]]],
    misformed: list[tuple[str, TextForm]],
) -> str:
    problems = []
    if missing:
        named = f"variable {missing[0]}" if len(missing) == 1 else f"variables {', '.join(missing)}"
        problems.append(f"the process instance has no {named}, which {task} needs")
    for name, value, kinds in wrong:
        wanted = " or ".join(KIND_NAMES[kind] for kind in kinds)
        problems.append(f"the variable {name} is {kind_name(value)}, where {task} needs {wanted}")
    for name, form in misformed:
        problems.append(f"the variable {name} is not {form.what} ({form.in_words}), as {task} needs")
    it = "it" if len(missing) + len(wrong) + len(misformed) == 1 else "them"
    return (
        f"{'; '.join(problems)}. Set {it} right on the instance, or mend the model's mappings that"
        f" should set {it} before this task"
    )
