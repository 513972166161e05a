"""The constants module, the workers and the diagrams in bpmn/ name the same things."""

import xml.etree.ElementTree as ET
from pathlib import Path

from hireflow.adapters.email import TEMPLATES_DIR
from hireflow.constants import ErrorCode, Header, JobType, Message, ProcessId
from hireflow.model_checks import MODELS_DIR, NS, diagram_facts
from hireflow.store import Database
from job_workers.services import Services
from job_workers.worker import ROUTER_BUILDERS

FACTS = diagram_facts()


def values(holder: type) -> set[str]:
    return {v for k, v in vars(holder).items() if not k.startswith("_") and isinstance(v, str)}


def registered_job_types(tmp_path: Path) -> list[str]:
    services = Services(files=None, db=Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    return [task.type for build in ROUTER_BUILDERS for task in build(services).tasks]


def test_process_ids_match_the_diagrams():
    assert values(ProcessId) == FACTS.process_ids


def test_every_job_type_in_a_model_has_a_worker_and_every_worker_is_used(tmp_path):
    registered = registered_job_types(tmp_path)
    assert len(registered) == len(set(registered)), "a job type is registered twice"
    assert set(registered) == values(JobType)
    assert FACTS.job_types - set(registered) == set(), "job types in bpmn/ without a worker"
    assert set(registered) - FACTS.job_types == set(), "workers whose job type no model uses"


def test_message_names_and_error_codes_match_the_diagrams():
    assert values(Message) == FACTS.message_names
    assert values(ErrorCode) == FACTS.error_codes


def test_every_email_template_a_model_names_exists():
    named = {value for _, key, value in FACTS.task_headers if key == Header.EMAIL_TEMPLATE}
    missing = {name for name in named if not (TEMPLATES_DIR / f"{name}.txt").exists()}
    assert named and not missing


def test_every_record_step_says_which_outcome_it_records():
    record_types = {
        JobType.RECORD_APPLICATION_OUTCOME,
        JobType.RECORD_UNLOCK_OUTCOME,
        JobType.RECORD_INTERVIEW_OUTCOME,
    }
    with_outcome = {job_type for job_type, key, _ in FACTS.task_headers if key == Header.OUTCOME}
    assert record_types <= with_outcome


def test_email_tasks_carry_all_their_headers():
    needed = {Header.EMAIL_TEMPLATE, Header.EMAIL_RECIPIENT_VARIABLE, Header.EMAIL_BUSINESS_ID_VARIABLE}
    for path in MODELS_DIR.glob("*.bpmn"):
        for task in ET.parse(path).getroot().iter(f"{{{NS['bpmn']}}}serviceTask"):
            definition = task.find("bpmn:extensionElements/zeebe:taskDefinition", NS)
            if definition is None or definition.get("type") != JobType.SEND_EMAIL:
                continue
            keys = {
                h.get("key")
                for h in task.iterfind("bpmn:extensionElements/zeebe:taskHeaders/zeebe:header", NS)
            }
            assert needed <= keys, f"{path.name} {task.get('id')} lacks {needed - keys}"
