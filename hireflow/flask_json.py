"""Flask's JSON, refusing a body nested too deeply as invalid JSON instead of failing.

Python's parser follows nesting by recursion and raises ``RecursionError`` some 1,000
levels down: a 2 KB body of brackets. ``request.get_json`` turns only a ``ValueError``
into a refusal, so that body was a 500. Here it is a ``ValueError`` like any other
unreadable JSON, and every ``get_json`` of the app answers it as such.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class NestedTooDeeply(ValueError):
    """JSON nested deeper than the parser follows."""


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's default JSON provider, with ``loads`` raising ``NestedTooDeeply`` on deep nesting."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise NestedTooDeeply("nested too deeply to read") from None


def use_bounded_json(app: Flask) -> None:
    """Give ``app`` the bounded JSON provider (for its requests' ``get_json``)."""
    app.json = BoundedJSONProvider(app)
