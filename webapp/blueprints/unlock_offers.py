"""``/applications/unlock/<token>``: the employer's signed link, from the email that a candidate
was shortlisted for their posting, to unlock that candidate's contact details.

The token names one application and lives 30 days. Following the link (GET) shows whom it
unlocks and how it is paid; unlocking (POST, CSRF-protected) starts ``resume-unlock`` for
the posting's employer and the candidate, as ``POST /api/unlocks`` does, so a link scanner
following the link pays nothing. An unlock of the two under way or done is shown instead
of a second one; a done one links to the contact details.
"""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

from webapp.domain.unlocks import UnlockOffer
from webapp.http import hireflow

bp = Blueprint("unlock_offers", __name__, url_prefix="/applications/unlock")


@bp.get("/<token>")
def offer(token: str):
    return _page(hireflow().unlock_offer(hireflow().unlock_link_application(token)))


@bp.post("/<token>")
def unlock(token: str):
    return _page(hireflow().unlock_by_link(hireflow().unlock_link_application(token)))


def _page(offer: UnlockOffer):
    contact_url = None
    contact_links = hireflow().services.contact_links
    if offer.unlock is not None and offer.unlock["status"] == "unlocked" and contact_links is not None:
        contact_url = url_for("contacts.contact_page", token=contact_links.token_for(offer.unlock_id))
    return render_template("unlock_offer.html", offer=offer, contact_url=contact_url)
