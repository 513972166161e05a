"""The benchmark's processes: a start event, ``n`` service tasks of one type, an end event.

Generated with their diagram, so each opens in Camunda Modeler like the product's models.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

JOB_TYPE = "bench.noop"


def process_id(tasks: int) -> str:
    return f"bench-{tasks}-tasks"


def bench_process(tasks: int, *, job_type: str = JOB_TYPE, pid: str | None = None) -> bytes:
    """BPMN 2.0 XML for a straight line of ``tasks`` service tasks (0 for the engine's ceiling).

    Tests reuse it with a job type and process id of their own.
    """
    pid = pid or process_id(tasks)
    nodes = [("Start", "startEvent", None)]
    nodes += [(f"Task{i}", "serviceTask", f"Do nothing {i}") for i in range(1, tasks + 1)]
    nodes += [("End", "endEvent", None)]
    flows = [(f"Flow{i}", nodes[i][0], nodes[i + 1][0]) for i in range(len(nodes) - 1)]
    elements, shapes, edges = [], [], []
    x = 150
    positions = {}
    for node_id, kind, name in nodes:
        incoming = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f, _, t in flows if t == node_id)
        outgoing = "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f, s, _ in flows if s == node_id)
        name_attr = f" name={quoteattr(name)}" if name else ""
        extension = (
            f'<bpmn:extensionElements><zeebe:taskDefinition type="{job_type}" retries="3" />'
            "</bpmn:extensionElements>"
            if kind == "serviceTask"
            else ""
        )
        elements.append(
            f'<bpmn:{kind} id="{node_id}"{name_attr}>{extension}{incoming}{outgoing}</bpmn:{kind}>'
        )
        width, height = (100, 80) if kind == "serviceTask" else (36, 36)
        y = 100 if kind == "serviceTask" else 122
        positions[node_id] = (x, y, width, height)
        shapes.append(
            f'<bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}">'
            f'<dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}" /></bpmndi:BPMNShape>'
        )
        x += width + 50
    for flow_id, source, target in flows:
        sx, sy, sw, sh = positions[source]
        tx, ty, _, th = positions[target]
        elements.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />')
        edges.append(
            f'<bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}">'
            f'<di:waypoint x="{sx + sw}" y="{sy + sh // 2}" /><di:waypoint x="{tx}" y="{ty + th // 2}" />'
            "</bpmndi:BPMNEdge>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
        'xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="BenchDefinitions" '
        'targetNamespace="http://bpmn.io/schema/bpmn" exporter="hireflow bench" exporterVersion="1" '
        'modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.8.0">'
        f'<bpmn:process id="{pid}" name="Benchmark: {tasks} task(s)" isExecutable="true">'
        + "".join(elements)
        + "</bpmn:process>"
        f'<bpmndi:BPMNDiagram id="Diagram"><bpmndi:BPMNPlane id="Plane" bpmnElement="{pid}">'
        + "".join(shapes + edges)
        + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>\n"
    ).encode()


def bench_resources(task_counts: tuple[int, ...] = (0, 1, 5)) -> list[tuple[str, bytes]]:
    """(file name, XML) for each benchmark process, ready for one deployment."""
    return [(f"{process_id(n)}.bpmn", bench_process(n)) for n in task_counts]
