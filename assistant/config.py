"""Load and validate config.yaml: every problem is reported with its file, line and the valid
choices, before anything runs."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.paths import config_dir
from assistant.plugin import (
    SITE_DEFAULT,
    Action,
    Setting,
    SettingValueError,
    Skill,
    valid_choices,
)
from assistant.ratelimit import WARNINGS_PER_MINUTE
from assistant.recognizer import command_labels
from assistant.settings import (
    SettingsProblem,
    path_value,
    resolve_paths,
    validate_settings,
    with_defaults,
)
from assistant.yaml_lines import (
    LocatedDocument,
    Path_,
    YamlSyntaxError,
    load_located,
    spaceless_key,
)

log = logging.getLogger("assistant.config")

DEFAULT_CONFIG = (Path(__file__).parent / "config.yaml").resolve()
"""The default configuration: the repository's config.yaml, linked into the package (and
installed with it as a file)."""
SOURCES = ("auto", "serial", "microphone", "emulator")
ROLES = ("single", "satellite", "hub")

DEVICE_SETTINGS = (
    Setting(
        "port", str, "auto", "serial port of the board, or auto to find it by USB id", path=True
    ),
    Setting("baudrate", int, 115200, "serial speed (the board's USB serial ignores it)", minimum=1),
    Setting(
        "heartbeat_timeout",
        float,
        3.0,
        "seconds of silence before the board is reported",
        minimum=0.1,
    ),
    Setting(
        "max_delay",
        float,
        5.0,
        "detections read from the board longer than this after it sent them are dropped",
        minimum=0,
    ),
    Setting(
        "max_line_errors",
        int,
        WARNINGS_PER_MINUTE,
        "warnings per minute of each kind (malformed lines, lost lines); the rest of a kind are "
        "summed up in one",
        minimum=0,
    ),
)
EMULATOR_SETTINGS = (
    Setting("heartbeat_ms", int, 1000, "how often the virtual board sends a heartbeat", minimum=10),
)
TOP_LEVEL_SETTINGS = (
    Setting("source", str, "auto", "where commands come from", SOURCES),
    Setting("role", str, "single", "single machine, or satellite/hub with MQTT", ROLES),
    Setting("site", str, SITE_DEFAULT, "name of this room (satellites tag their events with it)"),
    Setting(
        "focus_seconds",
        float,
        30.0,
        "how long the skill of a command's first action keeps focus once that action succeeded",
        minimum=0,
    ),
    Setting(
        "min_score",
        float,
        0.0,
        "detections scoring lower are ignored (the spotter's own thresholds apply first)",
        minimum=0,
        maximum=1,
    ),
    Setting("cooldown", float, 1.0, "seconds in which a repeated command is ignored", minimum=0),
    Setting(
        "skill_timeout",
        float,
        10.0,
        "seconds an action may run before it is abandoned",
        minimum=0.1,
    ),
    Setting("log_level", str, "INFO", "how much to log", ("DEBUG", "INFO", "WARNING", "ERROR")),
)
COMMAND_KEYS = ("do", "when", "min_score", "cooldown")
SWITCHED_OFF = ("off", False)
"""What a section or a skill is given to switch it off (`speech: off`, `skills: {lights:
off}`); YAML 1.2 reads `false` as False."""
ACTION_FORMS = "write an action as `skill.action` or {action: skill.action, with: {...}}"
NO_COMMANDS = (
    "no commands are mapped: every detection will be ignored (a file of your own replaces the "
    "default config.yaml completely, nothing is merged: start from a copy of it)"
)


def model_commands() -> tuple[str, ...]:
    """The commands the committed model can report: the labels on its card but silence and
    unknown."""
    from assistant.pipeline import DEFAULT_MODEL, load_contract

    return command_labels(load_contract(DEFAULT_MODEL).labels)


def section_schemas() -> dict[str, tuple[Setting, ...]]:
    """The settings of each top-level section (other than commands and skills)."""
    from assistant.listener import MICROPHONE_SETTINGS
    from assistant.phrase import PHRASE_SETTINGS
    from assistant.rooms.settings import MQTT_SETTINGS
    from assistant.speech import SPEECH_SETTINGS

    return {
        "device": DEVICE_SETTINGS,
        "emulator": EMULATOR_SETTINGS,
        "speech": SPEECH_SETTINGS,
        "phrase": PHRASE_SETTINGS,
        "microphone": MICROPHONE_SETTINGS,
        "mqtt": MQTT_SETTINGS,
    }


def secret_names(skills: Mapping[str, type[Skill]]) -> frozenset[str]:
    """The names of the settings and action parameters declared secret (`password`), of the
    sections and of `skills`: a problem found before the file is read as settings (a slip in
    the YAML) shows no value of a key so named either."""
    schemas = [TOP_LEVEL_SETTINGS, *section_schemas().values()]
    for skill in skills.values():
        schemas += [skill.settings, *(action.params for action in skill.actions().values())]
    return frozenset(setting.name for schema in schemas for setting in schema if setting.secret)


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


@dataclass(frozen=True)
class Config:
    """A validated configuration file; a top-level setting reads as an attribute
    (`config.source`)."""

    file: Path
    values: Mapping[str, Any]
    """Validated top-level settings (source, role, site, focus_seconds, ...)."""
    sections: Mapping[str, Mapping[str, Any]]
    """Validated settings of each section (device, emulator, speech, ...)."""
    commands: Mapping[str, CommandRule]
    skills: Mapping[str, Mapping[str, Any]]
    """Validated settings of every skill the configuration uses."""
    model_commands: tuple[str, ...] = ()
    """The commands the microphone model can report (the labels on its card)."""
    warnings: tuple[ConfigProblem, ...] = ()
    """What is valid but most likely not meant (no commands mapped, a command doing nothing)."""
    skills_off: tuple[str, ...] = ()
    """The skills `skills:` switches off (`name: off`): they do not run."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class ConfigProblem:
    """A problem (or with `warning`, a likely mistake) at a line of a configuration file."""

    file: Path
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


