"""``/api/items``: every item, newest change first, a page at a time (the console's Items page as JSON)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.http import hireflow
from webapp.schemas import ItemQuery

bp = Blueprint("items", __name__, url_prefix="/api/items")


@bp.get("")
def list_items():
    """A page of items by kind, open or over, or an id; ``next`` is the cursor of the page after it."""
    query = ItemQuery.model_validate(request.args.to_dict())
    found, next_page = hireflow().list_items(query)
    return jsonify(
        {"items": [item.as_json() for item in found], "next": str(next_page) if next_page else None}
    )
