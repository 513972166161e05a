"""Camunda Forms from ``bpmn/``, shown and checked by the webapp where there is no Tasklist.

Only the embedded engine lacks Tasklist (see ``webapp.local_tasks``). These are
the component types hireflow's forms use: ``text`` (Markdown with ``{{variable}}``),
``textfield``, ``textarea``, ``number`` and ``radio``, with their ``readonly``,
``required``, ``min``, ``max``, ``maxLength`` and ``decimalDigits``. A form with any other component is
shown as such and cannot be completed here: Tasklist is the place for it.
"""

from __future__ import annotations

import decimal
import functools
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from hireflow.model_checks import MODELS_DIR, NS

INPUT_TYPES = {"textfield", "textarea", "number", "radio"}
TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# A number as a number input sends it: ASCII digits, an optional point and exponent. Python's
# float() also takes "nan", "inf", "1_000" and other scripts' digits, which no form means.
# Each digit has one place in it, so a long field that is no number fails in one pass.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# CommonMark with raw HTML off: a variable's value is shown as text, never as markup.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


@dataclass(frozen=True)
class FormField:
    """One component of a form, ready for the page."""

    type: str
    key: str | None = None
    label: str = ""
    html: Markup | None = None  # a text component, rendered
    value: str = ""
    readonly: bool = False
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label) of a radio
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    decimal_digits: int | None = None  # 0: a whole number (form-js's ``decimalDigits``)

    @property
    def step(self) -> str:
        """The number input's ``step``: as fine as ``decimalDigits`` allows, else any number."""
        if self.decimal_digits is None:
            return "any"
        return "1" if self.decimal_digits == 0 else f"{10**-self.decimal_digits:.{self.decimal_digits}f}"

    @property
    def supported(self) -> bool:
        """Whether the page shows it: a text, or an input type it takes (a group's fields would be lost)."""
        return self.type == "text" or self.type in INPUT_TYPES


@functools.cache
def bundled_forms(models_dir: Path = MODELS_DIR) -> dict[str, dict]:
    """``form id -> form`` of every ``.form`` in ``models_dir``."""
    forms = {}
    for path in sorted(models_dir.glob("*.form")):
        form = json.loads(path.read_text())
        forms[form["id"]] = form
    return forms


@functools.cache
def user_task_form_ids(models_dir: Path = MODELS_DIR) -> dict[tuple[str, str], str]:
    """``(process id, user task id) -> form id`` of every user task linked to a form."""
    linked = {}
    for path in sorted(models_dir.glob("*.bpmn")):
        for process in ET.parse(path).getroot().iterfind("bpmn:process", NS):
            for task in process.iter(f"{{{NS['bpmn']}}}userTask"):
                definition = task.find("bpmn:extensionElements/zeebe:formDefinition", NS)
                if definition is not None and definition.get("formId"):
                    linked[(process.get("id"), task.get("id"))] = definition.get("formId")
    return linked


# ASCII punctuation, which a backslash makes literal in CommonMark text and link addresses
# (not inside `code`: a form's {{variable}} there would show the backslashes).
MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_literal(text: str) -> str:
    """``text`` as Markdown that shows it as it is, on one line.

    A form's text is Markdown, and its ``{{variable}}`` values come from outside: a
    candidate named ``[Verify your account](https://...)`` would otherwise be a link on
    the recruiter's task, and ``**``, ``#`` or a line break would restyle the text.
    """
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(text.splitlines()))


def shown(value: Any) -> str:
    """A variable's value as a form shows it: lists joined, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def variables_shown(form: dict) -> set[str]:
    """The variables a form shows without asking for them: its read-only fields' keys and
    the ``{{variable}}`` in its texts. An instance without one shows the person a blank."""
    shown_names = set()
    for component in form.get("components", []):
        if component.get("type") == "text":
            shown_names |= set(TEMPLATE_VARIABLE.findall(component.get("text", "")))
        elif component.get("key") and (component.get("readonly") or component.get("disabled")):
            shown_names.add(component["key"])
    return shown_names


def form_fields(
    form: dict, variables: dict[str, Any], submitted: dict[str, str] | None = None
) -> list[FormField]:
    """The form's components filled from the task's variables (and what was just submitted)."""
    submitted = submitted or {}
    fields = []
    for component in form.get("components", []):
        kind = component.get("type", "")
        validate = component.get("validate") or {}
        key = component.get("key")
        if kind == "text":
            text = TEMPLATE_VARIABLE.sub(
                lambda m: markdown_literal(shown(variables.get(m.group(1)))), component.get("text", "")
            )
            fields.append(FormField("text", html=Markup(MARKDOWN.render(text))))
            continue
        value = submitted.get(key, shown(variables.get(key))) if key else ""
        fields.append(
            FormField(
                kind,
                key=key,
                label=component.get("label", key or kind),
                value=value,
                readonly=bool(component.get("readonly") or component.get("disabled")),
                required=bool(validate.get("required")),
                options=[
                    (str(v.get("value")), v.get("label", v.get("value"))) for v in component.get("values", [])
                ],
                minimum=validate.get("min"),
                maximum=validate.get("max"),
                max_length=validate.get("maxLength"),
                decimal_digits=component.get("decimalDigits"),
            )
        )
    return fields


def completable(fields: list[FormField]) -> bool:
    """Whether every component is one these pages can show and take."""
    return all(f.supported for f in fields)


def submitted_variables(
    fields: list[FormField], submitted: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The variables to complete the task with, and what is wrong with the input (by key)."""
    variables: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.type not in INPUT_TYPES or f.readonly or not f.key:
            continue
        raw = submitted.get(f.key, "").strip()
        if not raw:
            if f.required:
                errors[f.key] = "required"
            continue
        if f.type == "radio" and raw not in {value for value, _ in f.options}:
            errors[f.key] = "choose one of the options"
        elif f.type == "number":
            number = float(raw) if NUMBER.fullmatch(raw) else math.nan
            if not math.isfinite(number):
                errors[f.key] = "a number"
                continue
            if f.decimal_digits is not None and _decimal_places(raw) > f.decimal_digits:
                errors[f.key] = (
                    "a whole number"
                    if f.decimal_digits == 0
                    else f"at most {f.decimal_digits} decimal place{'' if f.decimal_digits == 1 else 's'}"
                )
                continue
            if f.minimum is not None and number < f.minimum:
                errors[f.key] = f"at least {shown(f.minimum)}"
                continue
            if f.maximum is not None and number > f.maximum:
                errors[f.key] = f"at most {shown(f.maximum)}"
                continue
            variables[f.key] = int(number) if number.is_integer() else number
        elif f.max_length is not None and len(raw) > f.max_length:
            errors[f.key] = f"at most {f.max_length} characters"
        else:
            variables[f.key] = raw
    return variables, errors


def _decimal_places(number: str) -> int:
    """How many digits a number as written has after the point, as its value needs them ("4.50": 1)."""
    exponent = decimal.Decimal(number).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
