"""``/api/unlocks``: an employer unlocks a candidate's contact details, reads the status, saves a
new card, approves a payment with their bank."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.http import accepted_response, hireflow, json_body, status_response
from webapp.schemas import CardUpdate, PaymentApproval, UnlockRequest

bp = Blueprint("unlocks", __name__, url_prefix="/api/unlocks")


@bp.post("")
def create_unlock():
    return accepted_response(hireflow().unlock(json_body(UnlockRequest)))


@bp.get("/<business_id>")
def get_unlock(business_id: str):
    return status_response("unlock", business_id)


@bp.post("/<business_id>/payment-method")
def save_card(business_id: str):
    """Save a new card for an unlock whose card was declined; the unlock then charges it."""
    update = json_body(CardUpdate)
    saved = hireflow().save_card(business_id, update)
    response = jsonify(
        {
            "status": "saved",
            # The provider may give a test card (pm_card_visa) an id of its own: the one charged.
            "payment_method_ref": saved.card,
            "on_file": saved.on_file,
            "also_for": saved.also_for,
        }
    )
    response.status_code = 202
    return response


@bp.post("/<business_id>/payment-approval")
def approve_payment(business_id: str):
    """Where the employer approves, with their bank, a card payment the bank asked them to
    approve (3-D Secure), as the emailed payment link's page does: send them to
    ``redirect_url``; the bank sends them back to ``return_url``, and the provider's
    webhook continues the unlock. ``approved`` when the bank asks nothing more of them."""
    approval = json_body(PaymentApproval)
    redirect_url = hireflow().approve_payment(business_id, approval.return_url)
    return jsonify({"status": "redirect" if redirect_url else "approved", "redirect_url": redirect_url})