class ConfigError(ValueError):
    """One or more problems in a configuration file."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def user_config_path() -> Path:
    """The user's configuration file (XDG), whether or not it exists."""
    return config_dir() / "config.yaml"


def config_path(explicit: str | Path | None = None) -> Path:
    """The file to use: the one given (from the current folder, `~` expanded), else the user's
    (XDG) config, else the default."""
    if explicit:
        return Path(path_value(str(explicit), Path.cwd()))
    user = user_config_path()
    return user if user.exists() else DEFAULT_CONFIG


def load_config(
    path: str | Path,
    skills: Mapping[str, type[Skill]],
    unloadable: Mapping[str, str] | None = None,
    reloading: bool = False,
) -> Config:
    """Read and validate `path`. `skills` are the installed skills by name; `unloadable`, why
    each installed plugin that cannot be loaded cannot (by entry-point name). Its warnings are
    logged (so `config check`, the start and a reload all show them). An empty file is valid
    (nothing mapped, with a warning), but not when `reloading`: a file found empty then is most
    likely being written, and the running configuration is worth more than none."""
    file = Path(path)
    try:
        data = file.read_bytes()
        text = data.decode("utf-8")
    except OSError as error:
        problem = ConfigProblem(file, 1, f"cannot read the file: {error.strerror}")
        raise ConfigError([problem]) from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        message = f"the file is not UTF-8 text (byte 0x{data[error.start]:02x}); save it as UTF-8"
        raise ConfigError([ConfigProblem(file, line, message)]) from None
    if reloading and not text.strip():
        message = "the file is empty (still being written?); reload once it is saved"
        raise ConfigError([ConfigProblem(file, 1, message)])
    try:
        document = load_located(text, file, secret_names(skills))
    except YamlSyntaxError as error:
        raise ConfigError([ConfigProblem(file, error.line, error.message)]) from None
    config = _Validator(document, skills, unloadable or {}).run()
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def check_skill_use(
    skill: type[Skill],
    settings: Mapping[str, Any],
    calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
    folder: Path | None = None,
) -> tuple[dict[str, Any], list[ActionCall], list[str]]:
    """`skill` checked as a configuration checks it, given `settings` as its `skills.<name>:`
    section and each (action, params) of `calls` as an action of a command with its `with:`
    (types, bounds, unknown names, check_settings, check_params): the settings and the calls
    with the defaults filled in and paths resolved from `folder` (None: the current folder),
    and what is wrong, as `config check` says it without a file's lines (for
    assistant.plugin_testing)."""
    name = skill.name
    document = LocatedDocument(
        data={"skills": {name: settings}}, lines={}, file=Path(folder or Path.cwd(), name)
    )
    validator = _Validator(document, {name: skill}, {})
    for action, params in calls:
        call = f"{name}.{action}"
        validator.action_call({"action": call, "with": params}, (call,))
    values = validator.skill_settings(document.data["skills"]).get(name, {})
    made = [call for call, _, _ in validator.calls]
    return values, made, [problem.message for problem in validator.problems]


