"""`assistant skills`: the skills installed, with their actions and settings, and the plugins
that cannot load."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli_config import checks_config_readable
from assistant.discovery import api_version_text, discover_skills
from assistant.plugin import Setting
from assistant.settings import number_text


@checks_config_readable
def cmd_skills(args: argparse.Namespace) -> int:
    installed, broken = discover_skills()
    print(api_version_text())
    for name, skill in sorted(installed.items()):
        print(_with_help(name, skill.description))
        for action in skill.actions().values():
            params = ", ".join(p.name for p in action.params)
            print(
                _with_help(
                    f"  action {action.name}" + (f"({params})" if params else ""), action.help
                )
            )
            for param in action.params:
                print(f"    with {_described(param)}")
        for setting in skill.settings:
            print(f"  setting {_described(setting)}")
    for plugin in broken:
        print(f"BROKEN {plugin.name} ({plugin.target}): {plugin.error}")
    return 1 if broken else 0


def _with_help(name: str, help: str) -> str:
    """`name: help`, or the name alone when the skill or action gave no help text."""
    return f"{name}: {help}" if help else name


def _described(setting: Setting) -> str:
    """A setting or parameter for `assistant skills`: name (type, default, choices, type of
    a dict's values, bounds): help."""
    facts = [setting.type.__name__]
    facts.append("required" if setting.required else f"default {setting.default!r}")
    if setting.choices:
        facts.append("one of " + " | ".join(map(str, setting.choices)))
    if setting.values is not None:
        facts.append(f"values {setting.values.__name__}")
    if setting.path:
        facts.append("a path")
    if setting.minimum is not None:
        facts.append(f"at least {number_text(setting.minimum)}")
    if setting.maximum is not None:
        facts.append(f"at most {number_text(setting.maximum)}")
    return f"{setting.name} ({', '.join(facts)}): {setting.help}"


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `skills` to the assistant's command line (`common`: what every command's parser
    takes, such as --config)."""
    commands.add_parser("skills", help="list installed skills", **common).set_defaults(
        func=cmd_skills
    )
