"""The `commands:` section: each command checked and made a `CommandRule` of `ActionCall`s.

A command is written in full (`up: {do: ..., when: {skill: ...}, min_score: ..., cooldown:
...}`) or in a short form that stands for its `do:` (`up: lights.on`, `up: [..]`, `up: {action:
lights.level, with: {...}}`); an action is `skill.action` or `{action: skill.action, with:
{...}}`. Every problem is said at its line with the fix, a key in the wrong place with where it
goes. The calls made (`CommandChecker.calls`) and the `when:` rules (`when_rules`) are what the
check of the `skills:` section (config_skills.py) goes on from."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.config_checker import ConfigChecker
from assistant.plugin import Action, Setting, valid_choices
from assistant.yaml_lines import Path_, spaceless_key

COMMAND_LIMITS = ("min_score", "cooldown")
"""The top-level settings a command may set for itself."""
COMMAND_KEYS = ("do", "when", *COMMAND_LIMITS)
ACTION_FORMS = "write an action as `skill.action` or {action: skill.action, with: {...}}"
NO_COMMANDS = (
    "no commands are mapped: every detection will be ignored (a file of your own replaces the "
    "default config.yaml completely, nothing is merged: start from a copy of it)"
)


@dataclass(frozen=True)
class ActionCall:
    """One action a command runs: `skill.action` with parameters from `with:`."""

    skill: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.skill}.{self.action}"


@dataclass(frozen=True)
class CommandRule:
    """What one command under `commands:` runs, and when it is ignored."""

    command: str
    actions: tuple[ActionCall, ...]
    when_focused: Mapping[str, tuple[ActionCall, ...]]
    """Actions to run instead while the named skill has focus."""
    min_score: float
    cooldown: float


def when_rule(path: Path_) -> Path_ | None:
    """The `when:` rule a place under `commands:` is in (`("commands", command, "when",
    skill)`), or None (it is in the command's `do:` or short form)."""
    return path[:4] if path[2:3] == ("when",) else None


class CommandChecker:
    """Checks `commands:`, reporting through `checker`. `limits` are the settings of
    COMMAND_LIMITS with the file's top-level values as defaults; `reported` are the commands
    the microphone model can report (None: its card could not be read, so any is taken), from
    the model file `model_name`."""

    def __init__(
        self,
        checker: ConfigChecker,
        limits: tuple[Setting, ...] = (),
        reported: tuple[str, ...] | None = None,
        model_name: str = "",
    ):
        self.checker = checker
        self.limits = limits
        self.reported = reported
        self.model_name = model_name
        self.calls: list[tuple[ActionCall, Path_, bool]] = []
        """Every action call made, in the file's order, with the path of its `with:` and
        whether that passed its checks (for Skill.check_params, which gets only calls that
        did, and for the command that first uses a skill)."""
        self.when_rules: list[Path_] = []
        """Where each `when:` rule names the skill whose focus it waits for
        (`("commands", command, "when", skill)`)."""

    def rules(self, raw: Any, satellite: bool) -> dict[str, CommandRule]:
        """The rule of each command in `raw`, the value of `commands:` (on a `satellite`,
        which forwards every command to the hub, none is fine)."""
        if raw in (None, {}):
            if not satellite:
                self.checker.warn(("commands",), NO_COMMANDS)
            return {}
        if not isinstance(raw, dict):
            self.checker.problem(("commands",), "commands must map each command to its actions")
            return {}
        reported = self.reported

        def lost_indent(key: str) -> bool:
            """Whether `key` is a key of a command that lost its indent (`do:` under `on:`)."""
            return key in COMMAND_KEYS and (reported is None or key not in reported)

        # commands left empty by their keys' lost indent: the stray key's problem says so
        emptied = {
            above for above, key in itertools.pairwise(raw) if lost_indent(key) and not raw[above]
        }
        rules = {}
        previous = ""  # the command above: where a key of a command that lost its indent goes
        for command, spec in raw.items():
            path = ("commands", command)
            if lost_indent(command):
                under = f"`{previous}:`" if previous else "its command, e.g. `on:`"
                self.checker.problem(
                    path,
                    f"`{command}` is a key of a command, not a command: indent it under {under}",
                )
                continue
            previous = command
            if command in emptied:
                continue
            if reported is not None and command not in reported:
                self.checker.problem(
                    path,
                    f"unknown command {command!r}; "
                    + valid_choices(command, reported, f"the model {self.model_name} reports"),
                )
                continue
            rule = self.command_rule(command, spec)
            if rule is not None:
                rules[command] = rule
        return rules

    def command_rule(self, command: str, spec: Any) -> CommandRule | None:
        path = ("commands", command)
        defaults = {setting.name: setting.default for setting in self.limits}
        if isinstance(spec, (str, list)) or (isinstance(spec, dict) and "action" in spec):
            # the short forms: just the action(s), checked where they are written
            return CommandRule(command, self.action_list(spec, path), {}, **defaults)
        if isinstance(spec, dict):
            for key in spec:
                if key not in COMMAND_KEYS:
                    self.unknown_command_key((*path, key), spec)
        if not isinstance(spec, dict) or "do" not in spec:
            hint = ""
            if isinstance(spec, dict) and "when" in spec:
                hint = " (`do: []` for one that acts only through its `when:` rules)"
            self.checker.problem(path, f"command {command!r} needs `do:` with a skill action{hint}")
            return None
        when = {} if spec.get("when") is None else spec["when"]
        if not isinstance(when, dict):
            self.checker.problem(
                (*path, "when"),
                "`when:` must map a skill name to actions; write them under it, as `when: "
                "{media: media.pause}`, or remove `when:`",
            )
            when = {}
        if spec["do"] == [] and not when:
            self.checker.warn((*path, "do"), f"command {command!r} does nothing: `do:` is empty")
        for skill, actions in when.items():
            self.when_rules.append((*path, "when", skill))
            if skill not in self.checker.installed:
                self.checker.unknown_skill((*path, "when", skill), skill)
            if actions == []:
                self.checker.warn(
                    (*path, "when", skill),
                    f"command {command!r} does nothing while {skill} has focus: the list is empty",
                )
        limits = self.checker.checked_settings(
            {key: spec[key] for key in COMMAND_LIMITS if key in spec}, self.limits, path
        )
        return CommandRule(
            command=command,
            actions=self.action_list(spec["do"], (*path, "do")),
            when_focused={
                skill: self.action_list(actions, (*path, "when", skill))
                for skill, actions in when.items()
            },
            **limits,
        )

    def unknown_command_key(self, path: Path_, spec: dict[str, Any]) -> None:
        key, command = path[-1], path[-2]
        hint = valid_choices(key, COMMAND_KEYS)
        if key == "with":
            action = spec["do"] if isinstance(spec.get("do"), str) else "skill.action"
            hint = f"parameters go with their action: `do: {{action: {action}, with: {{...}}}}`"
        self.checker.problem(path, f"unknown key {key!r} in command {command!r}; {hint}")

    def action_list(self, raw: Any, path: Path_) -> tuple[ActionCall, ...]:
        """The actions of `raw`, one action or a list of them (each at its index)."""
        items = raw if isinstance(raw, list) else [raw]
        calls = (
            self.action_call(item, (*path, i) if raw is items else path)
            for i, item in enumerate(items)
        )
        return tuple(call for call in calls if call is not None)

    def action_call(self, raw: Any, path: Path_) -> ActionCall | None:
        """The call `raw` writes, with its parameters checked (None: the problem is reported)."""
        spec = raw if isinstance(raw, dict) else {"action": raw}
        found = self.find_action(spec["action"], path) if "action" in spec else None
        misplaced = [key for key in spec if key not in ("action", "with")]
        for key in misplaced:
            self.checker.problem((*path, key), self.misplaced_key(key, spec[key], found, path))
        if "action" not in spec and not misplaced:
            self.checker.problem(path, f"an action needs `action: skill.action`; {ACTION_FORMS}")
        if found is None or misplaced:
            return None
        skill, action = found
        known_problems = len(self.checker.problems)
        params = self.checker.checked_settings(
            spec.get("with"), action.params, (*path, "with"), _with_fix(action)
        )
        call = ActionCall(skill, action.name, params)
        self.calls.append((call, (*path, "with"), len(self.checker.problems) == known_problems))
        return call

    def find_action(self, raw: Any, path: Path_) -> tuple[str, Action] | None:
        """The skill and action `skill.action` names (None: the problem is reported)."""
        if raw is None:
            written = f"`{path[-1]}:`" if isinstance(path[-1], str) else "this list item"
            self.checker.problem(path, f"{written} is empty; {ACTION_FORMS}")
            return None
        if not isinstance(raw, str) or raw.count(".") != 1 or ":" in raw:
            # `do:lights.on` is a key with no space after its `:`; `lights:on` is not
            keyed = isinstance(raw, str) and "." in raw and ":" in raw.split(".")[0]
            spaceless = spaceless_key(raw) if keyed else None
            fix = spaceless or self.swallowed_item(raw, path) or ACTION_FORMS
            self.checker.problem(path, f"{raw!r} is not an action; {fix}")
            return None
        skill, action = raw.split(".")
        if skill not in self.checker.installed:
            self.checker.unknown_skill(path, skill)
            return None
        actions: dict[str, Action] = self.checker.installed[skill].actions()
        if action not in actions:
            self.checker.problem(
                path,
                f"skill {skill!r} has no action {action!r}; "
                + valid_choices(action, sorted(actions)),
            )
            return None
        return skill, actions[action]

    def swallowed_item(self, raw: Any, path: Path_) -> str | None:
        """The fix when `raw`, the action at `path`, holds ` - `: a list item indented past
        the `-` above it (or under a value), which YAML reads as more words of that value;
        None when it does not."""
        if not isinstance(raw, str) or " - " not in raw:
            return None
        item = f"`- {raw.split(' - ')[1]}`"
        line = self.checker.document.line_of(path)
        if isinstance(path[-1], int):
            return (
                f"{item} is indented past the `-` on line {line}, so YAML reads it as part of "
                f"that item: line its `-` up with the one on line {line}"
            )
        return (
            f"{item} is indented under the action on line {line}, so YAML reads it as part of "
            "it: write the actions as a list, each `- skill.action` on a line of its own, "
            "their `-` lined up"
        )

    @staticmethod
    def misplaced_key(key: str, value: Any, found: tuple[str, Action] | None, path: Path_) -> str:
        """Why `key` cannot stand in the action at `path`, and where it goes instead."""
        if found is not None and key in {param.name for param in found[1].params}:
            return f"{key!r} is a parameter of {found[0]}.{found[1].name}: indent it under `with:`"
        if key not in COMMAND_KEYS:
            return f"unknown key {key!r} in an action; " + valid_choices(key, ("action", "with"))
        rule = when_rule(path)
        if rule is not None:
            action = value if isinstance(value, str) else "skill.action"
            return (
                f"`{key}` is a key of a command, not of an action; under `when:` a skill maps "
                f"straight to its actions: `{rule[3]}: {action}`"
            )
        if key == "do":  # beside the action's own `action:`
            return f"`do` is a key of the command, not of its action; {ACTION_FORMS}"
        if path[2:3] == ("do",):
            return f"`{key}` is a key of the command, not of its action: put it beside `do:`"
        # a short form: its action (or list of them) stands for the whole command
        actions = "{action: ..., with: {...}}" if len(path) == 2 else "[...]"
        return (
            f"`{key}` is a key of the command, not of its action: write "
            f"`{path[1]}: {{do: {actions}, {key}: ...}}`"
        )


def _with_fix(action: Action) -> str:
    """What to write for a `with:` of `action` that is no mapping."""
    if not action.params:
        return f"{action.name} takes no settings: remove `with:`"
    return (
        f"write the action's settings under it, as `with: {{{action.params[0].name}: ...}}`, "
        "or remove `with:`"
    )
