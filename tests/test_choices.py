"""The one "did you mean" of the assistant: a setting's choice, a section, a skill or action,
and a speech voice are each offered the names nearest to what was written the same way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assistant.choices import did_you_mean, nearest, valid_choices

REPO = Path(__file__).resolve().parent.parent
CODE = sorted([*(REPO / "assistant").rglob("*.py"), *(REPO / "skills").rglob("*.py")])


@pytest.mark.parametrize("path", CODE, ids=lambda path: str(path.relative_to(REPO)))
def test_no_module_but_choices_looks_for_near_names_itself(path: Path) -> None:
    """A second way of finding near names (difflib) would offer other names, or none, for the
    same slip: every module uses assistant.choices."""
    if path == REPO / "assistant" / "choices.py":
        return
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported = [node.module or ""]
        else:
            continue
        assert "difflib" not in imported, f"{path.name}:{node.lineno} imports difflib"


def test_slips_come_first_then_the_likest_names() -> None:
    names = ["say", "stop", "status", "start"]
    assert nearest("sya", names) == ["say"]  # swapped: too short for a likeness ratio
    assert nearest("SAY", names) == ["say"]
    assert nearest("stat", names, count=3, cutoff=0.6) == ["start", "status"]
    assert nearest("on", ["no"]) == []  # two letters: a different word, not a slip
    assert nearest("zzz", names, count=3) == []


def test_the_hint_offers_at_most_three_names_the_nearest_first() -> None:
    assert did_you_mean([]) == ""
    assert did_you_mean(["en"]) == "did you mean 'en'? "
    assert did_you_mean(["en", "en-us"]) == "did you mean 'en' (or 'en-us')? "
    assert did_you_mean(["en", "en-us", "en", "en-029", "en-gb-scotland"]) == (
        "did you mean 'en' (or 'en-us', 'en-029')? "
    )
    assert valid_choices("sya", ["say", "stop"]) == "did you mean 'say'? valid: say, stop"
    assert valid_choices("stat", ["start", "status", "stop"]) == (  # the nearest alone
        "did you mean 'start'? valid: start, status, stop"
    )
    assert valid_choices("x", [], "installed skills") == "installed skills: none"
