"""Check ``bpmn/`` as Camunda Modeler does, and read what the models use.

The linting itself runs in Node (``tools/modeling``): bpmnlint with ``bpmnlint:recommended``
and the camunda-compat rules for the pinned engine, the Modeler's own ``@camunda/linting``,
the form linter with a structural form import, DMN parsing and the element template
schema. This module adds the cross-file checks no linter makes (every ``formId`` has a
form, every form and decision is used) and gives a plain-text report.

``python -m hireflow.model_checks`` prints the report and exits 1 on any problem.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hireflow.cli import command_line
from hireflow.constants import MESSAGE_VARIABLES
from hireflow.engine.profiles import camunda_version
from hireflow.paths import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "bpmn"
TOOLS_DIR = PROJECT_ROOT / "tools" / "modeling"
CHECKER = TOOLS_DIR / "build" / "check-models.cjs"

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
}


class ToolsMissing(RuntimeError):
    """The Node tools are not installed: run ``make modeling-tools``."""


@dataclass(frozen=True)
class Problem:
    file: str
    element: str | None
    rule: str
    message: str
    tool: str = "hireflow"

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.element}]" if self.element else "")
        return f"{where}: {self.message} ({self.tool}: {self.rule})"


@dataclass
class ModelReport:
    problems: list[Problem] = field(default_factory=list)
    checked_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"{len(self.checked_files)} model files checked, {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


def run_checker(models_dir: Path = MODELS_DIR, engine_version: str | None = None) -> dict:
    """The Node checker's raw JSON report for ``models_dir``."""
    if not CHECKER.exists():
        raise ToolsMissing(f"{CHECKER} is missing: run `make modeling-tools` (npm ci and an esbuild bundle)")
    result = subprocess.run(
        ["node", str(CHECKER), str(models_dir), engine_version or camunda_version()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the model checker failed (exit {result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def check_models(models_dir: Path = MODELS_DIR, engine_version: str | None = None) -> ModelReport:
    """Every check on every model file in ``models_dir``."""
    raw = run_checker(models_dir, engine_version)
    report = ModelReport()

    def rel(path: str) -> str:
        return (
            Path(path).name
            if not Path(path).is_relative_to(models_dir)
            else str(Path(path).relative_to(models_dir))
        )

    for kind in ("diagrams", "forms", "decisions", "templates"):
        for entry in raw[kind]:
            report.checked_files.append(rel(entry["file"]))
            for p in entry["problems"]:
                report.problems.append(
                    Problem(
                        rel(entry["file"]), p.get("id"), p["rule"], p["message"], p.get("tool", "hireflow")
                    )
                )

    forms = {entry.get("id"): rel(entry["file"]) for entry in raw["forms"]}
    form_links = [
        (rel(d["file"]), link["element"], link["formId"]) for d in raw["diagrams"] for link in d["formIds"]
    ]
    report.problems += _linked_both_ways("form", ".form", forms, form_links)
    decisions = {d: rel(entry["file"]) for entry in raw["decisions"] for d in entry["decisionIds"]}
    decision_links = [
        (rel(d["file"]), call["element"], call["decisionId"])
        for d in raw["diagrams"]
        for call in d["decisionIds"]
    ]
    report.problems += _linked_both_ways("decision", ".dmn", decisions, decision_links)
    report.problems += message_variables_dropped(models_dir)
    return report


def message_variables_dropped(models_dir: Path = MODELS_DIR) -> list[Problem]:
    """Message catch events whose output mappings leave out a variable the message carries.

    Without output mappings the engine merges a message's variables into the instance; with
    them, only what they map. A mapping added in the Modeler (say, to note why a loop comes
    back) then silently drops the message's own variables (``MESSAGE_VARIABLES``).
    """
    problems = []
    for diagram in sorted(models_dir.glob("*.bpmn")):
        root = ET.parse(diagram).getroot()
        names = {m.get("id"): m.get("name") for m in root.iterfind("bpmn:message", NS)}
        for element in root.iter():
            definition = element.find("bpmn:messageEventDefinition", NS)
            message_ref = (
                definition.get("messageRef") if definition is not None else element.get("messageRef")
            )
            mapped = {
                output.get("target")
                for output in element.iterfind("bpmn:extensionElements/zeebe:ioMapping/zeebe:output", NS)
            }
            if not message_ref or not mapped:
                continue
            message = names.get(message_ref)
            problems += [
                Problem(
                    diagram.name,
                    element.get("id"),
                    "message-variables-mapped",
                    f"catches '{message}' and maps its outputs, so only what they map reaches the "
                    f"instance: add an output mapping '={variable}' to '{variable}', which the "
                    "message carries",
                )
                for variable in MESSAGE_VARIABLES.get(message, ())
                if variable not in mapped
            ]
    return problems


def _linked_both_ways(
    kind: str, suffix: str, defined: dict[str, str], links: list[tuple[str, str, str]]
) -> list[Problem]:
    """Every link (file, element, id) names a defined ``kind``, and every defined one is linked."""
    problems = [
        Problem(file, element, f"{kind}-exists", f"links {kind} '{target}', but no {suffix} file defines it")
        for file, element, target in links
        if target not in defined
    ]
    linked = {target for _, _, target in links}
    problems += [
        Problem(file, target, f"{kind}-used", f"{kind} '{target}' is linked by no diagram")
        for target, file in sorted(defined.items())
        if target not in linked
    ]
    return problems


@dataclass(frozen=True)
class DiagramFacts:
    """The names a diagram shares with the code: what the constants module must agree with."""

    process_ids: frozenset[str]
    job_types: frozenset[str]
    message_names: frozenset[str]
    error_codes: frozenset[str]
    task_headers: frozenset[tuple[str, str, str]]  # (job type, header key, value)


def job_tasks(diagram: Path) -> list[tuple[str, str]]:
    """``(element id, job type)`` of every element in ``diagram`` that a job worker runs."""
    return [
        (element.get("id"), definition.get("type"))
        for element in ET.parse(diagram).getroot().iter()
        if (definition := element.find("bpmn:extensionElements/zeebe:taskDefinition", NS)) is not None
    ]


def element_names(models_dir: Path = MODELS_DIR) -> dict[tuple[str, str], str]:
    """``(process id, element id) -> name`` of every named element in ``models_dir``, on one line."""
    names = {}
    for path in sorted(models_dir.glob("*.bpmn")):
        for process in ET.parse(path).getroot().iterfind("bpmn:process", NS):
            for element in process.iter():
                if element.get("id") and element.get("name"):
                    names[(process.get("id"), element.get("id"))] = " ".join(element.get("name").split())
    return names


def diagram_facts(models_dir: Path = MODELS_DIR) -> DiagramFacts:
    """Process ids, job types, message names, error codes and headers used in ``models_dir``."""
    process_ids, job_types, messages, errors, headers = set(), set(), set(), set(), set()
    for path in sorted(models_dir.glob("*.bpmn")):
        root = ET.parse(path).getroot()
        process_ids |= {p.get("id") for p in root.iterfind("bpmn:process", NS)}
        messages |= {m.get("name") for m in root.iterfind("bpmn:message", NS)}
        errors |= {e.get("errorCode") for e in root.iterfind("bpmn:error", NS)}
        for task in root.iter():
            definition = task.find("bpmn:extensionElements/zeebe:taskDefinition", NS)
            if definition is None:
                continue
            job_type = definition.get("type")
            job_types.add(job_type)
            for header in task.iterfind("bpmn:extensionElements/zeebe:taskHeaders/zeebe:header", NS):
                headers.add((job_type, header.get("key"), header.get("value")))
    return DiagramFacts(
        frozenset(process_ids),
        frozenset(job_types),
        frozenset(messages),
        frozenset(errors),
        frozenset(headers),
    )


# FEEL's own words, and the built-in names hireflow's expressions use without a call.
FEEL_WORDS = frozenset(
    {"and", "or", "not", "null", "true", "false", "if", "then", "else", "for", "in", "return"}
    | {"some", "every", "satisfies", "between", "instance", "of", "function", "date", "time", "duration"}
)
# A name in a FEEL expression: not after a dot (a path into a value), not a function call,
# not a context key (``{key: value}``).
_FEEL_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\w)(?!\s*[(:])")
_FEEL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# FEEL's built-in functions whose names hold spaces: a call to one names no variable.
_FEEL_SPACED_CALL = re.compile(
    r"\b(?:get value|get entries|context put|context merge|string length|upper case|lower case"
    r"|starts with|ends with|list contains|index of|distinct values|is defined|day of week"
    r"|date and time|years and months duration)\s*\("
)
_FORM_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_]\w*)")
# Task headers whose value is the name of a process variable.
VARIABLE_HEADERS = frozenset({"recipientVariable", "businessIdVariable"})
# zeebe: attributes whose value is a variable name rather than an expression.
_NAME_ATTRIBUTES = {
    "output": ("target",),
    "input": ("target",),
    "loopCharacteristics": ("inputElement", "outputCollection"),
    "calledDecision": ("resultVariable",),
    "script": ("resultVariable",),
}


def feel_names(expression: str) -> set[str]:
    """The variable names a FEEL expression reads (a leading ``=`` is allowed)."""
    # Strings hold no names; a range's ".." is not a path (``[1..max_count]``).
    expression = _FEEL_STRING.sub('""', expression.removeprefix("=")).replace("..", " ")
    expression = _FEEL_SPACED_CALL.sub("call(", expression)
    bound = set(re.findall(r"\b(?:for|some|every)\s+([A-Za-z_]\w*)\s+in\b", expression))
    return {name for name in _FEEL_NAME.findall(expression) if name not in FEEL_WORDS | bound}


def _strings(value: object) -> Iterator[str]:
    """Every string in a form component's settings (``conditional.hide``...), not its children."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key != "components":
                yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _form_names(components: list[dict], where: str, names: dict[str, str]) -> None:
    for component in components:
        place = f"{where} [{component.get('id') or component.get('key')}]"
        found = {component["key"]} if component.get("key") else set()
        for value in _strings(component):
            found |= set(_FORM_TEMPLATE.findall(value))
            found |= feel_names(value) if value.startswith("=") else set()
        for name in found:
            names.setdefault(name, place)
        _form_names(component.get("components", []), where, names)


def _bpmn_names(element: ET.Element, file: str, place: str, names: dict[str, str]) -> None:
    """Add the variables ``element`` and its children name; ``place`` is the nearest element id."""
    place = f"{file} [{element.get('id')}]" if element.get("id") else place
    tag = element.tag.rpartition("}")[2]
    found = set()
    if element.tag.startswith(f"{{{NS['zeebe']}}}"):
        found |= {element.get(a) for a in _NAME_ATTRIBUTES.get(tag, ()) if element.get(a)}
        if tag == "header" and element.get("key") in VARIABLE_HEADERS:
            found.add(element.get("value"))
    for expression in (*element.attrib.values(), element.text or ""):
        if expression.strip().startswith("="):
            found |= feel_names(expression.strip())
    for name in found:
        names.setdefault(name, place)
    for child in element:
        _bpmn_names(child, file, place, names)


def variable_names(models_dir: Path = MODELS_DIR) -> dict[str, str]:
    """Every process variable the diagrams, decisions and forms in ``models_dir`` read or write,
    with the first file and element that names it.

    That is the names in FEEL expressions, the targets of input and output mappings, result
    and multi-instance element variables, headers that name a variable, decision inputs,
    and form fields with the ``{{name}}`` in their texts.
    """
    names: dict[str, str] = {}
    for path in sorted(models_dir.glob("*.bpmn")):
        _bpmn_names(ET.parse(path).getroot(), path.name, path.name, names)
    for path in sorted(models_dir.glob("*.dmn")):
        # The outputs are not variables: the calling task's result variable holds them.
        for expression in ET.parse(path).getroot().iterfind(".//dmn:inputExpression", NS):
            for name in feel_names(expression.findtext("dmn:text", "", NS)):
                names.setdefault(name, f"{path.name} [{expression.get('id')}]")
    for path in sorted(models_dir.glob("*.form")):
        _form_names(json.loads(path.read_text()).get("components", []), path.name, names)
    return names


def main() -> int:
    command_line("hireflow.model_checks", __doc__).parse_args()
    try:
        report = check_models()
    except ToolsMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
