"""Load and validate config.yaml: every problem is reported with its file, line and the valid
choices, before anything runs.

This module reads the file, checks its top level and sections (device, emulator, speech, ...)
and puts the parts together in a `Config`; the checks of `commands:` are in
config_commands.py, of `skills:` in config_skills.py, and what they share (the problems at
their lines, settings against a schema) in config_checker.py."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config_checker import SWITCHED_OFF, ConfigChecker, ConfigError, ConfigProblem
from assistant.config_commands import COMMAND_LIMITS, ActionCall, CommandChecker, CommandRule
from assistant.config_skills import SkillsChecker
from assistant.paths import config_dir
from assistant.plugin import SITE_DEFAULT, Setting, SettingValueError, Skill, valid_choices
from assistant.ratelimit import WARNINGS_PER_MINUTE
from assistant.recognizer import command_labels
from assistant.settings import path_value
from assistant.yaml_lines import LocatedDocument, YamlSyntaxError, load_located

if TYPE_CHECKING:
    from assistant.features import FeatureContract

log = logging.getLogger("assistant.config")

DEFAULT_CONFIG = (Path(__file__).parent / "config.yaml").resolve()
"""The default configuration: the repository's config.yaml, linked into the package (and
installed with it as a file)."""
MAX_FILE_BYTES = 1024 * 1024
"""The largest configuration file read (one with every setting and a hundred commands takes
a few dozen KiB)."""
SOURCES = ("auto", "serial", "microphone", "emulator")
ROLES = ("single", "satellite", "hub")

DEVICE_SETTINGS = (
    Setting(
        "port", str, "auto", "serial port of the board, or auto to find it by USB id", path=True
    ),
    Setting(
        "baudrate",
        int,
        115200,
        "serial speed (the board's USB serial ignores it)",
        minimum=1,
        maximum=20_000_000,  # above any serial adapter's; past 2**31 the port cannot be opened
    ),
    Setting(
        "heartbeat_timeout",
        float,
        3.0,
        "seconds of silence before the board is reported",
        minimum=0.1,
        maximum=3600,
    ),
    Setting(
        "max_delay",
        float,
        5.0,
        "detections read from the board longer than this after it sent them are dropped",
        minimum=0,
        maximum=3600,
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
    Setting(
        "heartbeat_ms",
        int,
        1000,
        "how often the virtual board sends a heartbeat",
        minimum=10,
        maximum=60_000,
    ),
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
        maximum=86400,
    ),
    Setting(
        "min_score",
        float,
        0.0,
        "detections scoring lower are ignored (the spotter's own thresholds apply first)",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "cooldown",
        float,
        1.0,
        "seconds in which a repeated command is ignored",
        minimum=0,
        maximum=86400,
    ),
    Setting(
        "skill_timeout",
        float,
        10.0,
        "seconds an action may run before it is abandoned",
        minimum=0.1,
        maximum=3600,  # a wait far longer overflows the system's clock
    ),
    Setting("log_level", str, "INFO", "how much to log", ("DEBUG", "INFO", "WARNING", "ERROR")),
)


def model_commands() -> tuple[str, ...]:
    """The commands the committed model can report: the labels on its card but silence and
    unknown."""
    from assistant.model_files import DEFAULT_MODEL, load_contract

    return command_labels(load_contract(DEFAULT_MODEL).labels)


def section_schemas() -> dict[str, tuple[Setting, ...]]:
    """The settings of each top-level section (other than commands and skills)."""
    from assistant.microphone_settings import MICROPHONE_SETTINGS
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
    notes: tuple[ConfigProblem, ...] = ()
    """What is valid and may well be meant, but worth knowing (thresholds overriding those the
    microphone model's card gives)."""
    model_thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """The thresholds the microphone model's card gives its commands, as a board built with the
    model reports them (microphone.thresholds, the desktop's overrides, aside)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


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
    logged (so `config check`, the start and a reload all show them), its notes at INFO (the
    start and a reload; `config check` prints them). An empty file is valid
    (nothing mapped, with a warning), but not when `reloading`: a file found empty then is most
    likely being written, and the running configuration is worth more than none."""
    file = Path(path)
    text = read_config_text(file)
    if reloading and not text.strip():
        message = "the file is empty (still being written?); reload once it is saved"
        raise ConfigError([ConfigProblem(file, 1, message)])
    try:
        document = load_located(text, file, secret_names(skills))
    except YamlSyntaxError as error:
        raise ConfigError([ConfigProblem(file, error.line, error.message)]) from None
    config = _checked(document, skills, unloadable or {})
    for warning in config.warnings:
        log.warning("%s", warning)
    for note in config.notes:
        log.info("%s", note)
    return config


def read_config_text(file: Path) -> str:
    """The text of the configuration file `file`; ConfigError when it cannot be read (missing,
    a folder, not UTF-8, too large)."""
    try:
        with file.open("rb") as opened:
            data = opened.read(MAX_FILE_BYTES + 1)  # /dev/zero, say, never ends
        if len(data) > MAX_FILE_BYTES:
            message = (
                f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB, far more than a "
                "configuration takes: name the configuration file, or cut this one down"
            )
            raise ConfigError([ConfigProblem(file, 1, message)])
        text = data.decode("utf-8")
    except OSError as error:
        problem = ConfigProblem(file, 1, f"cannot read the file: {error.strerror}")
        raise ConfigError([problem]) from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        message = f"the file is not UTF-8 text (byte 0x{data[error.start]:02x}); save it as UTF-8"
        raise ConfigError([ConfigProblem(file, line, message)]) from None
    return text


def check_skill_use(
    skill: type[Skill],
    settings: Mapping[str, Any],
    calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
    folder: Path | None = None,
) -> tuple[dict[str, Any], list[ActionCall], list[str], list[str]]:
    """`skill` checked as a configuration checks it, given `settings` as its `skills.<name>:`
    section and each (action, params) of `calls` as an action of a command with its `with:`
    (types, bounds, unknown names, check_settings, check_params): the settings and the calls
    with the defaults filled in and paths resolved from `folder` (None: the current folder),
    then what is wrong with the settings and what with the calls, as `config check` says it
    without a file's lines (for assistant.plugin_testing)."""
    name = skill.name
    document = LocatedDocument(
        data={"skills": {name: settings}},
        lines={},
        file=Path(folder or Path.cwd(), name),
        secrets=secret_names({name: skill}),
    )
    checker = ConfigChecker(document, {name: skill}, {})
    commands = CommandChecker(checker)
    for action, params in calls:
        call = f"{name}.{action}"
        commands.action_call({"action": call, "with": params}, (call,))
    skills = SkillsChecker(checker, commands.calls, commands.when_rules)
    values = skills.settings(document.data["skills"]).get(name, {})
    made = [call for call, _, _ in commands.calls]
    of_settings: list[str] = []
    of_calls: list[str] = []
    for problem in checker.problems:
        (of_settings if problem.path[:1] == ("skills",) else of_calls).append(problem.message)
    return values, made, of_settings, of_calls


def _checked(
    document: LocatedDocument,
    skills: Mapping[str, type[Skill]],
    unloadable: Mapping[str, str],
) -> Config:
    """`document` checked part by part, collecting every problem rather than stopping at the
    first, in the order the parts need: the top level and the sections (which say what the
    microphone model can report), the commands (the calls they make), then the skills (whose
    own checks take those calls). Raises ConfigError with all the problems, sorted by line."""
    checker = ConfigChecker(document, skills, unloadable)
    data = document.data
    if not isinstance(data, dict):
        checker.problem((), "the configuration must be a mapping of settings")
        raise ConfigError(checker.problems)
    values, sections, mistyped = _top_level_and_sections(checker, data)
    contract, model_name = _check_sections(checker, values, sections, mistyped)
    reported = command_labels(contract.labels) if contract else None
    limits = tuple(  # a command's own min_score and cooldown default to the top level's
        dataclasses.replace(setting, default=values[setting.name])
        for setting in TOP_LEVEL_SETTINGS
        if setting.name in COMMAND_LIMITS
    )
    commands = CommandChecker(checker, limits, reported, model_name)
    satellite = values["role"] == "satellite"
    rules = commands.rules(data.get("commands"), satellite)
    skills_checker = SkillsChecker(checker, commands.calls, commands.when_rules)
    skill_settings = skills_checker.settings(data.get("skills"))
    if satellite:
        _warn_unused_on_satellite(checker)
    checker.report_unloadable()
    if checker.problems:
        raise ConfigError(sorted(checker.problems, key=lambda problem: problem.line))
    return Config(
        document.file,
        values,
        sections,
        rules,
        skill_settings,
        reported or (),
        tuple(sorted(checker.warnings, key=lambda warning: warning.line)),
        tuple(skills_checker.skills_off),
        tuple(checker.notes),
        contract.thresholds if contract else {},
    )


def _top_level_and_sections(
    checker: ConfigChecker, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict], set[str]]:
    """The top-level settings and each section's, checked against their schemas, and the
    sections that had a problem (their further checks are left out)."""
    schemas = section_schemas()
    known = {s.name for s in TOP_LEVEL_SETTINGS} | set(schemas) | {"commands", "skills"}
    for key in data:
        if key not in known:
            checker.problem((key,), f"unknown section {key!r}; {valid_choices(key, sorted(known))}")
    top = {key: value for key, value in data.items() if key in known and key not in schemas}
    top.pop("commands", None)
    top.pop("skills", None)
    values = checker.checked_settings(top, TOP_LEVEL_SETTINGS, ())
    sections, mistyped = {}, set()
    for name, schema in schemas.items():
        known_problems = len(checker.problems)
        section = _section_value(checker, name, schema)
        sections[name] = checker.checked_settings(section, schema, (name,))
        if len(checker.problems) > known_problems:
            mistyped.add(name)
    return values, sections, mistyped


