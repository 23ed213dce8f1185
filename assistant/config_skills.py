"""The `skills:` section: each skill named there or used by a command, switched off (`name:
off`) or given its settings, checked against its schema and by its own checks (of its settings,
and of the parameters of each call of it the commands make)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assistant.config_checker import SWITCHED_OFF, ConfigChecker
from assistant.config_commands import ActionCall, when_rule
from assistant.plugin import SettingValueError, Skill
from assistant.yaml_lines import Path_, spaceless_key


class SkillsChecker:
    """Checks `skills:`, reporting through `checker`, against the `calls` and `when_rules` a
    CommandChecker found (see there)."""

    def __init__(
        self,
        checker: ConfigChecker,
        calls: Sequence[tuple[ActionCall, Path_, bool]],
        when_rules: Sequence[Path_],
    ):
        self.checker = checker
        self.calls = calls
        self.when_rules = when_rules
        self.skills_off: list[str] = []
        """The skills `skills:` switches off (`name: off`)."""

    def settings(self, raw: Any) -> dict[str, dict]:
        """The settings of each skill the file configures or a command uses, from `raw`, the
        value of `skills:`, defaults filled in (none for a skill switched off)."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.checker.problem(("skills",), "skills must map each skill name to its settings")
            raw = {}
        used = {call.skill for call, _, _ in self.calls}
        result = {}
        for name in sorted(set(raw) | used):
            if name not in self.checker.installed:
                if name in raw:
                    self.checker.unknown_skill(("skills", name), name)
                continue
            section = raw.get(name)
            if section in SWITCHED_OFF:
                self.switched_off(name)
                continue
            section = self.without_switch(name, section)
            skill = self.checker.installed[name]
            if name not in raw and any(setting.required for setting in skill.settings):
                self.required_missing(name, skill)
                continue
            known_problems = len(self.checker.problems)
            result[name] = self.checker.checked_settings(section, skill.settings, ("skills", name))
            if len(self.checker.problems) == known_problems:
                self.run_skill_checks(name, skill, result[name])
        return result

    def required_missing(self, name: str, skill: type[Skill]) -> None:
        """A skill with required settings that a command uses but `skills:` does not name:
        each setting it needs, at the first command that uses it (there is no section to point
        at)."""
        first_user = next(path[1] for call, path, _ in self.calls if call.skill == name)
        for setting in skill.settings:
            if setting.required:
                self.checker.problem(
                    ("commands", first_user),
                    f"skill {name!r} needs setting {setting.name!r} ({setting.help}): add "
                    f"it under `skills:` as `{name}: {{{setting.name}: ...}}`",
                )

    def without_switch(self, name: str, section: Any) -> Any:
        """A skill's section, reporting the ways of switching it off that do not work (`on`,
        `enabled: false`) with the one that does; an `enabled:` the skill does not declare is
        left out, its problem said."""
        off = f"`{name}: off` switches it off (comment its settings out to keep them)"
        if isinstance(section, bool) or (isinstance(section, str) and not spaceless_key(section)):
            self.checker.problem(
                ("skills", name),
                f"skills.{name} must be a mapping of its settings, or `off`; not {section!r}",
            )
            return {}
        declared = {setting.name for setting in self.checker.installed[name].settings}
        if isinstance(section, dict) and "enabled" in section and "enabled" not in declared:
            self.checker.problem(
                ("skills", name, "enabled"), f"skill {name!r} has no setting `enabled`; {off}"
            )
            return {key: value for key, value in section.items() if key != "enabled"}
        return section

    def switched_off(self, name: str) -> None:
        """`skills: {name: off}`: the skill does not run, so each action of it a command maps,
        and each `when:` rule that waits for its focus, is a problem at its line."""
        self.skills_off.append(name)
        off = f"skill {name!r} is switched off (`{name}: off`, line "
        off += f"{self.checker.document.line_of(('skills', name))})"
        dead = [rule for rule in self.when_rules if rule[-1] == name]
        for rule in dead:
            self.checker.problem(
                rule,
                f"{off}, so it never has focus and this `when:` rule never applies; remove the "
                f"rule, or remove `{name}: off`",
            )
        for call, path, _ in self.calls:
            rule = when_rule(path)
            if call.skill != name or rule in dead:  # said once, for its whole rule
                continue
            if rule is not None:
                fix = "give this `when:` rule another action, remove the rule"
            else:
                fix = (
                    "map the command to another action (`do: []` keeps only its `when:`), "
                    "remove the command"
                )
            self.checker.problem(
                path[:-1],  # the action, not its `with:`
                f"{off}, so {call} cannot run; {fix}, or remove `{name}: off`",
            )

    def run_skill_checks(self, name: str, skill: type[Skill], settings: dict[str, Any]) -> None:
        """The skill's own checks of its settings and of the parameters of each call of it
        (Skill.check_settings, Skill.check_params)."""
        self.report_skill_check(("skills", name), f"skills.{name}", skill.check_settings, settings)
        for call, path, checked in self.calls:
            if call.skill == name and checked:  # not on defaults put in for rejected values
                check = skill.check_params
                self.report_skill_check(path, str(call), check, call.action, call.params, settings)

    def report_skill_check(
        self, path: Path_, where: str, check: Callable[..., str | None], *args: Any
    ) -> None:
        """Run one of a skill's checks, reporting what it finds at `path` (or at the key a
        SettingValueError names under it)."""
        try:
            problem = check(*args)
        except SettingValueError as error:
            self.checker.setting_error(path, error, where)
            return
        except Exception as error:  # a plugin bug: reported, and the check goes on
            problem = f"the skill's {check.__name__} crashed ({type(error).__name__}: {error})"
        if problem:
            self.checker.problem(path, f"{where}: {problem}")
