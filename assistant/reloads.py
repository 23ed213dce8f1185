"""What a reload of the configuration applies and what waits for a restart (`needs_restart`,
`as_running`), and what a reload did, for `assistant reload`, `assistant status` and the log:
what it changed and what waits for a restart, or the file's problems."""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant.clocks import local_time
from assistant.config import Config
from assistant.config_commands import COMMAND_LIMITS, CommandRule
from assistant.skill_status import one_line

STATUS_PROBLEMS = 3
"""Problems of a failed reload `assistant status` shows (and how many more there are)."""
RESTART_ONLY = ("source", "role", "site")
"""Top-level settings a reload cannot change: the sources and the room are opened once."""
RESTART_ONLY_SECTIONS = ("device", "emulator", "microphone", "mqtt", "speech", "phrase")


def with_overrides(config: Config, overrides: Mapping[str, str]) -> Config:
    """`config` with the command line's choices: top-level settings (--source, --role) and
    `port`, the board's serial port instead of device.port."""
    values = {name: value for name, value in overrides.items() if name != "port"}
    sections = config.sections
    if "port" in overrides:
        sections = {**sections, "device": {**sections["device"], "port": overrides["port"]}}
    return replace(config, values={**config.values, **values}, sections=sections)


def needs_restart(running: Config, loaded: Config, overrides: Collection[str]) -> list[str]:
    """The settings and sections `loaded` changes from `running` (both as their files say)
    that only a restart applies (not a setting the command line chose, `overrides`, which a
    restart with it would not change either)."""
    waiting = [
        name
        for name in RESTART_ONLY
        if name not in overrides and loaded.values[name] != running.values[name]
    ]
    return waiting + [
        name
        for name in RESTART_ONLY_SECTIONS
        if loaded.sections.get(name) != running.sections.get(name)
    ]


def as_running(loaded: Config, running: Config) -> Config:
    """`loaded`, but with the restart-only settings and sections as `running` has them
    (command line overrides included)."""
    kept_values = {name: running.values[name] for name in RESTART_ONLY}
    kept = {
        name: running.sections[name] for name in RESTART_ONLY_SECTIONS if name in running.sections
    }
    return replace(with_overrides(loaded, kept_values), sections={**loaded.sections, **kept})


@dataclass(frozen=True)
class Reload:
    """A reload (SIGHUP, `assistant reload`): when (time.time()), which file, and its outcome."""

    at: float
    file: Path
    problems: tuple[str, ...] = ()
    """Why it failed, `file:line: ...` each (empty: it took effect)."""
    changed: tuple[str, ...] = ()
    """What it changed that runs now."""
    waiting: tuple[str, ...] = ()
    """What it changed that only a restart applies."""
    warnings: tuple[str, ...] = ()
    """The new file's warnings (`file:line: warning: ...`)."""

    @property
    def done(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        """For `assistant status`, parts joined by tabs: each problem of a failed reload (at
        most STATUS_PROBLEMS) is a part of its own, as it was said, indented below the first."""
        when = local_time(self.at)
        if self.done:
            return f"done at {when}"
        shown = list(self.problems[:STATUS_PROBLEMS])
        more = len(self.problems) - len(shown)
        if more:
            shown.append(f"and {more} more (`assistant config check` lists them all)")
        count = f"{len(self.problems)} problem{'' if len(self.problems) == 1 else 's'}"
        header = (
            f"FAILED at {when} ({self.file}): the configuration above still runs, "
            f"{count} to fix before `assistant reload`:"
        )
        return _parts([header, *shown], indent="  ")

    def answer(self) -> str:
        """The control socket's answer to RELOAD: `OK` or `ERR`, then the outcome's lines
        joined by tabs (each made one line: no tab nor line break of its own)."""
        if self.done:
            lines = [
                f"reloaded {self.file}: "
                + ("; ".join(self.changed) if self.changed else "nothing changed"),
                *([f"only after a restart: {', '.join(self.waiting)}"] if self.waiting else []),
                *self.warnings,
            ]
        else:
            lines = [
                f"not reloaded: the configuration it had still runs; fix {self.file}, then "
                "`assistant reload` again:",
                *self.problems,
            ]
        return ("OK " if self.done else "ERR ") + _parts(lines)


def _parts(lines: Sequence[str], indent: str = "") -> str:
    """`lines` joined by tabs, each made one line (`one_line`: no tab nor line break of its
    own), those after the first indented by `indent`."""
    return f"\t{indent}".join(map(one_line, lines))


def changes(old: Config, new: Config, restart_only: Collection[str]) -> list[str]:
    """What `new` changes from `old` that a reload applies (the top-level settings but
    `restart_only`, the commands, the skills' settings), in words."""
    found = [
        f"{name} {old.values[name]} -> {value}"
        for name, value in new.values.items()
        if name not in restart_only and old.values.get(name) != value
    ]
    commands = _differences(
        old.commands,
        new.commands,
        ("added", "removed", "changed"),
        lambda before, after: (
            before == after or _as_written(before, old) == _as_written(after, new)
        ),
    )
    if commands:
        found.append(f"commands {commands}")
    skills = _differences(old.skills, new.skills, ("started", "stopped", "restarted"))
    if skills:
        found.append(f"skills {skills}")
    return found


def _as_written(rule: CommandRule, config: Config) -> CommandRule:
    """`rule` with None for each limit (`cooldown`, `min_score`) that is `config`'s top-level
    one: a changed top-level value is said once, not again for every command that follows it."""
    inherited = [name for name in COMMAND_LIMITS if getattr(rule, name) == config.values[name]]
    return replace(rule, **dict.fromkeys(inherited))


def _differences(
    before: Mapping,
    after: Mapping,
    words: tuple[str, str, str],
    same: Callable[[Any, Any], bool] = operator.eq,
) -> str:
    """`name added, name removed, name changed` (in `words`) for the keys of `before` and
    `after`, by name (changed: not `same`); empty when they are equal."""
    added, removed, changed = words
    parts = sorted(
        [(name, added) for name in after if name not in before]
        + [(name, removed) for name in before if name not in after]
        + [
            (name, changed)
            for name in after
            if name in before and not same(before[name], after[name])
        ]
    )
    return ", ".join(f"{name} {how}" for name, how in parts)
