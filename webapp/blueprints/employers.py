"""``/api/employers``: what an employer's unlocks gave it, for the employer's own pages."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow, path_id
from webapp.schemas import ContactsQuery

bp = Blueprint("employers", __name__, url_prefix="/api/employers")


@bp.get("/<employer_id>/contacts")
def contacts(employer_id: str):
    """The candidates whose contact details the employer's paid unlocks opened, by candidate id."""
    employer_id = path_id("employer_id", employer_id)
    query = ContactsQuery.model_validate(request.args.to_dict())
    found, next_page = hireflow().contacts_of(employer_id, query)
    return jsonify({"employerId": employer_id, "contacts": found, "next": next_page})
