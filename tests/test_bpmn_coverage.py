"""The BPMN coverage report's counting rules (issue 6).

The figures themselves come from the engine at the end of the process tests (see
``_report_bpmn_coverage`` in conftest.py); these tests pin down how visits are counted.
"""

from __future__ import annotations

import json

from hireflow import bpmn_coverage
from hireflow.constants import ProcessId
from tests.conftest import MODELS_DIR

UNLOCK = MODELS_DIR / "resume-unlock.bpmn"


class History:
    """What an engine's history would say: visited nodes and taken flows per process id."""

    def __init__(self, nodes: set[str], flows: set[str]):
        self.nodes, self.flows = nodes, flows

    def visited_flow_nodes(self, process_id: str) -> set[str]:
        return set(self.nodes)

    def taken_sequence_flows(self, process_id: str) -> set[str]:
        return set(self.flows)


def test_every_executable_process_in_bpmn_is_read_with_its_nodes_and_flows():
    models = bpmn_coverage.read_models(sorted(MODELS_DIR.glob("*.bpmn")))
    assert {m.process_id for m in models} == {
        ProcessId.RESUME_UPLOAD,
        ProcessId.RESUME_SUBMISSION,
        ProcessId.RESUME_UNLOCK,
        ProcessId.INTERVIEW_SCHEDULING,
    }
    [unlock] = [m for m in models if m.process_id == ProcessId.RESUME_UNLOCK]
    kinds = {node.kind for node in unlock.flow_nodes}
    assert {"startEvent", "serviceTask", "receiveTask", "boundaryEvent", "endEvent"} <= kinds
    assert len(unlock.sequence_flows) == len(set(unlock.sequence_flows)) > 20


def test_nothing_visited_is_zero_percent_and_everything_is_listed():
    [model] = bpmn_coverage.read_models([UNLOCK])
    [coverage] = bpmn_coverage.measure([model], History(set(), set()))
    assert coverage.node_percent == 0.0 and coverage.flow_percent == 0.0
    assert [n.id for n in coverage.unvisited_nodes] == [n.id for n in model.flow_nodes]


def test_a_compensation_boundary_event_counts_when_its_handler_ran():
    [model] = bpmn_coverage.read_models([UNLOCK])
    assert model.compensation_handlers  # the unlock model refunds by compensation
    boundary, handler = next(iter(model.compensation_handlers.items()))
    [coverage] = bpmn_coverage.measure([model], History({handler}, set()))
    assert {boundary, handler} <= coverage.visited_nodes


# None of our processes waits at an event-based gateway today; an analyst may draw one.
EVENT_GATEWAY_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Definitions_waits">
  <bpmn:process id="waits" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:eventBasedGateway id="Await" />
    <bpmn:intermediateCatchEvent id="Answered" />
    <bpmn:intermediateCatchEvent id="TimedOut" />
    <bpmn:sequenceFlow id="Flow_Start_to_Await" sourceRef="Start" targetRef="Await" />
    <bpmn:sequenceFlow id="Flow_Await_to_Answered" sourceRef="Await" targetRef="Answered" />
    <bpmn:sequenceFlow id="Flow_Await_to_TimedOut" sourceRef="Await" targetRef="TimedOut" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_flow_out_of_an_event_based_gateway_counts_when_its_event_fired(tmp_path):
    # The engine records no "sequence flow taken" there: it activates the event directly.
    diagram = tmp_path / "waits.bpmn"
    diagram.write_text(EVENT_GATEWAY_MODEL)
    [model] = bpmn_coverage.read_models([diagram])
    assert model.flows_into_events == {
        "Flow_Await_to_Answered": "Answered",
        "Flow_Await_to_TimedOut": "TimedOut",
    }
    visited = History({"Start", "Await", "Answered"}, {"Flow_Start_to_Await"})
    [coverage] = bpmn_coverage.measure([model], visited)
    assert "Flow_Await_to_Answered" in coverage.taken_flows
    assert "Flow_Await_to_Answered" not in coverage.untaken_flows
    assert "Flow_Await_to_TimedOut" in coverage.untaken_flows


def test_the_report_names_what_is_missing_and_full_coverage_says_so(tmp_path):
    [model] = bpmn_coverage.read_models([UNLOCK])
    every_node = {n.id for n in model.flow_nodes}
    full = bpmn_coverage.measure([model], History(every_node, set(model.sequence_flows)))
    missing_one = bpmn_coverage.measure([model], History(every_node - {"NoNewCard"}, set()))

    assert full[0].node_percent == 100.0 and full[0].flow_percent == 100.0
    assert "Every flow node was visited." in bpmn_coverage.markdown(full)
    [line, gaps] = bpmn_coverage.summary_lines(missing_one)
    nodes = len(model.flow_nodes)
    assert line.startswith(ProcessId.RESUME_UNLOCK) and f"({nodes - 1}/{nodes})" in line
    assert gaps.strip() == "not visited: 7 days without a new card (NoNewCard)"

    page, problem = bpmn_coverage.write_report(missing_one, tmp_path, render_images=False)
    assert problem is None and "NoNewCard" in page.read_text()
    [figures] = json.loads((tmp_path / "coverage.json").read_text())
    assert figures["flowNodes"] == {
        "total": nodes,
        "visited": nodes - 1,
        "percent": round(100 * (nodes - 1) / nodes, 1),
        "unvisited": ["NoNewCard"],
    }
