"""The README's settings table says what ``webapp.config`` reads, so the two cannot drift apart."""

from __future__ import annotations

import re

from hireflow.paths import PROJECT_ROOT
from webapp.config import SETTINGS


def readme_settings() -> dict[str, str]:
    """Environment variable -> the description in the README's settings table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| [^|]* \| (.+) \|$", (PROJECT_ROOT / "README.md").read_text(), re.M)
    return dict(rows)


def test_every_setting_is_in_the_readme_as_the_code_describes_it():
    documented = readme_settings()
    for _, variable, _, description in SETTINGS:
        assert variable in documented, f"README's settings table lacks {variable}"
        assert documented[variable] == description, f"README describes {variable} differently"
