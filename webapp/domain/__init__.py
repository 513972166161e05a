"""What the webapp does for people, independent of HTTP: the API and the UI both call this.

Each operation checks what it can at the door (so a bad request is refused, not turned
into an incident), then starts its process or publishes its message once per business
key. Ids are derived from business keys, so a retried request finds the first one.

One module per process (``resumes``, ``applications``, ``unlocks``, ``interviews``), and
what they share in ``items`` and ``records``. ``listings`` reads the lists people page
through, ``erasure`` gives a candidate their data or erases it, and ``lost_engine`` closes
the items of an engine that is gone.
"""

from __future__ import annotations

from webapp.domain.applications import Applications
from webapp.domain.erasure import Erasure
from webapp.domain.items import bundled_element_names
from webapp.domain.listings import Listings
from webapp.domain.lost_engine import (
    EARLIER_ENGINE_LOST_REASON,
    ENGINE_LOST_REASON,
    EndedItem,
    close_items_of_a_lost_engine,
)
from webapp.domain.records import FINAL_STATUSES, FIRST_STATUS, KIND_OF_PROCESS, KINDS, Accepted
from webapp.domain.resumes import Resumes
from webapp.domain.unlocks import Unlocks

__all__ = [
    "EARLIER_ENGINE_LOST_REASON",
    "ENGINE_LOST_REASON",
    "FINAL_STATUSES",
    "FIRST_STATUS",
    "KINDS",
    "KIND_OF_PROCESS",
    "Accepted",
    "EndedItem",
    "Hireflow",
    "bundled_element_names",
    "close_items_of_a_lost_engine",
]


class Hireflow(Resumes, Applications, Unlocks, Erasure, Listings):
    """The webapp's operations, with the engine gateway and the adapters injected.

    One object for the blueprints to call; each process's operations live in its own module.
    """
