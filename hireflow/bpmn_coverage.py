"""BPMN coverage: which flow nodes and sequence flows of each diagram a run visited.

The visits are read from the engine's own history (element instances and taken sequence
flows), never from the tests' assumptions. The report gives a percentage per process,
lists what was not visited, and can mark it on the rendered diagram, so an analyst sees
at a glance which paths no test walks. ``make test`` writes it to ``build/coverage/``
and prints the summary at the end of the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from xml.etree import ElementTree

from hireflow.model_checks import NS

BPMN_NS = NS["bpmn"]

# Every BPMN element the engine creates an element instance for.
FLOW_NODE_TAGS = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "serviceTask",
        "userTask",
        "sendTask",
        "receiveTask",
        "scriptTask",
        "businessRuleTask",
        "manualTask",
        "callActivity",
        "subProcess",
        "adHocSubProcess",
        "transaction",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)


@dataclass(frozen=True)
class FlowNode:
    """One flow node of a diagram, as an analyst names it."""

    id: str
    kind: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id


@dataclass(frozen=True)
class ProcessModel:
    """The flow nodes and sequence flows of one executable process."""

    process_id: str
    diagram: Path
    flow_nodes: tuple[FlowNode, ...]
    sequence_flows: tuple[str, ...]
    # A compensation boundary event has no instance of its own: the engine activates its
    # handler directly. It counts as visited when its handler was (boundary id -> handler id).
    compensation_handlers: Mapping[str, str] = field(default_factory=dict)
    # The engine records no "taken" for a flow leaving an event-based gateway: it activates
    # the event that fired. Such a flow counts as taken when its event was visited
    # (flow id -> event id).
    flows_into_events: Mapping[str, str] = field(default_factory=dict)


def read_models(diagrams: Iterable[Path]) -> list[ProcessModel]:
    """The executable processes of ``diagrams``, in file order."""
    models = []
    for diagram in diagrams:
        tree = ElementTree.parse(diagram)  # our own files, read as the Modeler wrote them
        for process in tree.iter(f"{{{BPMN_NS}}}process"):
            if process.get("isExecutable") == "false":
                continue
            nodes, flows = [], []
            event_gateways, flow_ends = set(), {}
            for element in process.iter():
                tag = element.tag.removeprefix(f"{{{BPMN_NS}}}")
                if tag in FLOW_NODE_TAGS:
                    nodes.append(FlowNode(element.get("id"), tag, (element.get("name") or "").strip()))
                    if tag == "eventBasedGateway":
                        event_gateways.add(element.get("id"))
                elif tag == "sequenceFlow":
                    flows.append(element.get("id"))
                    flow_ends[element.get("id")] = (element.get("sourceRef"), element.get("targetRef"))
            models.append(
                ProcessModel(
                    process_id=process.get("id"),
                    diagram=diagram,
                    flow_nodes=tuple(nodes),
                    sequence_flows=tuple(flows),
                    compensation_handlers=_compensation_handlers(process),
                    flows_into_events={
                        flow: target
                        for flow, (source, target) in flow_ends.items()
                        if source in event_gateways
                    },
                )
            )
    return models


def _compensation_handlers(process) -> dict[str, str]:
    boundaries = {
        event.get("id")
        for event in process.iter(f"{{{BPMN_NS}}}boundaryEvent")
        if event.find(f"{{{BPMN_NS}}}compensateEventDefinition") is not None
    }
    return {
        association.get("sourceRef"): association.get("targetRef")
        for association in process.iter(f"{{{BPMN_NS}}}association")
        if association.get("sourceRef") in boundaries
    }


class VisitSource(Protocol):
    """Where the visits come from: the engine's history for one process id (every version)."""

    def visited_flow_nodes(self, process_id: str) -> set[str]: ...

    def taken_sequence_flows(self, process_id: str) -> set[str]: ...


@dataclass(frozen=True)
class ProcessCoverage:
    """How much of one process a run visited."""

    model: ProcessModel
    visited_nodes: frozenset[str]
    taken_flows: frozenset[str]

    @property
    def unvisited_nodes(self) -> list[FlowNode]:
        return [node for node in self.model.flow_nodes if node.id not in self.visited_nodes]

    @property
    def untaken_flows(self) -> list[str]:
        return [flow for flow in self.model.sequence_flows if flow not in self.taken_flows]

    @property
    def node_percent(self) -> float:
        return _percent(len(self.model.flow_nodes) - len(self.unvisited_nodes), len(self.model.flow_nodes))

    @property
    def flow_percent(self) -> float:
        total = len(self.model.sequence_flows)
        return _percent(total - len(self.untaken_flows), total)

    @property
    def node_figures(self) -> str:
        """``92.3% (24/26)``: visited flow nodes."""
        total = len(self.model.flow_nodes)
        return f"{self.node_percent:5.1f}% ({total - len(self.unvisited_nodes)}/{total})"

    @property
    def flow_figures(self) -> str:
        """``88.5% (23/26)``: taken sequence flows."""
        total = len(self.model.sequence_flows)
        return f"{self.flow_percent:5.1f}% ({total - len(self.untaken_flows)}/{total})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "processId": self.model.process_id,
            "diagram": self.model.diagram.name,
            "flowNodes": {
                "total": len(self.model.flow_nodes),
                "visited": len(self.model.flow_nodes) - len(self.unvisited_nodes),
                "percent": round(self.node_percent, 1),
                "unvisited": [node.id for node in self.unvisited_nodes],
            },
            "sequenceFlows": {
                "total": len(self.model.sequence_flows),
                "taken": len(self.model.sequence_flows) - len(self.untaken_flows),
                "percent": round(self.flow_percent, 1),
                "untaken": self.untaken_flows,
            },
        }


