"""``/unlocks/contact/<token>``: the employer's signed link, from the unlock's receipt, to the
contact details the unlock paid for.

The token names one unlock and lives 30 days. Unlock ids derive from business keys and
can be guessed, so the page is reached by the signed link only, and says nothing more than
``GET /api/candidates/<id>/contact`` would tell the unlock's employer. The details are read
when the link is followed: a candidate erased since has none left to show.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.http import hireflow

bp = Blueprint("contacts", __name__, url_prefix="/unlocks/contact")


@bp.get("/<token>")
def contact_page(token: str):
    unlock_id = hireflow().contact_link_unlock(token)
    item = hireflow().status("unlock", unlock_id)
    return render_template("contact.html", item=item, contact=hireflow().contact_opened_by(unlock_id))
