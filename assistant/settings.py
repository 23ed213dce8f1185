"""Check a mapping of settings against a schema of `Setting`s (skills, actions, sections)."""

from __future__ import annotations

import datetime
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.plugin import Setting, valid_choices

BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
"""A number as YAML 1.1 writes one in base 60 (`1:30` for 90, `1:30.5`), as a time is
written."""
TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


def with_defaults(values: Mapping[str, Any] | None, schema: tuple[Setting, ...]) -> dict[str, Any]:
    """`values` (already checked) with every setting they leave out at its default."""
    return {setting.name: setting.default for setting in schema} | dict(values or {})


def path_value(value: str, folder: Path) -> str:
    """A file or folder as written in a setting, as the assistant uses it: `~` expanded, and a
    relative path taken from `folder` (the folder of the configuration file it is written in;
    the current folder for the command line's); `..` and `.` are resolved, symbolic links are
    not."""
    return os.path.abspath(os.path.join(folder, os.path.expanduser(value)))


def resolve_paths(
    values: Mapping[str, Any], schema: tuple[Setting, ...], folder: Path
) -> dict[str, Any]:
    """`values` (checked) with each setting declared `path=True` made a path_value from
    `folder`; empty text and the setting's default (`default`, `auto`) are kept as they are."""
    paths = {setting.name: setting for setting in schema if setting.path}
    return {
        key: path_value(value, folder)
        if key in paths and value not in ("", paths[key].default)
        else value
        for key, value in values.items()
    }


@dataclass(frozen=True)
class SettingsProblem:
    key: str | None
    """The setting the problem is about (None: the mapping as a whole)."""
    message: str
    item: str | None = None
    """The key inside the setting (a dict) whose value the problem is about."""


class _Unfit(ValueError):
    """A value a setting cannot take; `item`: the key inside a dict setting it is at."""

    def __init__(self, message: str, item: str | None = None):
        super().__init__(message)
        self.item = item


def _fits(value: Any, wanted: type) -> bool:
    """Whether `value` is of type `wanted` as a setting takes it (a whole number is a number,
    true and false are not)."""
    if isinstance(value, bool):
        return wanted is bool
    return isinstance(value, wanted) or (wanted is float and isinstance(value, int))


def _unfit_type(value: Any, setting: Setting) -> str:
    """Why `value` is not of `setting`'s type, with how to write it as text where YAML read
    something else (a date, true, nothing)."""
    expected = TYPE_NAMES.get(setting.type, setting.type.__name__)
    if value is None:
        hint = ' (write "" for empty text)' if setting.type is str else ""
        return f"{setting.name} is empty; give it {expected}{hint}"
    if setting.type is str and isinstance(value, (bool, datetime.date)):
        shown = value.isoformat() if isinstance(value, datetime.date) else str(value).lower()
        return (
            f"{setting.name} must be text, and YAML reads {'it' if setting.secret else shown} "
            f"as a {type(value).__name__}: put it in quotes to keep it as text"
        )
    shown = f"a {type(value).__name__} (not shown)" if setting.secret else repr(value)
    return f"{setting.name} must be {expected}, not {shown}{_how_to_write(value, setting)}"


def _how_to_write(value: Any, setting: Setting) -> str:
    """The fix for text YAML read where a number or true/false is wanted, as written in quotes
    (`"2"`, `"true"`), as YAML 1.1's booleans (`yes`, `off`) or as a time (`1:30`, YAML 1.1's
    base 60: not for a secret, as the fix shows the value); empty: no such fix."""
    wanted = setting.type
    if not isinstance(value, str) or wanted not in (int, float, bool):
        return ""
    if wanted is not bool and not setting.secret and BASE_60.fullmatch(value.strip()):
        seconds = _base_60(value.strip())
        return (
            f": a time is not a number (YAML 1.2 reads it as text, YAML 1.1 as {seconds:g} in "
            f"base 60); for that time in seconds, write {seconds:g}"
        )
    if wanted is bool:
        word = value.strip().lower()
        if word in ("true", "false"):
            return ": remove the quotes"
        meant = {"yes": "true", "on": "true", "no": "false", "off": "false"}.get(word)
        return f": write {meant}" if meant else ""
    try:
        wanted(value.strip())
    except ValueError:
        return ""
    return ": remove the quotes"


def _base_60(text: str) -> float:
    """The number YAML 1.1 reads `text` (BASE_60) as: `1:30` is 90, `1:02:03` 3723."""
    total = 0.0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        total = total * 60 + float(part)
    return -total if text.startswith("-") else total


def number_text(number: float) -> str:
    """`number` as a user would write it in the file: a whole one in full (2592000, not
    2.592e+06) up to a quadrillion, any other the shortest way (0.5, 1e+20); a whole number
    too long for a float (hundreds of digits) by its count of digits."""
    try:
        if float(number).is_integer() and abs(number) < 1e15:
            return str(int(number))
        return f"{number:g}"
    except OverflowError:
        return f"{'-' if number < 0 else ''}a number of {len(str(abs(number)))} digits"