def _percent(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole


def measure(models: Iterable[ProcessModel], source: VisitSource) -> list[ProcessCoverage]:
    """The coverage of each model, from what ``source`` says the engine did."""
    report = []
    for model in models:
        ids = {node.id for node in model.flow_nodes}
        visited = source.visited_flow_nodes(model.process_id) & ids
        for boundary, handler in model.compensation_handlers.items():
            if handler in visited:
                visited.add(boundary)
        taken = source.taken_sequence_flows(model.process_id) & set(model.sequence_flows)
        taken |= {flow for flow, event in model.flows_into_events.items() if event in visited}
        report.append(ProcessCoverage(model, frozenset(visited), frozenset(taken)))
    return report


def summary_lines(report: Iterable[ProcessCoverage]) -> list[str]:
    """One line per process, then what was not visited: for the end of a test run."""
    lines = []
    for coverage in report:
        lines.append(
            f"{coverage.model.process_id:<22} flow nodes {coverage.node_figures}   "
            f"sequence flows {coverage.flow_figures}"
        )
        if coverage.unvisited_nodes:
            lines.append("    not visited: " + _labels(coverage.unvisited_nodes))
    return lines


def _labels(nodes: Iterable[FlowNode]) -> str:
    return ", ".join(node.label for node in nodes)


def markdown(report: Iterable[ProcessCoverage], images: Mapping[str, Path] | None = None) -> str:
    """The report as a Markdown page: a table, then each process's gaps and picture."""
    report = list(report)
    out = [
        "# BPMN coverage",
        "",
        "Read from the engine's element-instance history after the process tests.",
        "",
        "| process | flow nodes | sequence flows |",
        "| --- | --- | --- |",
    ]
    for coverage in report:
        out.append(f"| {coverage.model.process_id} | {coverage.node_figures} | {coverage.flow_figures} |")
    for coverage in report:
        out += ["", f"## {coverage.model.process_id}", ""]
        if coverage.unvisited_nodes:
            out.append(f"Flow nodes not visited: {_labels(coverage.unvisited_nodes)}.")
        else:
            out.append("Every flow node was visited.")
        if coverage.untaken_flows:
            out.append("")
            out.append("Sequence flows not taken: " + ", ".join(coverage.untaken_flows) + ".")
        if images and coverage.model.process_id in images:
            out += ["", f"![{coverage.model.process_id}]({images[coverage.model.process_id].name})"]
    return "\n".join(out) + "\n"


def write_report(
    report: list[ProcessCoverage], out_dir: Path, *, render_images: bool = True
) -> tuple[Path, str | None]:
    """Write ``coverage.json``, ``coverage.md`` and (if it can) one marked PNG per process.

    Returns the Markdown path and, when the pictures could not be drawn, why not: a missing
    browser must not lose the figures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "coverage.json").write_text(
        json.dumps([coverage.as_dict() for coverage in report], indent=2) + "\n", encoding="utf-8"
    )
    images: dict[str, Path] = {}
    problem = None
    if render_images:
        try:
            images = render_marked(report, out_dir)
        except Exception as exc:  # noqa: BLE001 - the figures matter more than the pictures
            problem = f"{type(exc).__name__}: {exc}"
    page = out_dir / "coverage.md"
    page.write_text(markdown(report, images), encoding="utf-8")
    return page, problem


def render_marked(report: list[ProcessCoverage], out_dir: Path) -> dict[str, Path]:
    """Draw each diagram with visited elements in green and unvisited ones in red."""
    from hireflow.render_diagrams import render  # needs playwright and bpmn-js: import late

    marks: dict[Path, dict[str, str]] = {}
    for coverage in report:
        diagram_marks = marks.setdefault(coverage.model.diagram, {})
        for node in coverage.model.flow_nodes:
            diagram_marks[node.id] = "visited" if node.id in coverage.visited_nodes else "unvisited"
        for flow in coverage.model.sequence_flows:
            diagram_marks[flow] = "visited" if flow in coverage.taken_flows else "unvisited"
    drawn = render(list(marks), out_dir, marks=marks)
    by_diagram = dict(zip(marks, drawn, strict=True))
    return {coverage.model.process_id: by_diagram[coverage.model.diagram] for coverage in report}