class _Validator:
    """Checks a parsed configuration file, collecting every problem rather than stopping at the
    first: `run` checks the top level and each section (`checked_settings` against its schema,
    then `check_sections`), the commands (`commands` down to `action_call`), and the skills'
    settings and own checks (`skill_settings`). Each problem or warning goes through `problem`
    or `warn`, at the line of a `Path_` (the keys and list indexes leading to a value in the
    YAML, not a file path); `run` raises ConfigError with all of them, sorted by line."""

    def __init__(
        self,
        document: LocatedDocument,
        skills: Mapping[str, type[Skill]],
        unloadable: Mapping[str, str],
    ):
        self.document = document
        self.installed = skills
        self.secrets = secret_names(skills)
        self.unloadable = unloadable
        self.problems: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self.folder = Path(os.path.abspath(document.file.parent))
        """Where a relative path in the file is taken from."""
        self.written: dict[Path_, str] = {}
        """Each path setting whose value resolve_paths changed, as the file writes it."""
        self.model_commands: tuple[str, ...] | None = None
        """What the microphone model can report (None: its card could not be read)."""
        self.model_name = ""
        self.unloadable_at: dict[str, list[Path_]] = {}
        """Where the file names each installed skill that cannot be loaded (`unloadable`)."""
        self.skills_off: list[str] = []
        """The skills `skills:` switches off (`name: off`)."""
        self.calls: list[tuple[ActionCall, Path_, bool]] = []
        """Every action call under `commands:`, in the file's order, with the path of its `with:`
        and whether that passed its checks (for Skill.check_params, which gets only calls that
        did, and for the command that first uses a skill)."""
        self.when_rules: list[Path_] = []
        """Where each `when:` rule names the skill whose focus it waits for
        (`("commands", command, "when", skill)`)."""

    def problem(self, path: Path_, message: str) -> None:
        message += self.as_resolved(path)
        found = ConfigProblem(self.document.file, self.document.line_of(path), message)
        if found not in self.problems:
            self.problems.append(found)

    def warn(self, path: Path_, message: str) -> None:
        line = self.document.line_of(path)
        message += self.as_resolved(path)
        self.warnings.append(ConfigProblem(self.document.file, line, message, warning=True))

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
        self, values: Any, schema: tuple[Setting, ...], path: Path_
    ) -> dict[str, Any]:
        """The settings checked against `schema`: every setting is there, a rejected one (its
        problem reported) at its default, so checking can go on."""
        where = ".".join(map(str, path)) or "the top level"
        if values is None:
            values = {}
        if not isinstance(values, dict):
            spaceless = spaceless_key(values, self.secrets) if isinstance(values, str) else None
            self.problem(path, f"{where} must be a mapping of settings" + _fix(spaceless))
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
        022 is."""
        try:
            mode = self.document.file.stat().st_mode
        except OSError:  # no file (assistant.plugin_testing): nothing to guard
            return
        if not mode & 0o044:
            return
        for setting in schema:
            if setting.secret and values.get(setting.name):
                self.warn(
                    (*path, setting.name),
                    f"{'.'.join(map(str, (*path, setting.name)))}: others may read this file (mode "
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

    def run(self) -> Config:
        data = self.document.data
        if not isinstance(data, dict):
            self.problem((), "the configuration must be a mapping of settings")
            raise ConfigError(self.problems)
        schemas = section_schemas()
        known = {s.name for s in TOP_LEVEL_SETTINGS} | set(schemas) | {"commands", "skills"}
        top = {key: value for key, value in data.items() if key in known and key not in schemas}
        for key in data:
            if key not in known:
                self.problem(
                    (key,), f"unknown section {key!r}; {valid_choices(key, sorted(known))}"
                )
        top.pop("commands", None)
        top.pop("skills", None)
        values = self.checked_settings(top, TOP_LEVEL_SETTINGS, ())
        sections, mistyped = {}, set()
        for name, schema in schemas.items():
            known_problems = len(self.problems)
            sections[name] = self.checked_settings(
                self.section_value(name, schema), schema, (name,)
            )
            if len(self.problems) > known_problems:
                mistyped.add(name)
        self.check_sections(values, sections, mistyped)
        commands = self.commands(data.get("commands"), values)
        skills = self.skill_settings(data.get("skills"))
        if values["role"] == "satellite":
            self.warn_unused_on_satellite()
        self.report_unloadable()
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda problem: problem.line))
        warnings = tuple(sorted(self.warnings, key=lambda warning: warning.line))
        reported = self.model_commands or ()
        return Config(
            self.document.file,
            values,
            sections,
            commands,
            skills,
            reported,
            warnings,
            tuple(self.skills_off),
        )

    def section_value(self, name: str, schema: tuple[Setting, ...]) -> Any:
        """The section's settings; `section: off` is short for `{enabled: false}` where the
        section can be switched off."""
        value = self.document.data.get(name)
        if value not in SWITCHED_OFF:
            if isinstance(value, str) and _switchable(schema):
                self.problem(
                    (name,),
                    f"{name} must be a mapping of settings, or `off` to switch it off; "
                    f"not {value!r}",
                )
                return {}
            return value
        if _switchable(schema):
            return {"enabled": False}
        switchable = sorted(other for other, s in section_schemas().items() if _switchable(s))
        self.problem(
            (name,),
            f"{name} cannot be switched off with `off` (only {', '.join(switchable)} can); "
            "give its settings or remove it",
        )
        return {}

    def warn_unused_on_satellite(self) -> None:
        """Warn at `commands:` and `skills:` on a satellite, which uses neither: the hub runs
        every room's commands, as its own file maps them."""
        hub_runs = {
            "commands": "the hub maps the commands of every room, with its own `commands:` (a "
            "command does the same in each room)",
            "skills": "the hub runs the skills, with its own `skills:`",
        }
        for key, why in hub_runs.items():
            if self.document.data.get(key):
                self.warn(
                    (key,),
                    f"`{key}:` is not used on a satellite: {why}; make the change in the hub's "
                    f"file, and remove `{key}:` here",
                )

    def check_sections(
        self, values: dict[str, Any], sections: dict[str, dict], mistyped: set[str]
    ) -> None:
        """What a run would refuse although every value has the right type (sections with a
        value of the wrong type are left to that message), a voice the speech engine does not
        have included. Notes what the microphone model can report, for the commands."""
        from assistant.espeak import check_voice
        from assistant.listener import check_thresholds, model_file, model_labels
        from assistant.rooms.settings import MqttSettings
        from assistant.rooms.topics import check_level
        from assistant.vosk_models import check_model

        def microphone(section: dict[str, Any]) -> None:
            labels = model_labels(section)
            self.model_commands = command_labels(labels)
            self.model_name = model_file(section["model"]).name
            check_thresholds(section, labels)

        def speech(section: dict[str, Any]) -> None:
            unchecked = check_voice(section)
            if unchecked:
                self.warn(("speech", "voice"), unchecked)

        checks = (
            ("mqtt", MqttSettings.from_section),
            ("microphone", microphone),
            ("speech", speech),
        )
        for name, check in checks:
            if name in mistyped:
                continue
            try:
                check(sections[name])
            except SettingValueError as error:
                self.problem(_under((name,), error), str(error))
        if "phrase" not in mistyped and sections["phrase"]["model"]:
            vosk = check_model(Path(sections["phrase"]["model"]))
            if vosk:
                self.warn(("phrase", "model"), f"phrase.model: {vosk}")
        if values["role"] != "single":
            try:
                check_level(values["site"], "site")
            except ValueError as error:
                self.problem(("site",), str(error))
        if values["role"] == "satellite" and values["site"] == SITE_DEFAULT:
            self.warn(
                ("role",),
                f"a satellite at the default site {SITE_DEFAULT!r} shares it with a hub left at "
                "the default: give each room its own `site:`",
            )

    def commands(self, raw: Any, values: dict[str, Any]) -> dict[str, CommandRule]:
        if raw in (None, {}):
            if values["role"] != "satellite":  # a satellite forwards; the hub's commands decide
                self.warn(("commands",), NO_COMMANDS)
            return {}
        if not isinstance(raw, dict):
            self.problem(("commands",), "commands must map each command to its actions")
            return {}
        reported = self.model_commands

        def stray(key: str) -> bool:
            """Whether `key` is a key of a command that lost its indent (`do:` under `on:`)."""
            return key in COMMAND_KEYS and (reported is None or key not in reported)

        emptied = {above for above, key in itertools.pairwise(raw) if stray(key) and not raw[above]}
        """Commands left empty by their keys' lost indent: the stray key's problem says so."""
        rules = {}
        previous = ""  # the command above: where a key of a command that lost its indent goes
        for command, spec in raw.items():
            path = ("commands", command)
            if stray(command):
                under = f"`{previous}:`" if previous else "its command, e.g. `on:`"
                self.problem(
                    path,
                    f"`{command}` is a key of a command, not a command: indent it under {under}",
                )
                continue
            previous = command
            if command in emptied:
                continue
            if reported is not None and command not in reported:
                self.problem(
                    path,
                    f"unknown command {command!r}; "
                    + valid_choices(command, reported, f"the model {self.model_name} reports"),
                )
                continue
            rule = self.command_rule(command, spec, values)
            if rule is not None:
                rules[command] = rule
        return rules

    def command_rule(self, command: str, spec: Any, values: dict[str, Any]) -> CommandRule | None:
        path = ("commands", command)
        defaults = {"min_score": values["min_score"], "cooldown": values["cooldown"]}
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
            self.problem(path, f"command {command!r} needs `do:` with a skill action{hint}")
            return None
        when = spec.get("when") or {}
        if not isinstance(when, dict):
            self.problem((*path, "when"), "`when:` must map a skill name to actions")
            when = {}
        if spec["do"] == [] and not when:
            self.warn((*path, "do"), f"command {command!r} does nothing: `do:` is empty")
        for skill, actions in when.items():
            self.when_rules.append((*path, "when", skill))
            if skill not in self.installed:
                self.unknown_skill((*path, "when", skill), skill)
            if actions == []:
                self.warn(
                    (*path, "when", skill),
                    f"command {command!r} does nothing while {skill} has focus: the list is empty",
                )
        limits = self.checked_settings(
            {k: spec[k] for k in ("min_score", "cooldown") if k in spec},
            tuple(
                dataclasses.replace(setting, default=defaults[setting.name])
                for setting in TOP_LEVEL_SETTINGS
                if setting.name in defaults
            ),
            path,
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
        self.problem(path, f"unknown key {key!r} in command {command!r}; {hint}")

    def action_list(self, raw: Any, path: Path_) -> tuple[ActionCall, ...]:
        items = raw if isinstance(raw, list) else [raw]
        calls = (
            self.action_call(item, (*path, i) if raw is items else path)
            for i, item in enumerate(items)
        )
        return tuple(call for call in calls if call is not None)

    def action_call(self, raw: Any, path: Path_) -> ActionCall | None:
        spec = raw if isinstance(raw, dict) else {"action": raw}
        found = self.find_action(spec["action"], path) if "action" in spec else None
        stray = [key for key in spec if key not in ("action", "with")]
        for key in stray:
            self.problem((*path, key), self.stray_key(key, spec[key], found, path))
        if "action" not in spec and not stray:
            self.problem(path, f"an action needs `action: skill.action`; {ACTION_FORMS}")
        if found is None or stray:
            return None
        skill, action = found
        known_problems = len(self.problems)
        params = self.checked_settings(spec.get("with") or {}, action.params, (*path, "with"))
        call = ActionCall(skill, action.name, params)
        self.calls.append((call, (*path, "with"), len(self.problems) == known_problems))
        return call

    def find_action(self, raw: Any, path: Path_) -> tuple[str, Action] | None:
        """The skill and action `skill.action` names (None: the problem is reported)."""
        if raw is None:
            self.problem(path, f"{_written(path)} is empty; {ACTION_FORMS}")
            return None
        if not isinstance(raw, str) or raw.count(".") != 1 or ":" in raw:
            # `do:lights.on` is a key with no space after its `:`; `lights:on` is not
            keyed = isinstance(raw, str) and "." in raw and ":" in raw.split(".")[0]
            spaceless = spaceless_key(raw) if keyed else None
            self.problem(path, f"{raw!r} is not an action; {spaceless or ACTION_FORMS}")
            return None
        skill, action = raw.split(".")
        if skill not in self.installed:
            self.unknown_skill(path, skill)
            return None
        actions: dict[str, Action] = self.installed[skill].actions()
        if action not in actions:
            self.problem(
                path,
                f"skill {skill!r} has no action {action!r}; "
                + valid_choices(action, sorted(actions)),
            )
            return None
        return skill, actions[action]

    def stray_key(self, key: str, value: Any, found: tuple[str, Action] | None, path: Path_) -> str:
        """Why `key` cannot stand in an action, and where it goes instead."""
        if found is not None and key in {param.name for param in found[1].params}:
            return f"{key!r} is a parameter of {found[0]}.{found[1].name}: indent it under `with:`"
        if key not in COMMAND_KEYS:
            return f"unknown key {key!r} in an action; " + valid_choices(key, ("action", "with"))
        if "when" in path:
            action = value if isinstance(value, str) else "skill.action"
            return (
                f"`{key}` is a key of a command, not of an action; under `when:` a skill maps "
                f"straight to its actions: `{path[3]}: {action}`"
            )
        if len(path) == 2:  # the short form: the action stands for the whole command
            return (
                f"`{key}` is a key of the command, not of its action: write "
                f"`{path[1]}: {{do: {{action: ..., with: {{...}}}}, {key}: ...}}`"
            )
        return f"`{key}` is a key of the command, not of its action: put it beside `do:`"

    def unknown_skill(self, path: Path_, skill: str) -> None:
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

    def skill_settings(self, raw: Any) -> dict[str, dict]:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.problem(("skills",), "skills must map each skill name to its settings")
            raw = {}
        used_by: dict[str, str] = {}  # skill -> the first command that uses it
        for call, path, _ in self.calls:  # path: ("commands", command, ...)
            used_by.setdefault(call.skill, path[1])
        result = {}
        for name in sorted(set(raw) | set(used_by)):
            if name not in self.installed:
                if name in raw:
                    self.unknown_skill(("skills", name), name)
                continue
            section = raw.get(name)
            if section in SWITCHED_OFF:
                self.switched_off(name)
                continue
            section = self.without_switch(name, section)
            skill = self.installed[name]
            missing = [setting for setting in skill.settings if setting.required]
            if name not in raw and missing:  # no section to point at: point at its user
                for setting in missing:
                    self.problem(
                        ("commands", used_by[name]),
                        f"skill {name!r} needs setting {setting.name!r} ({setting.help}): add "
                        f"it under `skills:` as `{name}: {{{setting.name}: ...}}`",
                    )
                continue
            known_problems = len(self.problems)
            result[name] = self.checked_settings(section, skill.settings, ("skills", name))
            if len(self.problems) == known_problems:
                self.run_skill_checks(name, skill, result[name])
        return result

    def without_switch(self, name: str, section: Any) -> Any:
        """A skill's section, reporting the ways of switching it off that do not work (`on`,
        `enabled: false`) with the one that does; an `enabled:` the skill does not declare is
        left out, its problem said."""
        off = f"`{name}: off` switches it off (comment its settings out to keep them)"
        if isinstance(section, bool) or (isinstance(section, str) and not spaceless_key(section)):
            self.problem(
                ("skills", name),
                f"skills.{name} must be a mapping of its settings, or `off`; not {section!r}",
            )
            return {}
        declared = {setting.name for setting in self.installed[name].settings}
        if isinstance(section, dict) and "enabled" in section and "enabled" not in declared:
            self.problem(
                ("skills", name, "enabled"), f"skill {name!r} has no setting `enabled`; {off}"
            )
            return {key: value for key, value in section.items() if key != "enabled"}
        return section

    def switched_off(self, name: str) -> None:
        """`skills: {name: off}`: the skill does not run, so each action of it a command maps,
        and each `when:` rule that waits for its focus, is a problem at its line."""
        self.skills_off.append(name)
        off = f"skill {name!r} is switched off (`{name}: off`, line "
        off += f"{self.document.line_of(('skills', name))})"
        dead = [rule for rule in self.when_rules if rule[-1] == name]
        for rule in dead:
            self.problem(
                rule,
                f"{off}, so it never has focus and this `when:` rule never applies; remove the "
                f"rule, or remove `{name}: off`",
            )
        for call, path, _ in self.calls:
            if call.skill != name or path[:4] in dead:  # said once, for its whole rule
                continue
            if path[2:3] == ("when",):
                fix = "give this `when:` rule another action, remove the rule"
            else:
                fix = (
                    "map the command to another action (`do: []` keeps only its `when:`), "
                    "remove the command"
                )
            self.problem(
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
            self.problem(_under(path, error), f"{where}: {error}")
            return
        except Exception as error:  # a plugin bug: reported, and the check goes on
            problem = f"the skill's {check.__name__} crashed ({type(error).__name__}: {error})"
        if problem:
            self.problem(path, f"{where}: {problem}")


def _under(path: Path_, error: SettingValueError) -> Path_:
    """Where `error` points: the key it names (dotted for a value inside one) under `path`."""
    return (*path, *error.key.split(".")) if error.key else path


def _written(path: Path_) -> str:
    """How the place `path` names reads in the file: `do:`, `media:` or a list item."""
    return f"`{path[-1]}:`" if isinstance(path[-1], str) else "this list item"


def _fix(fix: str | None) -> str:
    """`fix` as the end of a message that has one (empty: none)."""
    return f"; {fix}" if fix else ""


def _switchable(schema: tuple[Setting, ...]) -> bool:
    return any(setting.name == "enabled" for setting in schema)
