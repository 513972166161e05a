"""``/unlocks/payment/<token>``: the employer's signed link, from the payment-approval email,
to approve an unlock's card payment with their bank (3-D Secure).

The unlock charges the saved card while the employer is away; where their bank still asks
them to approve the charge, the process emails this link and waits a day. Following the
link (GET) shows the payment; approving (POST, CSRF-protected) confirms it with the
provider, which answers with its bank's page. The employer follows a link there, not a
redirect, since the pages allow forms to post to hireflow only. The bank sends them back
to ``.../return``; the provider tells hireflow the outcome by its signed webhook, which
continues the unlock. Unlock ids can be guessed, so the pages open by the signed link only.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.http import hireflow
from webapp.problems import Problem

bp = Blueprint("payments", __name__, url_prefix="/unlocks/payment")

# What the bank's redirect says of the authentication (Stripe's ``redirect_status``).
RETURN_OUTCOMES = {"succeeded": "approved", "failed": "refused"}


@bp.get("/<token>")
def payment_page(token: str):
    return _page(hireflow().payment_link_unlock(token))


@bp.post("/<token>")
def approve(token: str):
    unlock_id = hireflow().payment_link_unlock(token)
    return_url = f"{hireflow().services.payment_links.base_url}/{token}/return"
    try:
        bank_url = hireflow().approve_payment(unlock_id, return_url)
    except Problem as problem:
        if problem.status >= 500:
            raise
        # Declined, or no longer to approve: the page says why, and what happens next.
        return _page(unlock_id, error=problem.detail), problem.status
    if bank_url is None:
        return _page(unlock_id, outcome="approved")
    return _page(unlock_id, bank_url=bank_url)


@bp.get("/<token>/return")
def returned(token: str):
    """Back from the bank. The page thanks them; the webhook, not this page, moves the unlock on."""
    unlock_id = hireflow().payment_link_unlock(token)
    return _page(unlock_id, outcome=RETURN_OUTCOMES.get(request.args.get("redirect_status", ""), "unknown"))


def _page(unlock_id: str, **shown):
    item = hireflow().status("unlock", unlock_id)
    return render_template(
        "payment.html", item=item, payment=hireflow().payment_to_approve(unlock_id), **shown
    )
