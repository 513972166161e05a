"""docs/configuration.md names every environment variable hireflow reads, once, and no other."""

from __future__ import annotations

import ast
import re

from hireflow.constants import ErrorCode
from hireflow.paths import PROJECT_ROOT
from webapp.config import SETTINGS

REFERENCE = PROJECT_ROOT / "docs" / "configuration.md"
# The code of the components and their launchers: what an operator configures.
PRODUCT_CODE = ("webapp", "hireflow", "job_workers")
# Where a row's variable may also be read: the tests and make read a few of their own.
READERS = (*PRODUCT_CODE, "tests")
LOOKS_LIKE_A_VARIABLE = re.compile(r"(HIREFLOW|CAMUNDA|ZEEBE|PAYMENT|SENDGRID|AWS|PROMETHEUS|XDG)_[A-Z0-9_]+")
# Names of that shape that are not variables: the BPMN error codes.
NOT_VARIABLES = {value for name, value in vars(ErrorCode).items() if not name.startswith("_")}


def string_constants(folders: tuple[str, ...]) -> set[str]:
    """Every string literal in the Python files below ``folders``."""
    found = set()
    for folder in folders:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def reference_rows() -> list[tuple[list[str], str, str]]:
    """Each table row: the variables its first cell names, its default and its description."""
    rows = []
    for line in REFERENCE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) != 3:
            continue
        rows.append((re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), cells[1], cells[2]))
    return rows


def documented_variables() -> list[str]:
    return [variable for names, _, _ in reference_rows() for variable in names]


def test_every_variable_the_code_reads_is_documented():
    read = {
        value
        for value in string_constants(PRODUCT_CODE)
        if LOOKS_LIKE_A_VARIABLE.fullmatch(value) and value not in NOT_VARIABLES
    }
    missing = sorted(read - set(documented_variables()))
    assert not missing, f"docs/configuration.md lacks a row for {missing}"


def test_every_documented_variable_is_read_and_has_one_row():
    documented = documented_variables()
    assert len(documented) > 60, "the reference's tables were not found"
    twice = sorted({variable for variable in documented if documented.count(variable) > 1})
    assert not twice, f"docs/configuration.md has more than one row for {twice}"
    read = string_constants(READERS)
    stale = sorted(set(documented) - read)
    assert not stale, f"docs/configuration.md documents variables nothing reads: {stale}"


def shown_default(default) -> str:
    """A default as the reference's tables write it."""
    if isinstance(default, bool):
        return "on" if default else "off"
    return "(empty)" if default == "" else f"`{default}`"


def test_the_webapp_settings_are_documented_as_the_code_has_them():
    rows = {names[0]: (default, description) for names, default, description in reference_rows()}
    for _, variable, default, description in SETTINGS:
        assert variable in rows, f"docs/configuration.md lacks {variable}"
        assert rows[variable] == (shown_default(default), description), (
            f"docs/configuration.md gives {variable} another default or description than webapp/config.py"
        )
