"""bpmn/ passes the checks Camunda Modeler runs, and a broken model fails them by name."""

import shutil
from pathlib import Path

import pytest

from hireflow.model_checks import MODELS_DIR, check_models


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """A scratch copy of bpmn/ (with element templates) that a test may break."""
    target = tmp_path / "bpmn"
    shutil.copytree(MODELS_DIR, target)
    return target


def test_every_model_passes_every_check():
    report = check_models()
    assert report.ok, report.summary()
    names = set(report.checked_files)
    assert {
        "resume-upload.bpmn",
        "resume-submission.bpmn",
        "resume-unlock.bpmn",
        "interview-scheduling.bpmn",
    } <= names
    assert {"application-routing.dmn", "unlock-pricing.dmn"} <= names
    assert len([n for n in names if n.startswith(".camunda/element-templates/")]) == 4


def test_a_service_task_without_a_job_type_fails_by_name(models_copy: Path):
    diagram = models_copy / "resume-upload.bpmn"
    diagram.write_text(
        diagram.read_text().replace('<zeebe:taskDefinition type="resume.extract-text" retries="5" />', "")
    )
    report = check_models(models_copy)
    messages = [str(p) for p in report.problems if p.element == "ReadResumeText"]
    assert any("Task definition type" in m for m in messages), report.summary()


def test_a_diagram_without_its_execution_platform_fails(models_copy: Path):
    diagram = models_copy / "resume-unlock.bpmn"
    diagram.write_text(diagram.read_text().replace(' modeler:executionPlatformVersion="8.9.0"', ""))
    report = check_models(models_copy)
    assert any(
        p.rule == "hireflow/execution-platform" and p.file == "resume-unlock.bpmn" for p in report.problems
    )


def test_a_diagram_without_layout_for_an_element_fails(models_copy: Path):
    diagram = models_copy / "resume-upload.bpmn"
    text = diagram.read_text()
    start = text.index('<bpmndi:BPMNShape id="IndexCandidate_di"')
    end = text.index("</bpmndi:BPMNShape>", start) + len("</bpmndi:BPMNShape>")
    diagram.write_text(text[:start] + text[end:])
    report = check_models(models_copy)
    assert any(p.element == "IndexCandidate" and "layout" in p.message for p in report.problems), (
        report.summary()
    )


def test_forms_must_be_linked_and_exist(models_copy: Path):
    (models_copy / "follow-up-interview.form").unlink()
    extra = (
        (models_copy / "interview-feedback.form").read_text().replace('"interview-feedback"', '"unused-form"')
    )
    (models_copy / "unused-form.form").write_text(extra)
    report = check_models(models_copy)
    rules = {(p.rule, p.element) for p in report.problems}
    assert ("form-exists", "FollowUpWithCandidate") in rules, report.summary()
    assert ("form-used", "unused-form") in rules, report.summary()


def test_an_unknown_form_component_fails_the_structural_import(models_copy: Path):
    form = models_copy / "screen-application.form"
    form.write_text(form.read_text().replace('"type": "radio"', '"type": "fancy-radio"', 1))
    report = check_models(models_copy)
    assert any(p.file == "screen-application.form" and "fancy-radio" in p.message for p in report.problems)


def test_an_invalid_element_template_fails(models_copy: Path):
    template = models_copy / ".camunda" / "element-templates" / "send-email.json"
    template.write_text(template.read_text().replace('"type": "String"', '"type": "Strng"', 1))
    report = check_models(models_copy)
    assert any(p.file.endswith("send-email.json") for p in report.problems), report.summary()


def test_a_called_decision_must_exist(models_copy: Path):
    (models_copy / "unlock-pricing.dmn").unlink()
    report = check_models(models_copy)
    assert any(p.rule == "decision-exists" and p.element == "PriceUnlock" for p in report.problems)


def test_a_message_event_that_maps_outputs_must_map_the_messages_variables(models_copy: Path):
    # With output mappings, the engine merges only what they map: the notices of a move would
    # no longer read who asked (move_request), and nothing would say so until a reader noticed.
    diagram = models_copy / "interview-scheduling.bpmn"
    kept = '<zeebe:output source="=move_request" target="move_request" />'
    assert kept in diagram.read_text()
    diagram.write_text(diagram.read_text().replace(kept, ""))
    report = check_models(models_copy)
    [problem] = [p for p in report.problems if p.rule == "message-variables-mapped"]
    assert problem.element == "RescheduleRequested" and "'=move_request'" in problem.message


def test_every_business_errors_variables_reach_the_process(tmp_path):
    """A BPMN error's variables land on its catch event only; without an output mapping
    there, the steps after it (the re-upload email, the update-your-card email) never see them."""
    from xml.etree import ElementTree

    from hireflow.adapters.payments import PaymentDeclined
    from hireflow.credits import InsufficientCredits
    from hireflow.resume_intake import InvalidResume

    examples = [
        InvalidResume("corrupt"),
        PaymentDeclined("declined", decline_code="generic_decline", payment_id="pi_1"),
        InsufficientCredits("emp_1", balance=1, amount=2),
    ]
    ns = {
        "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
        "zeebe": "http://camunda.org/schema/zeebe/1.0",
    }
    checked = 0
    for model in sorted(MODELS_DIR.glob("*.bpmn")):
        root = ElementTree.parse(model).getroot()
        codes = {e.get("id"): e.get("errorCode") for e in root.iter(f"{{{ns['bpmn']}}}error")}
        for event in root.iter():
            definition = event.find("bpmn:errorEventDefinition", ns)
            if definition is None or event.tag.endswith("endEvent"):
                continue
            for outcome in examples:
                if codes.get(definition.get("errorRef")) != outcome.error_code:
                    continue
                mapped = {o.get("target") for o in event.iterfind(".//zeebe:output", ns)}
                missing = set(outcome.variables()) - mapped
                assert not missing, f"{model.name}: {event.get('id')} drops {sorted(missing)}"
                checked += 1
    assert checked >= 4  # the two resume checks, the card charge, the credits