def _section_value(checker: ConfigChecker, name: str, schema: tuple[Setting, ...]) -> Any:
    """The section's settings; `section: off` is short for `{enabled: false}` where the
    section can be switched off."""
    value = checker.document.data.get(name)
    if value not in SWITCHED_OFF:
        if isinstance(value, str) and _switchable(schema):
            checker.problem(
                (name,),
                f"{name} must be a mapping of settings, or `off` to switch it off; not {value!r}",
            )
            return {}
        return value
    if _switchable(schema):
        return {"enabled": False}
    switchable = sorted(other for other, s in section_schemas().items() if _switchable(s))
    checker.problem(
        (name,),
        f"{name} cannot be switched off with `off` (only {', '.join(switchable)} can); "
        "give its settings or remove it",
    )
    return {}


def _switchable(schema: tuple[Setting, ...]) -> bool:
    return any(setting.name == "enabled" for setting in schema)


def _check_sections(
    checker: ConfigChecker, values: dict[str, Any], sections: dict[str, dict], mistyped: set[str]
) -> tuple[FeatureContract | None, str]:
    """What a run would refuse although every value has the right type (sections with a
    value of the wrong type are left to that message), a voice the speech engine does not
    have included. Returns the microphone model's contract (what it can report, the
    thresholds its card gives; None: its card could not be read) and the model file's name."""
    from assistant.espeak import check_voice
    from assistant.microphone_settings import (
        check_near_misses,
        check_thresholds,
        model_contract,
        model_file,
        overrides_note,
    )
    from assistant.rooms.settings import MqttSettings
    from assistant.rooms.topics import check_level
    from assistant.vosk_models import check_model

    model: tuple[FeatureContract | None, str] = (None, "")

    def microphone(section: dict[str, Any]) -> None:
        nonlocal model
        contract = model_contract(section)
        model = (contract, model_file(section["model"]).name)
        check_thresholds(section, contract.labels)
        check_near_misses(section)
        note = overrides_note(section, contract)
        if note:
            checker.note(("microphone", "thresholds"), note)

    def speech(section: dict[str, Any]) -> None:
        unchecked = check_voice(section)
        if unchecked:
            checker.warn(("speech", "voice"), unchecked)

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
            checker.setting_error((name,), error)
    if "phrase" not in mistyped and sections["phrase"]["model"]:
        vosk = check_model(Path(sections["phrase"]["model"]))
        if vosk:
            checker.warn(("phrase", "model"), f"phrase.model: {vosk}")
    if values["role"] != "single":
        try:
            check_level(values["site"], "site")
        except ValueError as error:
            checker.problem(("site",), str(error))
    if values["role"] == "satellite" and values["site"] == SITE_DEFAULT:
        checker.warn(
            ("role",),
            f"a satellite at the default site {SITE_DEFAULT!r} shares it with a hub left at "
            "the default: give each room its own `site:`",
        )
    return model


def _warn_unused_on_satellite(checker: ConfigChecker) -> None:
    """Warn at `commands:` and `skills:` on a satellite, which uses neither: the hub runs
    every room's commands, as its own file maps them."""
    hub_runs = {
        "commands": "the hub maps the commands of every room, with its own `commands:` (a "
        "command does the same in each room)",
        "skills": "the hub runs the skills, with its own `skills:`",
    }
    for key, why in hub_runs.items():
        if checker.document.data.get(key):
            checker.warn(
                (key,),
                f"`{key}:` is not used on a satellite: {why}; make the change in the hub's "
                f"file, and remove `{key}:` here",
            )
