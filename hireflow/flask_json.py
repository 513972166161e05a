"""Flask's JSON, refusing a body nested too deeply as invalid JSON instead of failing.

Python's parser follows nesting by recursion and raises ``RecursionError`` some 1,000
levels down: a 2 KB body of brackets. ``request.get_json`` turns only a ``ValueError``
into a refusal, so that body was a 500. Here it is a ``ValueError`` like any other
unreadable JSON, and every ``get_json`` of the app answers it as such. So is a number of
more digits than Python turns into an int, with words for a client instead of Python's
advice to call ``sys.set_int_max_str_digits()``, and what JSON has no numbers for:
Python reads ``NaN``, ``Infinity`` and ``1e999`` (infinite) as floats, which no JSON
encoder writes again, so a variable holding one failed on its way to the engine (a 500).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class NestedTooDeeply(ValueError):
    """JSON nested deeper than the parser follows."""


def _whole_number(digits: str) -> int:
    count = len(digits.lstrip("-"))
    longest = sys.get_int_max_str_digits() or count  # 0: no limit
    if count > longest:
        raise ValueError(f"a number of {count:,} digits (at most {longest:,} are read)")
    return int(digits)


def _finite_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large for a JSON number")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON numbers are finite)")


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's default JSON provider, whose ``loads`` refuses with a ``ValueError`` what Python's
    parser cannot read: nesting too deep (``NestedTooDeeply``), integers too long, and what
    is no JSON number (``NaN``, ``Infinity``, a float beyond the largest)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", _whole_number)
        kwargs.setdefault("parse_float", _finite_number)
        kwargs.setdefault("parse_constant", _no_constant)
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise NestedTooDeeply("nested too deeply to read") from None


def use_bounded_json(app: Flask) -> None:
    """Give ``app`` the bounded JSON provider (for its requests' ``get_json``)."""
    app.json = BoundedJSONProvider(app)
