"""A place in a configuration file (a `Path_`) as a message names it, in the words of the
file: a setting's dotted path as the user types it (`skills.lights.host`), and under
`commands:` the command and which of its actions (`with:` of the first action of command
'go'), since `commands.go.do.0.with` names a list item the file never writes as `0`."""

from __future__ import annotations

from assistant.yaml_lines import Path_

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
SUFFIXES = {1: "st", 2: "nd", 3: "rd"}
"""The ending of a number past ORDINALS by its last digit (but 11th, 12th, 13th); else `th`."""


def ordinal(number: int) -> str:
    """`number` (from 1) as a place in a list: `first`, ..., `ninth`, then `10th`, `21st`."""
    if number <= len(ORDINALS):
        return ORDINALS[number - 1]
    if number % 100 in (11, 12, 13):
        return f"{number}th"
    return f"{number}{SUFFIXES.get(number % 10, 'th')}"


def place(path: Path_) -> str:
    """Where the settings at `path` are: a command's own (`command 'go'`), an action's
    parameters, or a setting's dotted path (`the top level` for the file's own)."""
    if path[:1] != ("commands",) or len(path) < 2:
        return ".".join(map(str, path)) or "the top level"
    command = f"command {path[1]!r}"
    rest = path[2:]
    if not rest:
        return command
    rule = ""
    if rest[0] == "do":
        rest = rest[1:]
    elif rest[0] == "when" and len(rest) > 1:
        rule, rest = f"`when: {rest[1]}` ", rest[2:]
    action = f"the {rule}action"
    if rest and isinstance(rest[0], int):
        action, rest = f"the {ordinal(rest[0] + 1)} {rule}action", rest[1:]
    keys = ": ".join(map(str, rest))
    return f"`{keys}:` of {action} of {command}" if keys else f"{action} of {command}"
