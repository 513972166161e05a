"""``/interviews/slot/<token>``: the candidate's signed link to choose an interview slot.

Following the link (GET) only shows the slot with a confirm button: mail scanners and
link previews fetch links, and must not book anything. Confirming (POST, CSRF-protected)
publishes ``interview-slot-selected`` once per link.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.http import hireflow

bp = Blueprint("slots", __name__, url_prefix="/interviews/slot")


@bp.get("/<token>")
def show_slot(token: str):
    offer = hireflow().slot_offer(token)
    return render_template("slot.html", offer=offer, token=token, outcome=None)


@bp.post("/<token>")
def choose_slot(token: str):
    offer, published = hireflow().select_slot(token)
    outcome = "chosen" if published else "booked" if offer.booked else "already-chosen"
    return render_template("slot.html", offer=offer, token=token, outcome=outcome), 202 if published else 200
