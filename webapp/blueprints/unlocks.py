"""``/api/unlocks``: an employer unlocks a candidate's contact details, reads the status, saves a new card."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.http import accepted_response, hireflow, json_body, status_response
from webapp.schemas import CardUpdate, UnlockRequest

bp = Blueprint("unlocks", __name__, url_prefix="/api/unlocks")


@bp.post("")
def create_unlock():
    return accepted_response(hireflow().unlock(json_body(UnlockRequest)))


@bp.get("/<business_id>")
def get_unlock(business_id: str):
    return status_response("unlock", business_id)


@bp.post("/<business_id>/payment-method")
def save_card(business_id: str):
    """Save a new card for an unlock whose card was declined; the provider's webhook continues it."""
    update = json_body(CardUpdate)
    hireflow().save_card(business_id, update)
    response = jsonify({"status": "saved", "payment_method_ref": update.payment_method_ref})
    response.status_code = 202
    return response
