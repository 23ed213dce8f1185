"""The built-in skills are plugins like any other: registered by entry point, and using the
assistant only through assistant.plugin (and each other not at all)."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from assistant.discovery import discover_skills
from assistant.plugin import Skill

SKILLS_DIR = Path(__file__).resolve().parent.parent / "skills"
BUILT_IN = {
    "lights": "skills.lights:LightsSkill",
    "media": "skills.media:MediaSkill",
    "replies": "skills.replies:RepliesSkill",
    "timers": "skills.timers:TimersSkill",
}


SKILL_MODULES = {target.split(":")[0] for target in BUILT_IN.values()}
"""A skill may use a helper module of its own in skills/, never another skill."""


@pytest.mark.parametrize(("name", "target"), sorted(BUILT_IN.items()))
def test_registered_under_the_entry_point_group(name: str, target: str) -> None:
    (point,) = entry_points(group="assistant.skills", name=name)
    assert point.value == target
    skill = point.load()
    assert issubclass(skill, Skill) and skill.name == name and skill.description
    assert skill.actions(), f"{name} declares no action"


def test_the_host_discovers_every_built_in_skill() -> None:
    installed, broken = discover_skills()
    assert broken == []
    assert set(BUILT_IN) <= set(installed)


@pytest.mark.parametrize("path", sorted(SKILLS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_skills_import_only_the_plugin_api_from_the_assistant(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("assistant", "model_training", "skills"):
                helper = name.startswith("skills.") and name not in SKILL_MODULES
                assert name == "assistant.plugin" or helper, (
                    f"{path.name}:{node.lineno} imports {name}"
                )
