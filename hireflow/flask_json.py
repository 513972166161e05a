"""Flask's JSON, refusing a body nested too deeply as invalid JSON instead of failing.

Python's parser follows nesting by recursion and raises ``RecursionError`` deep down (on
3.11, a 2 KB body of brackets). ``request.get_json`` turns only a ``ValueError`` into a refusal,
so that body was a 500. How deep the parser gets depends on the Python: some 1,000
levels on 3.11, 1,500 on 3.12, 10,000 on 3.13. So the limit is hireflow's own,
``MAX_NESTING`` levels on every Python. pydantic, which the webapp validates bodies with,
stops some 200 levels down in words of its own; it never sees a body that deep. Deeper
than the limit is a ``ValueError`` like any other unreadable JSON, and every ``get_json``
of the app answers it as such. So is a number of more digits than Python turns into an
int, with words for a client instead of Python's advice to call
``sys.set_int_max_str_digits()``, and what JSON has no numbers for: Python reads ``NaN``,
``Infinity`` and ``1e999`` (infinite) as floats, which no JSON encoder writes again, so a
variable holding one failed on its way to the engine (a 500). A whole number beyond 64 bits
is refused too: the engine keeps variables in MessagePack, whose whole numbers run from
-2**63 to 2**64 - 1, and refused one beyond with an opaque "UNKNOWN: Application error
processing RPC".
"""

from __future__ import annotations

import math
import sys
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

# Levels of arrays and objects a JSON document may nest (the outermost is level 1). No
# request of hireflow's nests more than a handful; Stripe's events and SendGrid's mails
# neither.
MAX_NESTING = 100


class NestedTooDeeply(ValueError):
    """JSON nested deeper than ``MAX_NESTING`` levels."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than the {MAX_NESTING} levels hireflow reads")


def _nests_deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` holds arrays or objects more than ``levels`` levels deep.

    Level by level, not by recursion, which is what the limit guards against.
    """
    containers = [value] if isinstance(value, (dict, list)) else []
    for _ in range(levels):
        containers = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, (dict, list))
        ]
        if not containers:
            return False
    return True


# The whole numbers the engine keeps in a variable (MessagePack's: a signed or an unsigned
# 64-bit integer); the embedded engine took both ends and refused one beyond either.
SMALLEST_WHOLE_NUMBER, LARGEST_WHOLE_NUMBER = -(2**63), 2**64 - 1


def _whole_number(digits: str) -> int:
    count = len(digits.lstrip("-"))
    longest = sys.get_int_max_str_digits() or count  # 0: no limit
    if count > longest:
        raise ValueError(f"a number of {count:,} digits (at most {longest:,} are read)")
    number = int(digits)
    if not SMALLEST_WHOLE_NUMBER <= number <= LARGEST_WHOLE_NUMBER:
        raise ValueError(
            f"the whole number {digits[:40]} is beyond the 64 bits the engine keeps numbers in"
            f" ({SMALLEST_WHOLE_NUMBER} to {LARGEST_WHOLE_NUMBER})"
        )
    return number


def _finite_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large for a JSON number")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON numbers are finite)")


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's default JSON provider, whose ``loads`` refuses with a ``ValueError`` what Python's
    parser cannot read: nesting too deep (``NestedTooDeeply``), integers too long or beyond
    64 bits, and what is no JSON number (``NaN``, ``Infinity``, a float beyond the largest)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", _whole_number)
        kwargs.setdefault("parse_float", _finite_number)
        kwargs.setdefault("parse_constant", _no_constant)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise NestedTooDeeply() from None
        if _nests_deeper_than(value, MAX_NESTING):
            raise NestedTooDeeply()
        return value


def use_bounded_json(app: Flask) -> None:
    """Give ``app`` the bounded JSON provider (for its requests' ``get_json``)."""
    app.json = BoundedJSONProvider(app)
