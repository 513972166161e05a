"""``/unlocks/card/<token>``: the employer's signed link, from the payment-declined email, to save a new card.

The token names one unlock and expires with the wait for a new card (7 days). Unlock ids
derive from business keys and can be guessed, so the page is reached by the signed link
only. Following the link (GET) shows the form; saving (POST, CSRF-protected) saves the
card with the payment provider, whose webhook then continues the unlock.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.http import hireflow
from webapp.schemas import CardUpdate

bp = Blueprint("cards", __name__, url_prefix="/unlocks/card")


@bp.get("/<token>")
def card_form(token: str):
    unlock_id = hireflow().card_link_unlock(token)
    return render_template("card.html", item=hireflow().status("unlock", unlock_id), saved=False)


@bp.post("/<token>")
def save_card(token: str):
    unlock_id = hireflow().card_link_unlock(token)
    update = CardUpdate.model_validate(
        {"payment_method_ref": request.form.get("payment_method_ref", "").strip()}
    )
    hireflow().save_card(unlock_id, update)
    return render_template("card.html", item=hireflow().status("unlock", unlock_id), saved=True)
