"""The Camunda Forms of ``bpmn/`` as the console shows and checks them without Tasklist (issue 5)."""

from __future__ import annotations

import re

import pytest

from webapp.local_forms import (
    bundled_forms,
    completable,
    form_fields,
    submitted_variables,
    user_task_form_ids,
)


def test_every_user_task_form_is_one_the_console_can_show_and_complete():
    # A new field type in a form would otherwise leave the local walk-through stuck.
    forms = bundled_forms()
    linked = user_task_form_ids()
    assert set(linked.values()) == set(forms)
    for form_id in linked.values():
        assert completable(form_fields(forms[form_id], {})), form_id


def test_text_shows_variables_as_text_never_as_markup():
    form = {"components": [{"type": "text", "text": "**Skills:** {{skills}} {{missing}}"}]}
    [text] = form_fields(form, {"skills": ["python", "<script>x</script>"]})
    assert str(text.html).strip() == "<p><strong>Skills:</strong> python, &lt;script&gt;x&lt;/script&gt;</p>"


def test_markdown_in_a_variable_is_shown_as_written_not_as_a_link_or_emphasis():
    # A candidate's name comes from the upload form or their resume, and shows on a recruiter's task.
    name = "Ada [Verify your account](https://evil.example/login) ![x](https://evil.example/p.png) *hi*"
    form = {"components": [{"type": "text", "text": "**{{candidate_name}}** has not picked a slot."}]}
    [text] = form_fields(form, {"candidate_name": name + "\n# Urgent\n- pay now"})
    html = str(text.html).strip()
    assert "<a" not in html and "<img" not in html and "<em>" not in html and "<h1>" not in html
    assert html == (
        "<p><strong>Ada [Verify your account](https://evil.example/login) ![x](https://evil.example/p.png)"
        " *hi* # Urgent - pay now</strong> has not picked a slot.</p>"
    )


# What hireflow writes itself: skills come from its own list (a posting naming another is
# refused), the link from its own base URL, and a count from the model's FEEL count().
# Names, emails and notes are typed by people.
COMPOSED_BY_HIREFLOW = {"matched_skills", "missing_skills", "application_url", "offers_turned_down"}


def test_bundled_forms_put_only_what_hireflow_composes_in_markdown():
    # Tasklist (form-js) puts a variable into a text view's Markdown as it is, and then renders
    # it: a candidate named "[Verify your account](https://...)" would be a link on a
    # recruiter's task there. What people typed goes in a read-only field, shown as typed.
    for form_id, form in bundled_forms().items():
        for component in form["components"]:
            if component.get("type") == "text":
                templated = set(re.findall(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}", component["text"]))
                assert templated <= COMPOSED_BY_HIREFLOW, (form_id, component["id"], templated)


def test_a_url_variable_still_makes_the_forms_own_link():
    form = {
        "components": [{"type": "text", "text": "[Open the application in hireflow]({{application_url}})"}]
    }
    url = "http://127.0.0.1:5000/items/application/app_1-x?tab=status#top"
    [text] = form_fields(form, {"application_url": url})
    assert str(text.html).strip() == f'<p><a href="{url}">Open the application in hireflow</a></p>'


FEEDBACK = "interview-feedback"


@pytest.mark.parametrize(
    ("submitted", "variables", "errors"),
    [
        (
            {"interview_rating": "4", "interview_recommendation": "hire", "interview_notes": "clear"},
            {"interview_rating": 4, "interview_recommendation": "hire", "interview_notes": "clear"},
            {},
        ),
        (
            {"interview_rating": "9", "interview_recommendation": "hire", "interview_notes": "x"},
            None,
            {"interview_rating": "at most 5"},
        ),
        (
            {"interview_rating": "four", "interview_recommendation": "hire", "interview_notes": "x"},
            None,
            {"interview_rating": "a number"},
        ),
        # What Python's float() reads but no number input sends is not a number here.
        *(
            (
                {"interview_rating": odd, "interview_recommendation": "hire", "interview_notes": "x"},
                None,
                {"interview_rating": "a number"},
            )
            for odd in ("nan", "inf", "1_000", "\u0663", "0x3", "1e400")
        ),
        (
            # A form field may hold 500 KB. Read in one pass over the digits: a pattern that
            # could split them between two runs took 20 s for 32,000 and the square of that.
            {
                "interview_rating": "1" * 200_000 + "x",
                "interview_recommendation": "hire",
                "interview_notes": "x",
            },
            None,
            {"interview_rating": "a number"},
        ),
        (
            # The rating's decimalDigits is 0, as Tasklist checks it.
            {"interview_rating": "3.5", "interview_recommendation": "hire", "interview_notes": "x"},
            None,
            {"interview_rating": "a whole number"},
        ),
        (
            {"interview_rating": "3.0", "interview_recommendation": "hire", "interview_notes": "x"},
            {"interview_rating": 3, "interview_recommendation": "hire", "interview_notes": "x"},
            {},
        ),
        (
            {"interview_rating": "3", "interview_recommendation": "maybe", "interview_notes": "x"},
            None,
            {"interview_recommendation": "choose one of the options"},
        ),
        (
            {"interview_rating": "3", "interview_recommendation": "hire", "interview_notes": "x" * 2001},
            None,
            {"interview_notes": "at most 2000 characters"},
        ),
        (
            {},
            None,
            {
                "interview_rating": "required",
                "interview_recommendation": "required",
                "interview_notes": "required",
            },
        ),
    ],
)
def test_the_feedback_form_is_checked_as_its_validation_says(submitted, variables, errors):
    fields = form_fields(bundled_forms()[FEEDBACK], {"candidate_name": "Ada"}, submitted)
    taken, found = submitted_variables(fields, submitted)
    assert found == errors
    if variables is not None:
        assert taken == variables  # read-only fields (the candidate's name) are not sent back


@pytest.mark.parametrize(
    ("component", "submitted", "taken", "step"),
    [
        ({"type": "number", "key": "n"}, "2.25", 2.25, "any"),  # no decimalDigits: any number
        ({"type": "number", "key": "n", "decimalDigits": 2}, "2.25", 2.25, "0.01"),
        ({"type": "number", "key": "n", "decimalDigits": 1}, "2.25", "at most 1 decimal place", "0.1"),
        ({"type": "number", "key": "n", "decimalDigits": 0}, "2.50e1", 25, "1"),
    ],
)
def test_a_number_takes_the_decimal_places_its_form_allows(component, submitted, taken, step):
    [number] = form_fields({"components": [component]}, {})
    assert number.step == step  # the browser's own check agrees with the server's
    variables, errors = submitted_variables([number], {"n": submitted})
    assert (variables or errors) == {"n": taken}


@pytest.mark.parametrize(
    "component",
    [
        {"type": "datetime", "key": "start", "label": "Start"},
        # Its fields would be lost, not shown: the page does not lay out groups.
        {"type": "group", "label": "Details", "components": [{"type": "textfield", "key": "x"}]},
        {"type": "spacer"},
    ],
)
def test_a_form_with_a_component_only_tasklist_shows_cannot_be_completed_here(component):
    assert not completable(form_fields({"components": [component]}, {}))
