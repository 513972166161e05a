"""``/openapi.json``: the API's OpenAPI document."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, jsonify

from webapp.openapi import openapi_document

bp = Blueprint("docs", __name__)


@cache
def _document() -> dict:
    return openapi_document()


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(_document())
