"""What every part of a configuration file's check shares: the problems found, each at its
line (`ConfigChecker.problem`, `warn`, `note`), settings checked against a schema
(`checked_settings`), and skill names checked against the installed skills (`unknown_skill`).

A place in the file is a `Path_`: the keys and list indexes leading to a value in the YAML
(`("commands", "up", "do")`), not a file path."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.config_places import place
from assistant.plugin import Setting, SettingValueError, Skill, valid_choices
from assistant.settings import SettingsProblem, resolve_paths, validate_settings, with_defaults
from assistant.yaml_lines import LocatedDocument, Path_, spaceless_key

SWITCHED_OFF = ("off", False)
"""What a section or a skill is given to switch it off (`speech: off`, `skills: {lights:
off}`); YAML 1.2 reads `false` as False."""

ProblemLevel = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class ConfigProblem:
    """A problem at a line of a configuration file; with `level` "warning" a likely mistake,
    with "note" a choice worth knowing about."""

    file: Path
    line: int
    message: str
    level: ProblemLevel = "error"
    path: Path_ = field(default=(), compare=False)
    """Where in the file (the value the problem is of; () for the file itself)."""

    def __str__(self) -> str:
        prefix = "" if self.level == "error" else f"{self.level}: "
        return f"{self.file}:{self.line}: {prefix}{self.message}"


class ConfigError(ValueError):
    """One or more problems in a configuration file."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class ConfigChecker:
    """One configuration file being checked: every problem, warning and note found so far
    (each reported once, at the line of its `Path_`), checked against the installed skills."""

    def __init__(
        self,
        document: LocatedDocument,
        skills: Mapping[str, type[Skill]],
        unloadable: Mapping[str, str],
    ):
        self.document = document
        self.installed = skills
        self.unloadable = unloadable
        """Why each installed plugin that cannot be loaded cannot (by entry-point name)."""
        self.problems: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self.notes: list[ConfigProblem] = []
        self.folder = Path(os.path.abspath(document.file.parent))
        """Where a relative path in the file is taken from."""
        self.written: dict[Path_, str] = {}
        """Each path setting whose value resolve_paths changed, as the file writes it."""
        self.unloadable_at: dict[str, list[Path_]] = {}
        """Where the file names each installed skill that cannot be loaded (`unloadable`)."""

    def problem(self, path: Path_, message: str) -> None:
        found = self.at(path, message)
        if found not in self.problems:
            self.problems.append(found)

    def warn(self, path: Path_, message: str) -> None:
        self.warnings.append(self.at(path, message, "warning"))

    def note(self, path: Path_, message: str) -> None:
        self.notes.append(self.at(path, message, "note"))

    def at(self, path: Path_, message: str, level: ProblemLevel = "error") -> ConfigProblem:
        """`message` at the line of `path`, naming its key's line when the value is below it,
        and how a path setting was written."""
        document = self.document
        message += document.key_of(path) + self.as_resolved(path)
        return ConfigProblem(document.file, document.line_of(path), message, level, path)

    def setting_error(self, path: Path_, error: SettingValueError, where: str = "") -> None:
        """`error` reported at the key it names (dotted for a value inside one) under `path`,
        after `where` when given."""
        at = (*path, *error.key.split(".")) if error.key else path
        self.problem(at, f"{where}: {error}" if where else str(error))

    def as_resolved(self, path: Path_) -> str:
        """For a problem with a path setting the file writes otherwise than it is used: how
        it was written and why it became the path the message names (empty: another key)."""
        written = self.written.get(path)
        if written is None:
            return ""
        if written.startswith("~"):
            return f" (written {written!r}: `~` is the home folder, {Path.home()})"
        return (
            f" (written {written!r}: a relative path is taken from {self.folder}, the folder of "
            "the configuration file; correct it from there, or give an absolute path)"
        )

    def checked_settings(
        self, values: Any, schema: tuple[Setting, ...], path: Path_, fix: str = ""
    ) -> dict[str, Any]:
        """The settings checked against `schema`: every setting is there, a rejected one (its
        problem reported) at its default, so checking can go on. `fix`: what to write instead
        of values that are no mapping (unless they are a key with no space after its `:`)."""
        where = place(path)
        if values is None:
            values = {}
        if not isinstance(values, dict):
            spaceless = (
                spaceless_key(values, self.document.secrets) if isinstance(values, str) else None
            )
            fix = spaceless or fix
            self.problem(path, f"{where} must be a mapping of settings{f'; {fix}' if fix else ''}")
            return validate_settings({}, schema)[0]
        by_name = {setting.name: setting for setting in schema}
        values = {
            key: self.as_written(value, (*path, key), by_name.get(key))
            for key, value in values.items()
        }
        result, problems = validate_settings(values, schema)
        self.check_secrets_kept(values, schema, path)
        resolved = resolve_paths(result, schema, self.folder)
        for key, value in resolved.items():
            if value != result[key]:
                self.written[(*path, key)] = result[key]
        for problem in problems:
            self.report(problem, path, where)
        return with_defaults(resolved, schema)

    def check_secrets_kept(
        self, values: Mapping[str, Any], schema: tuple[Setting, ...], path: Path_
    ) -> None:
        """Warn at each secret setting given a value (a broker's password) when other users
        may read the file: the file's group, or everyone, as a copy made with the usual umask
        022 is. The file is looked at only when such a value is given."""
        given = [setting for setting in schema if setting.secret and values.get(setting.name)]
        if not given:
            return
        try:
            mode = self.document.file.stat().st_mode
        except OSError:  # no file (assistant.plugin_testing): nothing to guard
            return
        if not mode & 0o044:
            return
        for setting in given:
            self.warn(
                (*path, setting.name),
                f"{place((*path, setting.name))}: others may read this file (mode "
                f"{stat.filemode(mode)}), so its {setting.name} too; make it readable by "
                f"you alone: chmod 600 {self.document.file}",
            )

    def as_written(self, value: Any, path: Path_, setting: Setting | None) -> Any:
        """`value` with the numbers written where `setting` takes text as they were written."""
        texts = self.document.number_texts
        if setting is not None and setting.type is str:
            return texts.get(path, value)
        if setting is not None and setting.values is str and isinstance(value, dict):
            return {key: texts.get((*path, key), item) for key, item in value.items()}
        return value

    def report(self, problem: SettingsProblem, path: Path_, where: str) -> None:
        at = (problem.key, problem.item) if problem.item is not None else (problem.key,)
        self.problem((*path, *at) if problem.key else path, f"{where}: {problem.message}")

    def unknown_skill(self, path: Path_, skill: str) -> None:
        """`skill`, named at `path`, is not installed; an installed one that cannot be loaded
        is said once, by `report_unloadable`."""
        if skill in self.unloadable:
            self.unloadable_at.setdefault(skill, []).append(path)
            return
        installed = valid_choices(skill, sorted(self.installed), "installed skills")
        self.problem(path, f"unknown skill {skill!r}; {installed}")

    def report_unloadable(self) -> None:
        """Each place that names a skill that cannot be loaded: why, at the first line that
        names it, and at the others a pointer to that line (a plugin's reason is long)."""
        for skill, paths in self.unloadable_at.items():
            first, *others = sorted(paths, key=self.document.line_of)
            cannot = f"skill {skill!r} is installed but cannot be loaded"
            self.problem(first, f"{cannot}: {self.unloadable[skill]}")
            line = self.document.line_of(first)
            for path in others:
                if self.document.line_of(path) != line:
                    self.problem(path, f"{cannot} (line {line} says why)")
