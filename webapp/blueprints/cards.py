"""``/unlocks/card/<token>``: the employer's signed link, from the payment-declined email, to save a new card.

The token names one unlock and expires with the wait for a new card (7 days). Unlock ids
derive from business keys and can be guessed, so the page is reached by the signed link
only. Following the link (GET) shows the form; saving (POST, CSRF-protected) saves the
card with the payment provider, and the unlock charges it.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from pydantic import ValidationError

from webapp.http import hireflow
from webapp.problems import Problem, from_validation_error
from webapp.schemas import CardUpdate

FIELD = "payment_method_ref"

bp = Blueprint("cards", __name__, url_prefix="/unlocks/card")


@bp.get("/<token>")
def card_form(token: str):
    unlock_id = hireflow().card_link_unlock(token)
    return render_template("card.html", item=hireflow().status("unlock", unlock_id), saved=False)


@bp.post("/<token>")
def save_card(token: str):
    unlock_id = hireflow().card_link_unlock(token)
    typed = request.form.get(FIELD, "").strip()
    try:
        saved = hireflow().save_card(unlock_id, CardUpdate.model_validate({FIELD: typed}))
    except ValidationError as exc:
        return _form_again(unlock_id, typed, from_validation_error(exc))
    except Problem as problem:
        if problem.status == 409:
            # Over already (paid with the card saved a moment ago, as a resent form finds it,
            # or cancelled): the page says so.
            item = hireflow().status("unlock", unlock_id)
            if item["final"]:
                return render_template("card.html", item=item, saved=False), problem.status
        if not any(p["name"] == FIELD for p in problem.extensions.get("invalid_params", [])):
            raise
        return _form_again(unlock_id, typed, problem)
    item = hireflow().status("unlock", unlock_id)
    return render_template("card.html", item=item, saved=saved)


def _form_again(unlock_id: str, typed: str, problem: Problem):
    """The form again, with what the employer typed and why it was refused, so they can try another card."""
    reason = next(p["reason"] for p in problem.extensions["invalid_params"] if p["name"] == FIELD)
    item = hireflow().status("unlock", unlock_id)
    return render_template("card.html", item=item, saved=False, typed=typed, error=reason), problem.status
