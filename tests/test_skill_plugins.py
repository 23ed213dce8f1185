"""The built-in skills are plugins like any other: registered by entry point, and using the
assistant only through assistant.plugin (and each other not at all)."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import assistant.plugin
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
OWN_CLIENTS = ("paho",)
"""Libraries whose job the plugin API does: a skill talks MQTT through `context.connect_mqtt()`,
the assistant's one hardened client, never with a client of its own."""


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
            assert name.split(".")[0] not in OWN_CLIENTS, (
                f"{path.name}:{node.lineno} imports {name}: use the plugin API's connect_mqtt()"
            )
            if name.split(".")[0] in ("assistant", "model_training", "skills"):
                helper = name.startswith("skills.") and name not in SKILL_MODULES
                assert name == "assistant.plugin" or helper, (
                    f"{path.name}:{node.lineno} imports {name}"
                )


API_1_4 = {
    "assistant.plugin": "AMOUNT_WORDS API_VERSION Action Amount Cancellation ClockWatch "
    "CommandEvent ENTRY_POINT_GROUP MQTT_CONNECTION_SETTINGS MQTT_RECONNECT_MAX MQTT_RECONNECT_MIN "
    "MqttError MqttLink NothingToDo REQUIRED SITE_DEFAULT Setting SettingValueError Skill "
    "SkillContext SkillError action ca_file_problem duration_in_words elapsed local_time "
    "moment_in_words parse_amount time_left_in_words time_of_day_in_words tls_context "
    "valid_choices",
    "Skill": "actions check_params check_settings description name requires_api settings start "
    "status_lines stop",
    "SkillContext": "cancelled connect_mqtt data_dir hold_focus listen_for_phrase log name "
    "release_focus say settings",
    "Setting": "choices default formerly help maximum minimum name path secret type values",
    "CommandEvent": "command device_ms heard received score seq site source",
    "action": "help name params",
    "ClockWatch": "look offset start stop",
}
"""What plugin API 1.4 offers, by name (1.0, Setting's `path` (1.1) and `formerly` (1.2),
SkillContext's `connect_mqtt` with MqttLink and MqttError, `moment_in_words` and
ClockWatch's `look` (1.3), ClockWatch's `offset` (1.4))."""


def test_the_plugin_apis_imported_names_are_exported_to_a_type_checker() -> None:
    """A name of the API that assistant.plugin imports from another module is imported `as`
    itself: a skill author's type checker (mypy --strict, pyright) takes only such a name as
    exported, and refuses `from assistant.plugin import parse_amount` otherwise."""
    tree = ast.parse(Path(assistant.plugin.__file__).read_text())
    api = set(API_1_4["assistant.plugin"].split())
    implicit = [
        f"plugin.py:{node.lineno} imports {alias.name} from {node.module}: write "
        f"`import {alias.name} as {alias.name}`"
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if (alias.asname or alias.name) in api and alias.asname != alias.name
    ]
    assert not implicit, "\n".join(implicit)


def test_the_plugin_api_changes_only_with_its_version() -> None:
    """A name added to the plugin API (or one gone) must come with a new API_VERSION, so that
    a skill's `requires_api` means what it says: bump the minor for an addition (the major for
    a change or removal), and record the names here under the new version."""
    import dataclasses
    import inspect

    from assistant import plugin

    origins = {"assistant.plugin", "assistant.choices", "assistant.clocks", "assistant.spoken"}
    offered = {
        "assistant.plugin": {
            name
            for name, value in vars(plugin).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and (
                getattr(value, "__module__", None) in origins
                or isinstance(value, (str, int, float, tuple, dict, frozenset))
            )
        },
        "Skill": {name for name in vars(plugin.Skill) if not name.startswith("_")},
        "SkillContext": {name for name in vars(plugin.SkillContext) if not name.startswith("_")}
        | set(plugin.SkillContext.__annotations__),
        "Setting": {field.name for field in dataclasses.fields(plugin.Setting)},
        "CommandEvent": {field.name for field in dataclasses.fields(plugin.CommandEvent)},
        "action": set(inspect.signature(plugin.action).parameters),
        "ClockWatch": {name for name in vars(plugin.ClockWatch) if not name.startswith("_")},
    }
    recorded = {part: set(names.split()) for part, names in API_1_4.items()}
    assert plugin.API_VERSION == (1, 4)
    assert offered == recorded, "the plugin API changed: give it a new API_VERSION"
