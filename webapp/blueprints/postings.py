"""``/api/postings``: the job postings that take applications, for the marketplace's job board."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow
from webapp.schemas import PostingSearch

bp = Blueprint("postings", __name__, url_prefix="/api/postings")


@bp.get("")
def open_postings():
    """The open postings by id, a page at a time, with what each asks for; ``next``: the cursor after."""
    query = PostingSearch.model_validate(request.args.to_dict())
    found, next_page = hireflow().open_postings_page(query)
    return jsonify({"postings": found, "next": next_page})
