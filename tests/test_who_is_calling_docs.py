"""The "Who is calling" recipes in the docs are the code the behaviour suite serves
(tests/behaviour/test_who_is_calling.py): every line of each snippet is a line of its module
in tests/support/behaviour/who/, which names the snippet (``DOC``: the page, and a line found
in the snippet).  Imports are left out (a module imports what the page's other snippets do),
and so is the one thing the test adds, ``noted(run)`` for ``run``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "tests" / "support" / "behaviour" / "who"


def snippet(page: Path, line: str) -> list[str]:
    """The python code block of ``page`` that holds ``line``."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    found = [block for block in blocks if line in block]
    assert len(found) == 1, f"{page.name}: {len(found)} snippets hold {line!r}"
    return found[0].splitlines()


def significant(lines: list[str]) -> list[str]:
    kept = []
    for line in lines:
        line = line.replace("  # fmt: skip", "").replace("noted(run)", "run").strip()
        if line and not line.startswith(("import ", "from ")):
            kept.append(line)
    return kept


def doc_of(source: str) -> tuple[str, str]:
    match = re.search(r'^DOC = \("([^"]+)", "(.+)"\)$', source, re.MULTILINE)
    assert match is not None
    return match[1], match[2].replace('\\"', '"')


@pytest.mark.parametrize(
    "name", sorted(path.stem for path in RECIPES.glob("*.py") if path.stem != "__init__")
)
def test_every_line_of_the_snippet_is_in_the_module_the_suite_serves(name: str) -> None:
    # Read, not imported: channels_recipe sets Django up when imported.
    source = (RECIPES / f"{name}.py").read_text(encoding="utf-8")
    page, line = doc_of(source)
    served = set(significant(source.splitlines()))
    missing = [code for code in significant(snippet(ROOT / page, line)) if code not in served]
    assert not missing, f"{page}: not in {name}.py: {missing}"
