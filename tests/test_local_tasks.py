"""The embedded engine's user tasks as the webapp shows them, on a double of the engine's API."""

from __future__ import annotations

from types import SimpleNamespace

from webapp.local_forms import bundled_forms, user_task_form_ids
from webapp.local_tasks import LocalTasks, PersonsTask

INSTANCE, TASK_SCOPE = "2251799813685200", "2251799813685300"


def test_a_variable_nested_too_deep_to_read_is_shown_as_its_text():
    # Set by hand (the engine takes 1000 levels; Python's reader gives up a little short of
    # that): the task's page answered 500, so nobody could screen the application.
    deep = "[" * 995 + '"python"' + "]" * 995
    form_id = user_task_form_ids()[("resume-submission", "ScreenApplication")]
    engine = SimpleNamespace(
        get_user_task_form=lambda key: {"schema": bundled_forms()[form_id]},
        search_variables=lambda **filter_: [
            {"name": "candidate_name", "value": '"Ada Lovelace"', "scopeKey": INSTANCE},
            {"name": "matched_skills", "value": deep, "scopeKey": INSTANCE},
        ],
    )
    tasks = LocalTasks(SimpleNamespace(gateway=SimpleNamespace(client=engine)))
    task = PersonsTask(
        key="2251799813685100",
        element_id="ScreenApplication",
        element_instance_key=TASK_SCOPE,
        name="Screen the application",
        process_instance_key=INSTANCE,
        process_id="resume-submission",
        item=None,
        form_id=form_id,
        candidate_groups=["recruiters"],
        assignee=None,
    )

    shown = {field.key: field for field in tasks.fields(task)}

    assert shown["candidate_name"].value == "Ada Lovelace"
    assert shown["screening_decision"].required  # the decision can still be made
