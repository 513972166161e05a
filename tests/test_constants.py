"""The constants module, the workers and the diagrams in bpmn/ name the same things."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2.meta

from hireflow.adapters.email import TEMPLATES_DIR, EmailTemplates
from hireflow.constants import ErrorCode, Header, JobType, Message, OfferReason, ProcessId, Var
from hireflow.model_checks import MODELS_DIR, NS, diagram_facts, feel_names, variable_names
from hireflow.store import Database
from job_workers.interview import (
    CANCELLATION_TEMPLATE,
    INVITATION_TEMPLATE,
    OTHER_TIMES_BY_RECRUITER,
    OTHER_TIMES_LINK,
    SLOT_LINKS,
    TAKEN_SLOT_START,
    WHO_ASKED_TO_MOVE,
)
from job_workers.notifications import TEMPLATE_EXTRAS
from job_workers.services import Services
from job_workers.worker import ROUTER_BUILDERS
from webapp import schemas

FACTS = diagram_facts()


def values(holder: type) -> set[str]:
    return {v for k, v in vars(holder).items() if not k.startswith("_") and isinstance(v, str)}


def registered_tasks(tmp_path: Path) -> list:
    services = Services(files=None, db=Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    return [task for build in ROUTER_BUILDERS for task in build(services).tasks]


def registered_job_types(tmp_path: Path) -> list[str]:
    return [task.type for task in registered_tasks(tmp_path)]


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


# The request bodies whose fields the webapp starts instances or publishes messages with.
STARTED_WITH = {
    schemas.ResumeFields: set(),
    schemas.ApplicationRequest: set(),
    schemas.UnlockRequest: set(),
    schemas.InterviewRequest: {"round"},  # part of the business key, not a variable
    schemas.CardUpdate: set(),
}


def test_every_variable_name_in_use_is_in_the_constants_module_and_no_other(tmp_path):
    fetched = {name for task in registered_tasks(tmp_path) for name in task.config.variables_to_fetch or ()}
    templates = EmailTemplates().env
    in_templates = (
        {
            name
            for path in TEMPLATES_DIR.glob("*.txt")
            for name in jinja2.meta.find_undeclared_variables(templates.parse(path.read_text()))
        }
        - TEMPLATE_EXTRAS
        - {SLOT_LINKS, OTHER_TIMES_LINK, OTHER_TIMES_BY_RECRUITER, TAKEN_SLOT_START}
        - WHO_ASKED_TO_MOVE
    )
    started = {name for body, left_out in STARTED_WITH.items() for name in set(body.model_fields) - left_out}
    in_models = variable_names()

    listed = values(Var)
    unlisted = {name: where for name, where in in_models.items() if name not in listed}
    assert unlisted == {}, "variables bpmn/ names that hireflow.constants.Var lacks (a typo?)"
    assert fetched - listed == set(), "task parameters that hireflow.constants.Var lacks"
    assert in_templates - listed == set(), "email template variables that hireflow.constants.Var lacks"
    assert started - listed == set(), "start variables that hireflow.constants.Var lacks"
    assert listed - (set(in_models) | fetched | in_templates | started) == set(), "names in Var nothing uses"


def test_variable_names_are_read_from_feel_as_the_engine_reads_them():
    assert feel_names('=date and time(interview_start) - duration("PT24H")') == {"interview_start"}
    assert feel_names("={panelist: panelist.username, rating: interview_rating}") == {
        "panelist",
        "interview_rating",
    }
    assert feel_names('=route = "forward"') == {"route"}
    assert feel_names("if years_of_experience = null then 0 else years_of_experience") == {
        "years_of_experience"
    }
    assert feel_names("=for p in panel return p.email") == {"panel"}
    assert feel_names("=some x in [1..max_rounds] satisfies x > round") == {"max_rounds", "round"}
    # A built-in function whose name holds spaces is a call, not a variable "get".
    assert feel_names("=get value(starts, panelist.username)") == {"starts", "panelist"}


def test_a_form_names_variables_in_its_fields_texts_and_conditions(tmp_path):
    form = {
        "components": [
            {"type": "textfield", "id": "Field_note", "key": "screening_note"},
            {
                "type": "group",
                "components": [{"type": "text", "id": "Text_hi", "text": "Hi {{ candidate_name }}"}],
            },
            {"type": "text", "id": "Text_more", "conditional": {"hide": '=route = "forward"'}},
        ]
    }
    (tmp_path / "screening.form").write_text(json.dumps(form))
    assert variable_names(tmp_path) == {
        "screening_note": "screening.form [Field_note]",
        "candidate_name": "screening.form [Text_hi]",
        "route": "screening.form [Text_more]",
    }


def test_the_send_email_element_template_offers_what_a_send_email_task_can_use():
    """The Modeler's "Send an email" template offers dropdowns; they must list what exists."""
    template = json.loads((MODELS_DIR / ".camunda" / "element-templates" / "send-email.json").read_text())
    offered = {
        prop["binding"]["key"]: {choice["value"] for choice in prop["choices"]}
        for prop in template["properties"]
        if prop["type"] == "Dropdown" and prop["binding"]["type"] == "zeebe:taskHeader"
    }
    # The interview workers send these themselves: they need values only those workers have.
    sent_by_interview_workers = {INVITATION_TEMPLATE, CANCELLATION_TEMPLATE} | {
        value
        for job_type, key, value in FACTS.task_headers
        if job_type in (JobType.EMAIL_SLOT_LINKS, JobType.SEND_INTERVIEW_INVITATION)
        and key == Header.EMAIL_TEMPLATE
    }
    template_files = {path.stem for path in TEMPLATES_DIR.glob("*.txt")}
    assert offered[Header.EMAIL_TEMPLATE] == template_files - sent_by_interview_workers
    addresses = {name for name in values(Var) if name.endswith("_email")}
    assert offered[Header.EMAIL_RECIPIENT_VARIABLE] == addresses
    assert offered[Header.EMAIL_BUSINESS_ID_VARIABLE] <= values(Var)
    used = {(key, value) for job_type, key, value in FACTS.task_headers if job_type == JobType.SEND_EMAIL}
    assert {(key, value) for key, value in used if key in offered and value not in offered[key]} == set()


def test_each_element_template_names_the_variables_its_task_reads(tmp_path):
    """An analyst placing a templated task must know which variables the process needs."""
    fetched = {task.type: task.config.variables_to_fetch or [] for task in registered_tasks(tmp_path)}
    for path in sorted((MODELS_DIR / ".camunda" / "element-templates").glob("*.json")):
        template = json.loads(path.read_text())
        job_type = next(
            prop["value"]
            for prop in template["properties"]
            if prop["binding"] == {"type": "zeebe:taskDefinition", "property": "type"}
        )
        unnamed = [name for name in fetched[job_type] if name not in template["description"]]
        assert unnamed == [], f"{path.name}: its description does not name {unnamed}"


def test_every_reason_the_model_gives_for_a_new_offer_is_an_offer_reason_and_each_is_given():
    # The email of new times says why by these words; a typo in the Modeler would give the
    # plain "new times" email without anyone noticing.
    diagram = ET.parse(MODELS_DIR / "interview-scheduling.bpmn").getroot()
    given = {
        output.get("source").removeprefix("=").strip('"')
        for output in diagram.iter(f"{{{NS['zeebe']}}}output")
        if output.get("target") == Var.NEW_OFFER_REASON
    }
    assert given == values(OfferReason)
