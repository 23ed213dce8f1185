"""Check a mapping of settings against a schema of `Setting`s (skills, actions, sections)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.plugin import Setting, valid_choices

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


@dataclass(frozen=True)
class SettingsProblem:
    key: str | None
    """The setting the problem is about (None: the mapping as a whole)."""
    message: str


def _coerce(value: Any, setting: Setting) -> tuple[Any, str | None]:
    wanted = setting.type
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if wanted is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    ok = isinstance(value, wanted) and not (wanted in (int, float) and isinstance(value, bool))
    if not ok:
        expected = TYPE_NAMES.get(wanted, wanted.__name__)
        return None, f"{setting.name} must be {expected}, not {value!r}"
    if setting.values is not None and isinstance(value, dict):
        checked = {}
        for key, item in value.items():
            inner = Setting(f"{setting.name}.{key}", setting.values)
            checked[key], error = _coerce(item, inner)
            if error:
                return None, error
        value = checked
    if setting.choices and value not in setting.choices:
        return None, f"{setting.name} is {value!r}; {valid_choices(value, setting.choices)}"
    if wanted is float and not math.isfinite(value):
        return None, f"{setting.name} must be a finite number, not {value:g}"
    low, high = setting.minimum, setting.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bounds = f"from {low:g} to {high:g}"
        else:
            bounds = f"of {low:g} or more" if low is not None else f"of {high:g} or less"
        return None, f"{setting.name} must be a number {bounds}, not {value:g}"
    return value, None


def schema_problem(schema: object, label: str) -> str | None:
    """What is wrong with `schema` (called `label`) as a skill's `settings` or an action's
    `params`: a tuple of `Setting`s of the six types, each default valid. None: nothing."""
    if isinstance(schema, Setting):
        return f"{label} must be a tuple of Setting (missing trailing comma?)"
    if not isinstance(schema, tuple) or not all(isinstance(s, Setting) for s in schema):
        return f"{label} must be a tuple of Setting, not {schema!r}"
    for setting in schema:
        if not any(setting.type is wanted for wanted in TYPE_NAMES):
            return (
                f"{label}: {setting.name!r} has type {setting.type!r}; "
                "use one of str, int, float, bool, list, dict"
            )
        if setting.values is not None and (
            setting.type is not dict or not any(setting.values is t for t in TYPE_NAMES)
        ):
            return (
                f"{label}: {setting.name!r} has values={setting.values!r}; only a dict setting "
                "takes it, with one of str, int, float, bool, list, dict"
            )
        if not setting.required:
            error = _coerce(setting.default, setting)[1]
            if error:
                return f"{label}: the default does not fit: {error}"
    return None


def validate_settings(
    values: Mapping[str, Any], schema: tuple[Setting, ...]
) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """The settings with defaults filled in, and every problem found."""
    by_name = {setting.name: setting for setting in schema}
    problems = [
        SettingsProblem(
            key,
            f"unknown setting {key!r}; "
            + (valid_choices(key, list(by_name)) if by_name else "it takes no settings"),
        )
        for key in values
        if key not in by_name
    ]
    result: dict[str, Any] = {}
    for setting in schema:
        if setting.name not in values:
            if setting.required:
                hint = f" ({setting.help})" if setting.help else ""
                problems.append(SettingsProblem(None, f"missing setting {setting.name!r}{hint}"))
            else:
                result[setting.name] = setting.default
            continue
        value, error = _coerce(values[setting.name], setting)
        if error:
            problems.append(SettingsProblem(setting.name, error))
        else:
            result[setting.name] = value
    return result, problems