def _coerce(value: Any, setting: Setting) -> Any:
    """`value` as `setting` takes it (a number as text where text is wanted); raises _Unfit."""
    wanted = setting.type
    if wanted is float and _fits(value, int):
        value = float(value)
    if wanted is str and _fits(value, float):
        value = str(value)
    if not _fits(value, wanted):
        raise _Unfit(_unfit_type(value, setting))
    if setting.values is not None and isinstance(value, dict):
        checked = {}
        for key, item in value.items():
            try:
                checked[key] = _coerce(
                    item, Setting(f"{setting.name}.{key}", setting.values, secret=setting.secret)
                )
            except _Unfit as error:
                raise _Unfit(str(error), key) from None
        value = checked
    if setting.choices and value not in setting.choices:
        raise _Unfit(f"{setting.name} is {value!r}; {valid_choices(value, setting.choices)}")
    if wanted is float and not math.isfinite(value):
        raise _Unfit(f"{setting.name} must be a finite number, not {value:g}")
    low, high = setting.minimum, setting.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bounds = f"from {number_text(low)} to {number_text(high)}"
        elif low is not None:
            bounds = f"of {number_text(low)} or more"
        else:
            bounds = f"of {number_text(high)} or less"
        raise _Unfit(f"{setting.name} must be a number {bounds}, not {number_text(value)}")
    return value


def schema_problem(schema: object, label: str) -> str | None:
    """What is wrong with `schema` (called `label`) as a skill's `settings` or an action's
    `params`: a tuple of `Setting`s of the six types with distinct names, each default valid
    and of its type. None: nothing."""
    if isinstance(schema, Setting):
        return f"{label} must be a tuple of Setting (missing trailing comma?)"
    if not isinstance(schema, tuple) or not all(isinstance(s, Setting) for s in schema):
        return f"{label} must be a tuple of Setting, not {schema!r}"
    names = [setting.name for setting in schema]
    for setting in schema:
        if names.count(setting.name) > 1:
            return f"{label}: {setting.name!r} is declared twice; give each setting its own name"
        formerly = setting.formerly
        if not isinstance(formerly, tuple) or any(
            not isinstance(old, str) or old in names for old in formerly
        ):
            return (
                f"{label}: {setting.name!r} has formerly={formerly!r}; give a tuple of "
                "names no setting has now"
            )
        problem = _setting_problem(setting)
        if problem:
            return f"{label}: {problem}"
    return None


def _setting_problem(setting: Setting) -> str | None:
    """What is wrong with one declared `Setting` (None: nothing)."""
    if not any(setting.type is wanted for wanted in TYPE_NAMES):
        return (
            f"{setting.name!r} has type {setting.type!r}; "
            "use one of str, int, float, bool, list, dict"
        )
    if setting.values is not None and (
        setting.type is not dict or not any(setting.values is t for t in TYPE_NAMES)
    ):
        return (
            f"{setting.name!r} has values={setting.values!r}; only a dict setting "
            "takes it, with one of str, int, float, bool, list, dict"
        )
    if setting.path and setting.type is not str:
        return (
            f"{setting.name!r} is {setting.type.__name__} with path=True; a path is a str setting"
        )
    if (setting.minimum, setting.maximum) != (None, None) and setting.type not in (int, float):
        return (
            f"{setting.name!r} is {setting.type.__name__} with minimum= or maximum=; "
            "bounds are for int and float settings"
        )
    if setting.required:
        return None
    try:
        default = _coerce(setting.default, setting)
    except _Unfit as error:
        return f"the default does not fit: {error}"
    if default != setting.default:  # a number where text is wanted, which a file would quote
        values = f" and values={setting.values.__name__}" if setting.values else ""
        return (
            f"the default of {setting.name!r} does not fit its type{values}: "
            f"write {default!r}, not {setting.default!r}"
        )
    return None


def _unknown(key: str, schema: tuple[Setting, ...]) -> str:
    """Why `key` is not a setting of `schema`: an earlier name of one (with the name to write
    instead), else an unknown name (with the valid ones)."""
    for setting in schema:
        if key in setting.formerly:
            return (
                f"setting {key!r} was renamed {setting.name!r}: "
                f"write {setting.name}: instead of {key}:"
            )
    names = [setting.name for setting in schema]
    return f"unknown setting {key!r}; " + (
        valid_choices(key, names) if names else "it takes no settings"
    )


def validate_settings(
    values: Mapping[str, Any], schema: tuple[Setting, ...]
) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """The settings with defaults filled in, and every problem found."""
    by_name = {setting.name: setting for setting in schema}
    problems = [SettingsProblem(key, _unknown(key, schema)) for key in values if key not in by_name]
    result: dict[str, Any] = {}
    for setting in schema:
        if setting.name not in values:
            if setting.required:
                hint = f" ({setting.help})" if setting.help else ""
                problems.append(SettingsProblem(None, f"missing setting {setting.name!r}{hint}"))
            else:
                result[setting.name] = setting.default
            continue
        try:
            result[setting.name] = _coerce(values[setting.name], setting)
        except _Unfit as error:
            problems.append(SettingsProblem(setting.name, str(error), error.item))
    return result, problems
