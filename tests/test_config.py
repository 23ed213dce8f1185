"""Loading and validating configuration files: every problem names file, line and choices."""

import json
import textwrap
from pathlib import Path

import pytest
from runtime_skills import INSTALLED

from assistant.config import (
    DEFAULT_CONFIG,
    TOP_LEVEL_SETTINGS,
    ConfigError,
    config_path,
    load_config,
    model_commands,
    section_schemas,
)
from assistant.config_places import ordinal
from assistant.discovery import discover_skills
from assistant.model_files import DEFAULT_MODEL
from assistant.plugin import Setting, SettingValueError, Skill, action
from assistant.settings import number_text
from assistant.yaml_lines import YamlSyntaxError, load_located


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text, skills=INSTALLED):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), skills)
    return [str(p) for p in caught.value.problems]


def test_a_valid_file_gives_rules_with_defaults_filled_in(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            min_score: 0.7
            commands:
              on:
                do: {action: recorder.bright, with: {level: 3}}
              up:
                do: recorder.bright
                when:
                  music: music.louder
                cooldown: 2
              off: [recorder.dim, music.play]
            skills:
              recorder: {prefix: ok}
            """,
        ),
        INSTALLED,
    )
    on = config.commands["on"]
    assert [str(a) for a in on.actions] == ["recorder.bright"]
    assert on.actions[0].params == {"level": 3}
    assert (on.min_score, on.cooldown) == (0.7, 1.0)
    assert config.commands["up"].cooldown == 2.0
    assert [str(a) for a in config.commands["up"].when_focused["music"]] == ["music.louder"]
    assert config.commands["up"].actions[0].params == {"level": 1}
    assert [str(a) for a in config.commands["off"].actions] == ["recorder.dim", "music.play"]
    assert config.skills["recorder"] == {"prefix": "ok"}
    assert set(config.skills) == {"recorder", "music"}
    assert config.sections["device"]["port"] == "auto"


def test_on_and_off_are_command_names_not_booleans(tmp_path):
    config = load_config(
        write(tmp_path, "commands:\n  on: recorder.dim\n  off: recorder.dim\n"), INSTALLED
    )
    assert set(config.commands) == {"on", "off"}


def test_text_settings_keep_numbers_as_they_were_written(tmp_path):
    text = "mqtt: {password: 012345, username: 1_000, host: 10.0, port: 1883}\n"
    mqtt = load_config(write(tmp_path, text), INSTALLED).sections["mqtt"]
    assert (mqtt["password"], mqtt["username"], mqtt["host"]) == ("012345", "1_000", "10.0")
    assert mqtt["port"] == 1883


def test_values_that_a_run_would_refuse_name_their_line(tmp_path):
    found = problems(
        tmp_path,
        """\
        role: hub
        site: living room/2
        mqtt:
          port: 70000
        microphone:
          thresholds: {upp: 0.8, on: 0.9}
        """,
    )
    assert found[0].endswith(
        ":2: site 'living room/2' cannot be used in MQTT topics: it contains '/'"
    )
    assert found[1].endswith(":4: mqtt: port must be a number from 1 to 65535, not 70000")
    assert ":6: microphone.thresholds names 'upp', which the model kws_int8.tflite" in found[2]
    assert len(found) == 3


def test_a_value_of_the_wrong_type_is_reported_once(tmp_path):
    found = problems(tmp_path, "microphone:\n  thresholds: high\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:2: microphone: thresholds must be a mapping, not 'high'"
    ]


def test_a_threshold_out_of_range_and_a_missing_model_are_named(tmp_path):
    found = problems(tmp_path, "microphone:\n  thresholds: {on: high}\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:2: microphone: thresholds.on must be a number, not 'high'"
    ]
    found = problems(tmp_path, "microphone:\n  thresholds: {on: 1.5}\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:2: microphone.thresholds: threshold must be a number from "
        "0 to 1, got 1.5"
    ]
    found = problems(tmp_path, "microphone:\n  model: /nowhere/kws.tflite\n")
    assert found[0].endswith(":2: microphone.model: /nowhere/kws.tflite: no such model file")
    assert problems(tmp_path, 'microphone:\n  model: ""\n') == [
        f"{tmp_path / 'config.yaml'}:2: microphone.model is empty: give the path of an int8 "
        ".tflite model (its .json card beside it), or `default` for the committed one"
    ]


def test_a_relative_model_path_that_is_not_there_names_the_folder_it_is_read_from(
    tmp_path, monkeypatch
):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path / "models")  # not where a relative path is taken from
    found = problems(tmp_path, "microphone:\n  model: data/lamp/models/kws_int8.tflite\n")
    assert found[0].endswith(
        f":2: microphone.model: {tmp_path}/data/lamp/models/kws_int8.tflite: no such model file "
        f"(written 'data/lamp/models/kws_int8.tflite': a relative path is taken from {tmp_path}, "
        "the folder of the configuration file; correct it from there, or give an absolute path)"
    )


def test_off_switches_off_only_sections_that_can_be(tmp_path):
    config = load_config(write(tmp_path, "speech: off\n"), INSTALLED)
    assert config.sections["speech"]["enabled"] is False
    assert problems(tmp_path, "source: serial\nmicrophone: off\n") == [
        f"{tmp_path / 'config.yaml'}:2: microphone cannot be switched off with `off` (only "
        "speech can); give its settings or remove it"
    ]


def test_unknown_command_names_line_and_choices(tmp_path):
    found = problems(tmp_path, "commands:\n  on: recorder.dim\n  jump: recorder.dim\n")
    assert found == [
        f"{tmp_path}/config.yaml:3: unknown command 'jump'; the model kws_int8.tflite reports: "
        "on, off, up, down, go, stop"
    ]


def test_short_names_swapped_or_in_another_case_are_named(tmp_path):
    """Slips a likeness ratio misses in short names: two letters swapped, another case."""
    found = problems(tmp_path, "commands:\n  on: recorder.dmi\n  off: Recorder.dim\nrole: Hub\n")
    assert [line.split(": ", 1)[1] for line in found] == [
        "skill 'recorder' has no action 'dmi'; did you mean 'dim'? valid: bright, dim",
        "unknown skill 'Recorder'; did you mean 'recorder'? installed skills: music, needy, "
        "recorder, trouble",
        "the top level: role is 'Hub'; did you mean 'hub'? valid: single, satellite, hub",
    ]


def test_unknown_skill_and_action_list_what_is_installed(tmp_path):
    found = problems(tmp_path, "commands:\n  on: lamp.on\n  off: recorder.flash\n")
    assert found == [
        f"{tmp_path}/config.yaml:2: unknown skill 'lamp'; installed skills: music, needy, "
        "recorder, trouble",
        f"{tmp_path}/config.yaml:3: skill 'recorder' has no action 'flash'; valid: bright, dim",
    ]


def test_wrong_types_and_unknown_settings(tmp_path):
    found = problems(
        tmp_path,
        """
        focus_seconds: soon
        device:
          baudrate: fast
          prot: /dev/ttyACM0
        commands:
          on: {action: recorder.bright, with: {level: high}}
        source: cloud
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:2: the top level: focus_seconds must be a number, not 'soon'",
        f"{tmp_path}/config.yaml:4: device: baudrate must be a whole number, not 'fast'",
        f"{tmp_path}/config.yaml:5: device: unknown setting 'prot'; did you mean 'port'? "
        "valid: port, baudrate, heartbeat_timeout, max_delay, max_line_errors",
        f"{tmp_path}/config.yaml:7: `with:` of the action of command 'on': level must be a whole "
        "number, not 'high'",
        f"{tmp_path}/config.yaml:8: the top level: source is 'cloud'; valid: auto, serial, "
        "microphone, emulator",
    ]


def test_a_lights_section_of_an_earlier_version_says_the_settings_new_name(tmp_path):
    """An upgrade must not leave the user with only `unknown setting`: the lights skill's
    `ca_certs` (before it took the `mqtt:` section's name) names `ca_file`."""
    from skills.lights import LightsSkill

    found = problems(
        tmp_path,
        """
        commands:
          on: lights.on
        skills:
          lights:
            tls: true
            ca_certs: /etc/ssl/certs/home-ca.pem
        """,
        {"lights": LightsSkill},
    )
    assert found == [
        f"{tmp_path}/config.yaml:7: skills.lights: setting 'ca_certs' was renamed 'ca_file': "
        "write ca_file: instead of ca_certs:"
    ]


def test_missing_required_skill_setting_says_what_it_is(tmp_path):
    found = problems(tmp_path, "commands:\n  go: needy.go\nskills:\n  needy: {}\n")
    assert found == [
        f"{tmp_path}/config.yaml:4: skills.needy: missing setting 'broker' "
        "(address of the MQTT broker)"
    ]
    without_section = problems(tmp_path, "source: emulator\ncommands:\n  go: needy.go\n")
    assert without_section == [
        f"{tmp_path}/config.yaml:3: skill 'needy' needs setting 'broker' (address of the MQTT "
        "broker): add it under `skills:` as `needy: {broker: ...}`"
    ]
    used_under_when_first = problems(
        tmp_path,
        "commands:\n  on: recorder.bright\n  up:\n    do: recorder.bright\n"
        "    when: {music: needy.go}\n  go: needy.go\n",
    )
    assert used_under_when_first == [
        f"{tmp_path}/config.yaml:3: skill 'needy' needs setting 'broker' (address of the MQTT "
        "broker): add it under `skills:` as `needy: {broker: ...}`"
    ]


def test_yaml_syntax_errors_and_duplicate_keys_name_their_line(tmp_path):
    assert problems(tmp_path, "commands:\n  on: [recorder.dim\n")[0].startswith(
        f"{tmp_path}/config.yaml:3: YAML syntax error"
    )
    assert problems(tmp_path, "commands:\n  on: recorder.dim\n  on: recorder.dim\n") == [
        f"{tmp_path}/config.yaml:3: key 'on' is given twice (first on line 2); keep one"
    ]


def test_a_key_without_its_colon_is_named_at_its_line_with_the_fix(tmp_path):
    """PyYAML names a later line (the next key, or the first past the comments), which looks
    right; the problem is the key's own line."""
    cases = {
        "cooldown 2.0\n# the commands\n\ncommands: {}\n": "1: `cooldown` needs a `:` after it: "
        "`cooldown: 2.0`",
        "min_score 0.5   # stricter\nlog_level: INFO\n": "1: `min_score` needs a `:` after it: "
        "`min_score: 0.5`",
        "commands:\n  on:\n    do recorder.dim\n    when: {}\n": "3: `do` needs "
        "a `:` after it: `do: recorder.dim`",
        "skills:\n  recorder:\n    level 3   # of 10\n    mode: on\n": "3: `level` needs a `:` "
        "after it: `level: 3`",
        "skills:\n  recorder\n    level: 3\n": "2: `recorder` needs a `:` after it: `recorder:`",
    }
    for text, expected in cases.items():
        assert problems(tmp_path, text) == [f"{tmp_path}/config.yaml:{expected}"], text


def test_user_config_overrides_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == DEFAULT_CONFIG
    user = tmp_path / "assistant" / "config.yaml"
    user.parent.mkdir()
    user.write_text("commands: {}\n")
    assert config_path() == user
    assert config_path(tmp_path / "other.yaml") == tmp_path / "other.yaml"


def test_a_rejected_top_level_or_command_value_is_a_problem_not_a_crash(tmp_path):
    found = problems(
        tmp_path,
        """\
        min_score: high
        cooldown: one
        role: hubb
        commands:
          on: {do: recorder.dim, min_score: "0.9"}
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "the top level: min_score must be a number, not 'high'",
        "the top level: cooldown must be a number, not 'one'",
        "the top level: role is 'hubb'; did you mean 'hub'? valid: single, satellite, hub",
        "command 'on': min_score must be a number, not '0.9': remove the quotes",
    ]


@pytest.mark.parametrize("large", ["/dev/zero", "a file of comments"])
def test_a_file_far_larger_than_a_configuration_is_refused_unread(tmp_path, large):
    """/dev/zero given as the file was read until memory ran out."""
    if large == "/dev/zero":
        file = Path(large)
    else:
        file = write(tmp_path, ("# " + "x" * 98 + "\n") * 20_000)
    with pytest.raises(ConfigError) as caught:
        load_config(file, INSTALLED)
    assert str(caught.value) == (
        f"{file}:1: the file is larger than 1 MiB, far more than a configuration takes: name the "
        "configuration file, or cut this one down"
    )


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes('commands:\n  on: recorder.dim\nsite: "Café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, INSTALLED)
    assert (
        str(caught.value) == f"{path}:3: the file is not UTF-8 text (byte 0xe9); save it as UTF-8"
    )


ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 6)
)
"""Six lines that expand to a million values."""
MERGE_BOMB = "b0: &b0 {}\n" + "".join(
    f"b{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}]}}\n" for i in range(1, 20)
)
"""Twenty lines whose merge keys merge 2**19 mappings, though they hold no value at all (forty
would take the loader days)."""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site: !!int abc\n", "'abc' cannot be read as !!int; remove the tag or fix the value"),
        ("site: 2024-13-45\n", "'2024-13-45' cannot be read as !!timestamp; remove the tag"),
        ("site: &a [*a]\n", "an alias (*name) cannot refer to itself"),
        ("? [a, b]\n: x\n", "a key must be a word or number"),
        ("site: desk\x07\n", "character U+0007 cannot be in YAML; remove it"),
        pytest.param(
            "site: " + "[" * 5000 + "]" * 5000,
            "lists and mappings nest more than 100 deep here",
            id="nested 5000 deep",
        ),
        pytest.param(
            ALIAS_BOMB,
            "the file holds more than 100000 values once its aliases are expanded",
            id="aliases of aliases",
        ),
    ],
)
def test_yaml_that_python_cannot_read_is_a_problem_with_its_line(tmp_path, text, message):
    assert problems(tmp_path, text)[0].startswith(f"{tmp_path}/config.yaml:1: {message}")


def test_nesting_is_read_to_100_deep_and_refused_past_it(tmp_path):
    file = tmp_path / "config.yaml"
    deepest = load_located("[" * 100 + "]" * 100, file).data
    for _ in range(99):
        [deepest] = deepest
    assert deepest == []
    with pytest.raises(YamlSyntaxError, match="nest more than 100 deep"):
        load_located("[" * 101 + "]" * 101, file)


def test_a_problem_with_a_key_not_written_is_named_at_the_line_of_its_section(tmp_path):
    """A missing setting is named where its section starts, not at the top of the file."""
    text = "audio:\n  device: 5\nskills:\n  lights:\n    on: lights.on\n"
    document = load_located(text, tmp_path / "config.yaml")
    assert document.line_of(("skills", "lights", "off")) == 4
    assert document.line_of(("skills", "timers", "off")) == 3
    assert document.line_of(("mqtt", "host")) == 1


@pytest.mark.timeout(20)
def test_merge_keys_that_merge_merges_are_refused_at_once(tmp_path):
    """Each `<<:` repeats all that the mappings it merges hold, merges included: a few lines
    hold the loader (and a reload, the daemon's reload thread) for days without a bound."""
    [found] = problems(tmp_path, MERGE_BOMB)
    assert found.split(": ", 1)[1].startswith(
        "the file holds more than 100000 values once its aliases are expanded"
    )


def test_numbers_a_run_cannot_work_with_are_refused(tmp_path):
    found = problems(
        tmp_path,
        """\
        min_score: 7
        cooldown: -1
        focus_seconds: -5
        skill_timeout: 0
        commands:
          on: {do: recorder.dim, min_score: 1.5, cooldown: .nan}
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "the top level: min_score must be a number from 0 to 1, not 7",
        "the top level: cooldown must be a number from 0 to 86400, not -1",
        "the top level: focus_seconds must be a number from 0 to 86400, not -5",
        "the top level: skill_timeout must be a number from 0.1 to 3600, not 0",
        "command 'on': min_score must be a number from 0 to 1, not 1.5",
        "command 'on': cooldown must be a finite number, not nan",
    ]
    config = load_config(
        write(tmp_path, "min_score: 1\ncooldown: 0\nfocus_seconds: 0\n"), INSTALLED
    )
    assert (config.min_score, config.cooldown, config.focus_seconds) == (1.0, 0.0, 0.0)


def test_a_skill_timeout_longer_than_an_hour_is_refused(tmp_path):
    """The assistant waits for a skill that long: a wait of centuries overflows the system's
    clock, which ended the start with a traceback."""
    assert problems(tmp_path, "skill_timeout: 99999999999999999999\n") == [
        f"{tmp_path / 'config.yaml'}:1: the top level: skill_timeout must be a number from 0.1 "
        "to 3600, not 1e+20"
    ]
    assert load_config(write(tmp_path, "skill_timeout: 3600\n"), INSTALLED).skill_timeout == 3600


def test_a_virtual_boards_heartbeat_longer_than_a_minute_is_refused(tmp_path):
    """A heartbeat of centuries overflowed the system's clock and ended the board's thread."""
    assert problems(tmp_path, "emulator: {heartbeat_ms: 99999999999999999999}\n") == [
        f"{tmp_path / 'config.yaml'}:1: emulator: heartbeat_ms must be a number from 10 to 60000, "
        "not 1e+20"
    ]


BUILT_IN_SKILLS = ("timers", "lights", "media", "replies")
UNBOUNDED = {"device.max_line_errors": "warnings a minute: a huge count means every one"}
"""The number settings with no maximum, and why none is needed."""


def _number_settings() -> list[tuple[str, Setting, str]]:
    """Every number setting of the configuration and of the built-in skills' settings and
    actions: where it is written, the setting, and YAML setting it to VALUE (at line 1 for the
    top level and the sections, line 2 for skills and actions)."""
    found = [(s.name, s, f"{s.name}: VALUE") for s in TOP_LEVEL_SETTINGS]
    for section, schema in section_schemas().items():
        found += [(f"{section}.{s.name}", s, f"{section}: {{{s.name}: VALUE}}") for s in schema]
    skills = discover_skills()[0]
    for name in BUILT_IN_SKILLS:
        skill = skills[name]
        found += [
            (f"skills.{name}.{s.name}", s, f"skills:\n  {name}: {{{s.name}: VALUE}}")
            for s in skill.settings
        ]
        for action_name, made in skill.actions().items():
            call = f"{name}.{action_name}"
            found += [
                (
                    f"{call}({p.name})",
                    p,
                    f"commands:\n  go: {{action: {call}, with: {{{p.name}: VALUE}}}}",
                )
                for p in made.params
            ]
    return [(where, s, yaml) for where, s, yaml in found if s.type in (int, float)]


NUMBER_SETTINGS = _number_settings()
BOUNDED = [entry for entry in NUMBER_SETTINGS if entry[0] not in UNBOUNDED]


def test_every_number_setting_has_a_maximum_or_a_reason_for_none():
    assert [where for where, s, _ in NUMBER_SETTINGS if s.maximum is None] == list(UNBOUNDED)


@pytest.mark.parametrize(("where", "setting", "yaml"), BOUNDED, ids=[e[0] for e in BOUNDED])
def test_a_huge_number_is_a_problem_at_its_line_naming_its_bounds(tmp_path, where, setting, yaml):
    """Values of centuries overflowed the system's clock or the scheduler's dates, allocated a
    block of audio past any memory, or were merely nonsense: each is refused by name."""
    huge = 10**30 if setting.type is int else 10**20
    line = yaml.count("\n") + 1
    low, high = setting.minimum, setting.maximum
    bounds = (
        f"from {number_text(low)} to {number_text(high)}"
        if low is not None
        else f"of {number_text(high)} or less"
    )
    [problem] = problems(tmp_path, yaml.replace("VALUE", str(huge)) + "\n", BUILT_IN)
    assert problem.startswith(f"{tmp_path / 'config.yaml'}:{line}: ")
    assert problem.endswith(f"{setting.name} must be a number {bounds}, not {huge:g}")
    assert high >= setting.default


def test_a_number_too_long_for_a_float_is_a_problem_naming_its_length(tmp_path):
    """Hundreds of digits are a whole number to Python but too many for a float."""
    [problem] = problems(tmp_path, "device: {baudrate: " + "9" * 400 + "}\n")
    assert problem.endswith(
        "baudrate must be a number from 1 to 20000000, not a number of 400 digits"
    )


def test_a_file_mapping_no_commands_is_valid_but_warns_why(tmp_path, caplog):
    for text in ("", "speech: off\nfocus_seconds: 10\n", "commands: {}\n"):
        caplog.clear()
        config = load_config(write(tmp_path, text), INSTALLED)
        assert [w.message for w in config.warnings] == [
            "no commands are mapped: every detection will be ignored (a file of your own "
            "replaces the default config.yaml completely, nothing is merged: start from a copy "
            "of it)"
        ]
        assert f"{tmp_path}/config.yaml:1: warning: no commands are mapped" in caplog.text
    config = load_config(write(tmp_path, "commands:\n  on:\n    do: []\n"), INSTALLED)
    assert [str(w) for w in config.warnings] == [
        f"{tmp_path}/config.yaml:3: warning: command 'on' does nothing: `do:` is empty"
    ]
    assert not load_config(DEFAULT_CONFIG, discover_skills()[0]).warnings
    only_when = "commands:\n  up:\n    do: []\n    when: {music: music.louder}\n"
    assert load_config(write(tmp_path, only_when), INSTALLED).warnings == ()
    assert problems(tmp_path, "commands:\n  up:\n    when: {music: music.louder}\n") == [
        f"{tmp_path}/config.yaml:2: command 'up' needs `do:` with a skill action (`do: []` for "
        "one that acts only through its `when:` rules)"
    ]


def test_a_colon_with_no_space_or_in_a_value_is_named_at_its_line_with_the_fix(tmp_path):
    """`key:value` is one word to YAML: PyYAML names the next line, or one past the end of the
    file, or the mistake passes as a word; `: ` in a value ends it."""
    cases = {
        "commands:\n  on:\n    do: recorder.dim\n    cooldown:2\n": "4: `cooldown` needs a space "
        "after its `:`: `cooldown: 2`",
        "commands:\n  on:\n    cooldown:2   # note: x\n\n    do: recorder.dim\n": "3: `cooldown` "
        "needs a space after its `:`: `cooldown: 2`",
        "commands:\n  on: do:recorder.dim\n": "2: 'do:recorder.dim' is not an action; `do` needs "
        "a space after its `:`: `do: recorder.dim`",
        "commands:\n  on: recorder:dim\n": "2: 'recorder:dim' is not an action; write an action "
        "as `skill.action` or {action: skill.action, with: {...}}",
        "skills:\n  recorder:\n    prefix:3\n": "3: skills.recorder must be a mapping of "
        "settings; `prefix` needs a space after its `:`: `prefix: 3` (the value of `recorder:` on "
        "line 2)",
        "commands:\n  on:\n    do:recorder.dim\n": "3: 'do:recorder.dim' is not an action; "
        "`do` needs a space after its `:`: `do: recorder.dim` (the value of `on:` on line 2)",
        "commands:\n  on:\n    do:\n      - recorder.dim\n      - text: Note: tea\n": "5: the "
        'value of `text` holds `: `, which only quotes allow: `text: "Note: tea"`; or, if it '
        "starts a key of its own, put that on a line of its own, indented under `text:`",
        "commands: {on: {do: {text: a: b}}}\n": "1: YAML syntax error: expected ',' or '}', but "
        "got ':'; a value holding `: ` needs quotes: `{text: \"Note: tea is ready\"}`",
    }
    for text, expected in cases.items():
        assert problems(tmp_path, text) == [f"{tmp_path}/config.yaml:{expected}"], text


def test_a_value_on_the_line_after_its_key_is_named_at_its_line_with_its_keys_line(tmp_path):
    """`on:` with its action on the next line: a problem with the action is on that line (where
    it is corrected), naming the key and its line (where it is looked for), and an action not
    indented under its key is named with the fix."""
    cases = {
        "commands:\n  on:\n    recorder.brighten\n": "3: skill 'recorder' has no action "
        "'brighten'; did you mean 'bright'? valid: bright, dim (the value of `on:` on line 2)",
        "commands:\n  up: recorder.dim\ncooldown:\n  abc\n": "4: the top level: cooldown must "
        "be a number, not 'abc' (the value of `cooldown:` on line 3)",
        "commands:\n  on:\n  recorder.dim\n  off: recorder.dim\n": "3: `recorder.dim` is not "
        "indented under `on:` (line 2), so YAML reads it as a key without its `:`; indent it "
        "under `on:`, or write `on: recorder.dim`",
        "commands:\n  up: recorder.dim\n  on:\n  # the lamp\n\n  recorder.dim\n": "6: "
        "`recorder.dim` is not indented under `on:` (line 3), so YAML reads it as a key without "
        "its `:`; indent it under `on:`, or write `on: recorder.dim`",
        "on:\nrecorder.dim\n": "2: `recorder.dim` is not indented under `on:` (line 1), so YAML "
        "reads it as a key without its `:`; indent it under `on:`, or write `on: recorder.dim`",
        # no key above it: not the value of one, nor of the last line's
        "# lamps\nrecorder.dim\non:\n": "2: `recorder.dim` needs a `:` after it: `recorder.dim:`",
        "commands:\n  up: recorder.dim\nskills:\n  recorder: {prefix:\n    true}\n": "5: "
        "skills.recorder: prefix must be text, and YAML reads true as a bool: put it in quotes "
        "to keep it as text (the value of `prefix:` on line 4)",
    }
    for text, expected in cases.items():
        assert problems(tmp_path, text) == [f"{tmp_path}/config.yaml:{expected}"], text
    assert problems(tmp_path, "commands:\n  up: recorder.dim\n  up:\n    recorder.dim\n") == [
        f"{tmp_path}/config.yaml:3: key 'up' is given twice (first on line 2); keep one"
    ]


def test_a_time_is_text_and_refused_where_a_number_is_wanted(tmp_path):
    """YAML 1.1 reads `1:30` as the base-60 number 90, silently; YAML 1.2 as text, kept where
    text is wanted and refused, with the number to write, where a number is."""
    config = load_config(
        write(
            tmp_path,
            """\
            site: 10:30
            mqtt: {password: 12:34}
            commands:
              on: {action: recorder.bright, with: {level: 2}}
            skills:
              recorder: {prefix: 7:15}
            """,
        ),
        INSTALLED,
    )
    assert (config.site, config.sections["mqtt"]["password"]) == ("10:30", "12:34")
    assert config.skills["recorder"]["prefix"] == "7:15"
    found = problems(
        tmp_path,
        """\
        cooldown: 1:30
        focus_seconds: "0:45"
        microphone:
          thresholds: {go: 0:50.5}
        commands:
          on:
            do: {action: recorder.bright, with: {level: -1:02:03}}
            cooldown: 1:30   # a minute and a half
        """,
    )
    fix = "a time is not a number (YAML 1.2 reads it as text, YAML 1.1 as {0} in base 60); " + (
        "for that time in seconds, write {0}"
    )
    assert found == [
        f"{tmp_path}/config.yaml:1: the top level: cooldown must be a number, not '1:30': "
        + fix.format(90),
        f"{tmp_path}/config.yaml:2: the top level: focus_seconds must be a number, not '0:45': "
        + fix.format(45),
        f"{tmp_path}/config.yaml:4: microphone: thresholds.go must be a number, not '0:50.5': "
        + fix.format(50.5),
        f"{tmp_path}/config.yaml:7: `with:` of the action of command 'on': level must be a whole "
        "number, not '-1:02:03': " + fix.format(-3723),
        f"{tmp_path}/config.yaml:8: command 'on': cooldown must be a number, not '1:30': "
        + fix.format(90),
    ]


def test_numbers_with_leading_zeros_are_decimal_not_octal(tmp_path):
    """YAML 1.1 reads 0300 as octal 192 and 08 as text; YAML 1.2, and the user, mean 300 and 8.
    Quoted, or where text is wanted, they stay as written."""
    config = load_config(
        write(
            tmp_path,
            """\
            cooldown: 010
            focus_seconds: 08
            site: "0300"
            commands:
              on: {action: recorder.bright, with: {level: -07}}
            skills:
              recorder: {prefix: 0300}
            """,
        ),
        INSTALLED,
    )
    assert (config.cooldown, config.focus_seconds, config.site) == (10.0, 8.0, "0300")
    assert config.commands["on"].actions[0].params["level"] == -7
    assert config.skills["recorder"]["prefix"] == "0300"


def test_lines_indented_under_a_key_with_a_value_say_to_remove_it_or_add_their_key(tmp_path):
    """A key given a value and a block (`device: 5` over its settings), or a block whose key
    was deleted, under the key above it: YAML's own words say neither."""
    hint = (
        "YAML syntax error: {yaml}; this line is indented under `{key}:` (line {line}), which has "
        "a value already: to give `{key}:` the lines indented under it, remove its value; if they "
        "belong to a key of their own, add that key above them"
    )
    yaml = "mapping values are not allowed here"
    found = problems(tmp_path, "device: 5\n  port: auto\n  baudrate: 9600\n")
    assert found == [f"{tmp_path}/config.yaml:2: " + hint.format(yaml=yaml, key="device", line=1)]
    found = problems(tmp_path, "source: auto\n\n  port: auto\n")
    assert found == [f"{tmp_path}/config.yaml:3: " + hint.format(yaml=yaml, key="source", line=1)]
    found = problems(tmp_path, "commands:\n  - on: x\n    when: y\n      media: z\n")
    assert found == [f"{tmp_path}/config.yaml:4: " + hint.format(yaml=yaml, key="when", line=3)]
    # after a comment, YAML says it otherwise
    found = problems(tmp_path, "source: auto  # where from\n\n  # the board\n  port: auto\n")
    block_end = "expected <block end>, but found '<block mapping start>'"
    assert found == [
        f"{tmp_path}/config.yaml:4: " + hint.format(yaml=block_end, key="source", line=1)
    ]


def test_yaml_slips_with_a_list_an_alias_or_a_second_document_say_what_to_write(tmp_path):
    assert problems(tmp_path, "commands:\n  on: - recorder.dim\n") == [
        f"{tmp_path}/config.yaml:2: YAML syntax error: sequence entries are not allowed here; a "
        "list starts on the line after its key: put each `- ` item on a line of its own, "
        "indented under the key, or write the list as `[a, b]`"
    ]
    assert problems(tmp_path, "min_score: 0.5\n---\ncooldown: 2\n") == [
        f"{tmp_path}/config.yaml:2: a second YAML document (`---`) starts here, but the "
        "configuration is one: remove this line, keeping what follows it with the rest, or "
        "remove what follows it too"
    ]
    # the alias's name is not shown: it may be a password written unquoted
    assert problems(tmp_path, "mqtt:\n  password: *hunter2\n") == [
        f"{tmp_path}/config.yaml:2: a value starting with `*` repeats the one marked with `&` "
        "and that name above it, but none is: mark that one, or put this value in quotes if its "
        "`*` is text"
    ]


def test_common_yaml_mistakes_say_what_to_write(tmp_path):
    assert problems(tmp_path, "commands:\n\ton: recorder.dim\n") == [
        f"{tmp_path}/config.yaml:2: tabs cannot indent YAML; use spaces"
    ]
    assert problems(tmp_path, "commands:\n  on:\trecorder.dim\n") == [
        f"{tmp_path}/config.yaml:2: a tab at column 6: YAML takes spaces between the words of a "
        "line, not tabs; replace it with a space (or remove it at the end of the line)"
    ]
    assert problems(tmp_path, 'commands:\n  on: "recorder.dim\n  off: recorder.dim\n') == [
        f"{tmp_path}/config.yaml:2: this quote is not closed"
    ]
    found = problems(
        tmp_path,
        """\
        commands:
          on:
            doo: recorder.dim
          up: {do: recorder.bright, with: {level: 5}}
        speech: no
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "command 'on' needs `do:` with a skill action",
        "unknown key 'doo' in command 'on'; did you mean 'do'? valid: do, when, min_score, "
        "cooldown",
        "unknown key 'with' in command 'up'; parameters go with their action: "
        "`do: {action: recorder.bright, with: {...}}`",
        "speech must be a mapping of settings, or `off` to switch it off; not 'no'",
    ]


def custom_model(tmp_path, labels, sha256=None, thresholds=None):
    """The committed model beside a card of other labels (a custom export), with
    `thresholds` (None: none)."""
    model = tmp_path / "custom.tflite"
    model.write_bytes(DEFAULT_MODEL.read_bytes())
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    card.update(labels=list(labels), sha256=sha256 or card["sha256"])
    del card["thresholds"]  # the committed model's, for other labels
    if thresholds is not None:
        card["thresholds"] = thresholds
    model.with_suffix(".json").write_text(json.dumps(card))
    return model


def test_the_commands_are_the_labels_the_microphone_model_reports(tmp_path):
    assert model_commands() == ("on", "off", "up", "down", "go", "stop")
    model = custom_model(tmp_path, ("silence", "unknown", "yes", "no"))
    mapped = f"microphone: {{model: {model}}}\ncommands:\n  yes: recorder.dim\n  no: recorder.dim\n"
    config = load_config(write(tmp_path, mapped), INSTALLED)
    assert set(config.commands) == {"yes", "no"}
    assert config.model_commands == ("yes", "no")
    found = problems(tmp_path, f"microphone: {{model: {model}}}\ncommands:\n  on: recorder.dim\n")
    assert found == [
        f"{tmp_path}/config.yaml:3: unknown command 'on'; the model custom.tflite reports: yes, no"
    ]


RELEASED_MICROPHONE = """\
microphone:
  device: default
  model: default
  thresholds: {on: 0.84, off: 0.76, up: 0.81, down: 0.82, go: 0.78, stop: 0.66}
"""
"""The `microphone:` section of 0.3.0's config.yaml, which users copied with its thresholds."""


def test_thresholds_of_commands_the_model_lacks_are_named_with_the_fix(tmp_path):
    model = custom_model(tmp_path, ("silence", "unknown", "lamp", "fan", "a", "b", "c", "d"))
    found = problems(tmp_path, RELEASED_MICROPHONE.replace("model: default", f"model: {model}"))
    assert found[0] == (
        f"{tmp_path / 'config.yaml'}:4: microphone.thresholds names 'on', 'off', 'up', "
        "'down', 'go', 'stop', which the model custom.tflite does not report (its commands: "
        "lamp, fan, a, b, c, d); remove them (a command without one here uses the threshold "
        "its model's card gives it, which `python -m model_training.streaming thresholds` "
        "writes, else 0.8; model_training/README.md in the source repository)"
    )
    kept = f"microphone:\n  model: {model}\n  thresholds: {{lamp: 0.9}}\ncommands: {{}}\n"
    assert load_config(write(tmp_path, kept), INSTALLED).model_commands[:2] == ("lamp", "fan")


def test_released_thresholds_still_work_and_are_noted_as_overrides_of_the_cards(tmp_path):
    """0.3.0's config.yaml held the committed model's thresholds, which its card now gives:
    a copy keeps working, its thresholds overriding the card's, and the check says so."""
    config = load_config(write(tmp_path, RELEASED_MICROPHONE + "commands: {}\n"), INSTALLED)
    assert config.sections["microphone"]["thresholds"]["on"] == 0.84
    assert [str(note) for note in config.notes] == [
        f"{tmp_path / 'config.yaml'}:4: note: microphone.thresholds overrides thresholds chosen "
        "for kws_int8.tflite on its card kws_int8.json: on 0.84 (card 0.84), off 0.76 (card "
        "0.76), up 0.81 (card 0.81), down 0.82 (card 0.82), go 0.78 (card 0.78), stop 0.66 "
        "(card 0.66); remove a command from it to use its card's"
    ]
    model = custom_model(tmp_path, ("silence", "unknown", "lamp", "fan"))  # a card without
    chosen = f"microphone: {{model: {model}, thresholds: {{lamp: 0.9}}}}\ncommands: {{}}\n"
    assert load_config(write(tmp_path, chosen), INSTALLED).notes == ()


@pytest.mark.parametrize(
    "thresholds, wrong",
    [
        ({"lamp": 0.8, "on": 0.8}, "`thresholds` names 'on', which the model does not report "
         "(its commands: lamp, fan)"),
        ({"lamp": 1.5}, "`thresholds` gives lamp 1.5, not a number from 0 to 1"),
        ({"lamp": "high"}, "`thresholds` gives lamp 'high', not a number from 0 to 1"),
        ([0.8, 0.8], "`thresholds` is [0.8, 0.8], not a mapping of each command to a score "
         'from 0 to 1 such as {"on": 0.84}'),
    ],
)  # fmt: skip
def test_a_card_with_broken_thresholds_is_named_with_the_fix(tmp_path, thresholds, wrong):
    model = custom_model(tmp_path, ("silence", "unknown", "lamp", "fan"), thresholds=thresholds)
    found = problems(tmp_path, f"microphone: {{model: {model}}}\ncommands: {{}}\n")
    card = tmp_path / "custom.json"
    assert found == [
        f"{tmp_path / 'config.yaml'}:1: microphone.model: {card}: {wrong}; correct or remove "
        f"`thresholds` in {card} (a command it leaves out gets 0.8), or write those chosen for "
        "the model with `python -m model_training.streaming thresholds` "
        "(model_training/README.md in the source repository)"
    ]


def test_a_model_card_of_another_model_is_refused_by_the_check(tmp_path):
    model = custom_model(tmp_path, ("silence", "unknown", "yes", "no"), sha256="0" * 64)
    found = problems(tmp_path, f"microphone:\n  model: {model}\ncommands: {{}}\n")
    assert found[0].startswith(
        f"{tmp_path}/config.yaml:2: microphone.model: {tmp_path}/custom.json is not the card of "
        f"{model}"
    )


@pytest.mark.parametrize("role", ["satellite", "hub"])
def test_satellite_and_hub_announce_the_commands_of_their_microphone_model(tmp_path, role):
    from assistant.rooms.roles import open_room

    model = custom_model(tmp_path, ("silence", "unknown", "yes", "no"))
    config = load_config(
        write(tmp_path, f"role: {role}\nsite: desk\nmicrophone: {{model: {model}}}\n"), INSTALLED
    )
    room = open_room(config, lambda event: None, lambda text: None, tmp_path / "rooms")
    assert room.home_assistant.device.commands == ("yes", "no")


def test_a_satellite_needs_no_commands_but_its_own_site(tmp_path):
    config = load_config(write(tmp_path, "role: satellite\n"), INSTALLED)
    assert [w.message for w in config.warnings] == [
        "a satellite at the default site 'default' shares it with a hub left at the default: "
        "give each room its own `site:`"
    ]
    assert load_config(write(tmp_path, "role: satellite\nsite: attic\n"), INSTALLED).warnings == ()


def test_a_satellites_commands_and_skills_are_warned_about_as_not_used(tmp_path):
    """The hub maps every room's commands and runs the skills: a satellite's own sections
    would be ignored, as if a command could do something else in this room."""
    text = """\
        role: satellite
        site: attic
        commands:
          on: recorder.dim
        skills:
          recorder: {prefix: lamp}
        """
    config = load_config(write(tmp_path, text), INSTALLED)
    assert [str(w) for w in config.warnings] == [
        f"{tmp_path}/config.yaml:3: warning: `commands:` is not used on a satellite: the hub "
        "maps the commands of every room, with its own `commands:` (a command does the same in "
        "each room); make the change in the hub's file, and remove `commands:` here",
        f"{tmp_path}/config.yaml:5: warning: `skills:` is not used on a satellite: the hub runs "
        "the skills, with its own `skills:`; make the change in the hub's file, and remove "
        "`skills:` here",
    ]
    hub = load_config(write(tmp_path, text.replace("satellite", "hub")), INSTALLED)
    assert hub.warnings == ()


def test_an_acknowledgement_tone_on_a_satellite_is_no_warning(tmp_path):
    """A satellite plays its tone for the commands of its room the hub takes
    (tests/test_rooms_tone.py)."""
    text = "role: satellite\nsite: attic\nspeech:\n  acknowledge: tone\n"
    assert load_config(write(tmp_path, text), INSTALLED).warnings == ()


BUILT_IN = discover_skills()[0]


def test_the_short_form_reads_numbers_as_written_and_reports_where_they_are(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """\
            commands:
              go: {action: replies.say, with: {text: 12:30}}
              off: {action: timers.start, with: {name: 007, seconds: 60}}
              on: [{action: replies.say, with: {text: 1_000}}]
            skills:
              replies:
                phrases: {lunch: 12:30, bond: 007, price: 1.50}
            """,
        ),
        BUILT_IN,
    )
    assert config.commands["go"].actions[0].params["text"] == "12:30"
    assert config.commands["off"].actions[0].params["name"] == "007"
    assert config.commands["on"].actions[0].params["text"] == "1_000"
    assert config.skills["replies"]["phrases"] == {"lunch": "12:30", "bond": "007", "price": "1.50"}
    found = problems(
        tmp_path,
        """\
        commands:
          go:
            action: timers.start
            with:
              name: tea
              seconds: -5
        skills:
          replies: {phrases: {ready: [Ready]}}
        """,
        BUILT_IN,
    )
    assert found == [
        f"{tmp_path}/config.yaml:6: `with:` of the action of command 'go': seconds must be a "
        "number from 0 to 2592000, not -5",
        f"{tmp_path}/config.yaml:8: skills.replies: phrases.ready must be text, not ['Ready']",
    ]


def test_keys_in_the_wrong_place_are_named_with_where_they_go(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          on:
            do:
              action: recorder.bright
              with:
              level: 5
          up: {action: recorder.dim, min_score: 0.9}
          down:
            do: recorder.dim
            when: {music: {do: music.louder}}
          off:
            do:
          go:
            do: {action: recorder.dim, cooldown: 2, colour: red}
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "'level' is a parameter of recorder.bright: indent it under `with:`",
        "`min_score` is a key of the command, not of its action: write "
        "`up: {do: {action: ..., with: {...}}, min_score: ...}`",
        "`do` is a key of a command, not of an action; under `when:` a skill maps straight to "
        "its actions: `music: music.louder`",
        "`do:` is empty; write an action as `skill.action` or {action: skill.action, with: {...}}",
        "`cooldown` is a key of the command, not of its action: put it beside `do:`",
        "unknown key 'colour' in an action; valid: action, with",
    ]
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in found] == [
        "6", "7", "10", "12", "14", "14"
    ]  # fmt: skip


def test_a_key_of_the_command_in_an_action_of_a_short_form_gets_a_fix_the_file_can_take(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          up:
            - recorder.dim
            - {action: recorder.bright, cooldown: 2}
          down: {action: recorder.dim, do: recorder.bright}
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:4: `cooldown` is a key of the command, not of its action: "
        "write `up: {do: [...], cooldown: ...}`",  # the list has no `do:` to stand beside
        f"{tmp_path}/config.yaml:5: `do` is a key of the command, not of its action; write an "
        "action as `skill.action` or {action: skill.action, with: {...}}",
    ]


def test_with_and_when_of_the_wrong_type_are_refused_even_when_they_read_as_false(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          up: {do: {action: recorder.bright, with: 0}}
          down: {do: recorder.dim, when: ''}
          go: {do: {action: recorder.bright, with: false}}
          off: {do: {action: recorder.dim, with: []}}
        """,
    )
    settings = "write the action's settings under it, as `with: {level: ...}`, or remove `with:`"
    assert found == [
        f"{tmp_path}/config.yaml:2: `with:` of the action of command 'up' must be a mapping of "
        f"settings; {settings}",
        f"{tmp_path}/config.yaml:3: `when:` must map a skill name to actions; write them under "
        "it, as `when: {media: media.pause}`, or remove `when:`",
        f"{tmp_path}/config.yaml:4: `with:` of the action of command 'go' must be a mapping of "
        f"settings; {settings}",
        f"{tmp_path}/config.yaml:5: `with:` of the action of command 'off' must be a mapping of "
        "settings; dim takes no settings: remove `with:`",
    ]


def test_a_problem_in_an_action_names_which_action_of_which_command_in_the_files_words(
    tmp_path,
):
    """A list item is named as the file writes it, by its place in the list, not as a dotted
    path with its index (`commands.go.do.1.with`)."""
    found = problems(
        tmp_path,
        """\
        commands:
          go:
            do:
              - recorder.dim
              - {action: recorder.bright, with: {minutes: 3}}
            when:
              music:
                - music.play
                - {action: recorder.bright, with: {level: high}}
          up: [recorder.dim, recorder.dim, {action: recorder.bright, with: 3}]
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:5: `with:` of the second action of command 'go': unknown "
        "setting 'minutes'; valid: level",
        f"{tmp_path}/config.yaml:9: `with:` of the second `when: music` action of command 'go': "
        "level must be a whole number, not 'high'",
        f"{tmp_path}/config.yaml:10: `with:` of the third action of command 'up' must be a "
        "mapping of settings; write the action's settings under it, as `with: {level: ...}`, "
        "or remove `with:`",
    ]


def test_an_action_past_the_ninth_is_named_by_its_number():
    ordinals = [ordinal(number) for number in (9, 10, 11, 12, 13, 21, 22, 23, 111, 112)]
    assert ordinals == [
        "ninth",
        "10th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "111th",
        "112th",
    ]


def test_a_list_item_indented_past_the_one_above_is_said_to_line_up_with_it(tmp_path):
    """`- recorder.dim` indented past the `-` above it is more words of that item to YAML,
    which reads one action `recorder.bright - recorder.dim`; the same under a short form."""
    found = problems(
        tmp_path,
        """\
        commands:
          go:
            do:
              - recorder.bright
                - recorder.dim
          up: recorder.bright
            - recorder.dim
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:4: 'recorder.bright - recorder.dim' is not an action; "
        "`- recorder.dim` is indented past the `-` on line 4, so YAML reads it as part of that "
        "item: line its `-` up with the one on line 4",
        f"{tmp_path}/config.yaml:6: 'recorder.bright - recorder.dim' is not an action; "
        "`- recorder.dim` is indented under the action on line 6, so YAML reads it as part of "
        "it: write the actions as a list, each `- skill.action` on a line of its own, their "
        "`-` lined up",
    ]
    lined_up = "commands:\n  go:\n    do:\n      - recorder.bright\n      - recorder.dim\n"
    assert [
        str(call)
        for call in load_config(write(tmp_path, lined_up), INSTALLED).commands["go"].actions
    ] == ["recorder.bright", "recorder.dim"]


def test_a_key_of_a_command_at_the_commands_level_says_which_command_it_belongs_to(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          up:
            do: recorder.dim
          when:
            music: music.louder
          down:
          do: recorder.dim
        """,
    )
    assert [line.split(": ", 1)[1] for line in found] == [
        "`when` is a key of a command, not a command: indent it under `up:`",
        "`do` is a key of a command, not a command: indent it under `down:`",
    ]  # not also that `down:` has no `do:`: the line that says where it went is the fix


def test_a_key_that_lines_up_with_no_level_gets_an_indentation_hint(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          on:
            do:
              - recorder.dim
              - action: recorder.bright
              with: {level: 5}
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:6: YAML syntax error: expected <block end>, but found '?'; this "
        "key does not line up with the list that starts on line 4: to give it to the item "
        "above, indent it like the item's first key (past the `-`)"
    ]
    found = problems(tmp_path, "commands:\n  on:\n    do: recorder.dim\n   when: {}\n")
    assert found[0].startswith(
        f"{tmp_path}/config.yaml:4: YAML syntax error: expected <block end>, but found '<block "
        "mapping start>'; this line is indented to none of the levels above it"
    )


def test_a_list_item_that_lines_up_with_no_level_names_the_item_to_line_up_with(tmp_path):
    for indentation in ("    ", "       "):  # less than the item above, then more
        found = problems(
            tmp_path,
            "commands:\n  on:\n    do:\n      - {action: recorder.dim}\n"
            f"{indentation}- {{action: recorder.bright}}\n",
        )
        assert len(found) == 1
        assert found[0].startswith(f"{tmp_path}/config.yaml:5: YAML syntax error: ")
        assert found[0].endswith(
            "; this list item does not line up with the item on line 4: indent its `-` like "
            "that one's (6 spaces)"
        )


def test_a_line_whose_block_a_line_indented_less_ended_names_both_ways_to_fix_it(tmp_path):
    """`go:` written at the top level ends the block of the commands: `stop:`, lined up with
    them, fits no block still open. Which line is wrong only the user knows: both are said."""
    found = problems(
        tmp_path,
        """\
        commands:
          on: recorder.dim
        go:
            do: recorder.bright
          stop: recorder.dim
        """,
    )
    assert len(found) == 1
    assert found[0].endswith(
        "; this line lines up with no block still open: to put it in the block of line 3 "
        "(`go:`), indent it like line 4 (4 spaces); to keep it with line 2 (`on:`), indent "
        "line 3 like line 2 (2 spaces)"
    )
    found = problems(  # the other way round: `when:` belongs with the `do:` just above it
        tmp_path,
        """\
        commands:
          on:
            do: recorder.dim
          off:
             do: recorder.bright
            when: {recorder: recorder.dim}
        """,
    )
    assert found[0].startswith(f"{tmp_path}/config.yaml:6: ")
    assert "to put it in the block of line 4 (`off:`), indent it like line 5 (5 spaces)" in found[0]


class CheckingSkill(Skill):
    """Checks its settings and parameters the three ways a plugin may."""

    name = "checking"
    settings = (Setting("limit", int, 5), Setting("mode", str, "ok"))

    @classmethod
    def check_settings(cls, settings):
        if settings["mode"] == "old":
            return "mode old is gone"  # a plain message: reported on the section
        if settings["mode"] != "ok":
            raise SettingValueError(f"mode {settings['mode']} is unknown", "mode")
        return None

    @classmethod
    def check_params(cls, action, params, settings):
        if params["amount"] < 0:
            raise RuntimeError("a plugin bug")
        if params["amount"] > settings["limit"]:
            raise SettingValueError(f"amount is over the limit {settings['limit']}", "amount")
        return "amount 0 does nothing" if params["amount"] == 0 else None

    @action(params=(Setting("amount", int, 1),))
    def take(self, event, amount):
        return f"took {amount}"


def test_a_skill_checks_its_settings_and_each_call_and_names_the_key(tmp_path):
    skills = {**INSTALLED, "checking": CheckingSkill}
    text = """\
        commands:
          on: {action: checking.take, with: {amount: 9}}
          off:
            do:
              action: checking.take
              with:
                amount: 0
          up: {action: checking.take, with: {amount: -1}}
          down: checking.take
        skills:
          checking:
            limit: 8
            mode: {mode}
        """
    found = problems(tmp_path, text.replace("{mode}", "ok"), skills)
    assert found == [
        f"{tmp_path}/config.yaml:2: checking.take: amount is over the limit 8",
        f"{tmp_path}/config.yaml:6: checking.take: amount 0 does nothing",  # no key: at `with:`
        f"{tmp_path}/config.yaml:8: checking.take: the skill's check_params crashed "
        "(RuntimeError: a plugin bug)",
    ]
    assert problems(tmp_path, text.replace("{mode}", "loud"), skills) == [
        *found,
        f"{tmp_path}/config.yaml:13: skills.checking: mode loud is unknown",
    ]
    assert problems(tmp_path, text.replace("{mode}", "old"), skills) == [
        *found,
        f"{tmp_path}/config.yaml:11: skills.checking: mode old is gone",
    ]


def test_a_call_whose_parameters_were_refused_is_not_checked_again_by_its_skill(tmp_path):
    found = problems(
        tmp_path,
        """\
        commands:
          on: {action: replies.say, with: {text: 2024-05-01}}
          off: {action: replies.say, with: {phrase: ready, frase: x}}
          up: {action: replies.say, with: {phrase: tea}}
        skills:
          replies: {phrases: {ready: Ready}}
        """,
        BUILT_IN,
    )
    assert found == [  # not "give text or phrase" about the default put in for the date
        f"{tmp_path}/config.yaml:2: `with:` of the action of command 'on': text must be text, and "
        "YAML reads 2024-05-01 as a date: put it in quotes to keep it as text",
        f"{tmp_path}/config.yaml:3: `with:` of the action of command 'off': unknown setting "
        "'frase'; valid: text, phrase",
        f"{tmp_path}/config.yaml:4: replies.say: no phrase named 'tea' under "
        "skills.replies.phrases; known: ready",
    ]


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "2024-05-01",
            "must be text, and YAML reads 2024-05-01 as a date: put it in quotes to keep it as "
            "text",
        ),
        ("~", 'is empty; give it text (write "" for empty text)'),
    ],
)
def test_a_dict_value_that_is_not_text_is_reported_at_its_own_line(tmp_path, value, message):
    text = f"skills:\n  replies:\n    phrases:\n      ready: Ready\n      lunch: {value}\n"
    found = problems(tmp_path, text, BUILT_IN)
    assert found == [f"{tmp_path}/config.yaml:5: skills.replies: phrases.lunch {message}"]


def test_the_default_file_shows_every_top_level_setting_at_its_default():
    top = load_located(DEFAULT_CONFIG.read_text(), DEFAULT_CONFIG).data
    assert {s.name: top.get(s.name) for s in TOP_LEVEL_SETTINGS} == {
        s.name: s.default for s in TOP_LEVEL_SETTINGS
    }


def test_a_password_yaml_does_not_read_as_text_is_reported_without_its_value(tmp_path):
    text = "role: hub\nmqtt:\n  password: 2024-05-01\nskills:\n  lights:\n    password: [hunter2]\n"
    found = problems(tmp_path, text, BUILT_IN)
    assert found == [
        f"{tmp_path}/config.yaml:3: mqtt: password must be text, and YAML reads it as a date: "
        "put it in quotes to keep it as text",
        f"{tmp_path}/config.yaml:6: skills.lights: password must be text, not a list (not shown)",
    ]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_a_password_others_may_read_is_warned_about_with_the_fix(tmp_path, mode):
    """A copy of the default made with the usual umask (022) lets every local user read it."""
    path = write(
        tmp_path,
        """
        role: satellite
        site: attic
        mqtt:
          username: assistant
          password: s3cret
        """,
    )
    path.chmod(mode)
    warnings = [str(w) for w in load_config(path, INSTALLED).warnings]
    if mode == 0o600:
        assert warnings == []
    else:
        shown = "-rw-r--r--" if mode == 0o644 else "-rw-r-----"
        assert warnings == [
            f"{path}:6: warning: mqtt.password: others may read this file (mode {shown}), so "
            f"its password too; make it readable by you alone: chmod 600 {path}"
        ]
        assert "s3cret" not in warnings[0]


def test_a_file_others_may_read_without_a_password_is_no_concern(tmp_path):
    path = write(tmp_path, "role: satellite\nsite: attic\nmqtt: {username: assistant}\n")
    path.chmod(0o644)
    assert load_config(path, INSTALLED).warnings == ()


def test_a_voice_the_speech_engine_lacks_is_named_at_its_line_with_the_nearest(tmp_path):
    text = "commands:\n  on: recorder.dim\nspeech:\n  rate: 150\n  voice: en-uss\n"
    [problem] = problems(tmp_path, text)
    assert problem.startswith(
        f"{tmp_path / 'config.yaml'}:5: speech.voice: unknown voice 'en-uss'; "
        "did you mean 'en-us' (or 'en-us-nyc')? `espeak-ng --voices` lists the voices"
    )
    [problem] = problems(tmp_path, "speech: {voice: fr-fr}\n")  # a language, not a voice
    assert "config.yaml:1: speech.voice: unknown voice 'fr-fr'; did you mean 'fr'" in problem


def test_a_voice_is_not_checked_with_speech_off(tmp_path, espeak_runs, caplog):
    """Speech off starts no engine: its voice is neither checked (espeak-ng not run) nor
    refused, nor warned about; it is once speech is on."""
    config = load_config(write(tmp_path, "speech: {enabled: false, voice: en-uss}\n"), INSTALLED)
    assert config.sections["speech"]["voice"] == "en-uss"
    assert "speech.voice" not in caplog.text
    assert espeak_runs() == []
    [problem] = problems(tmp_path, "speech: {enabled: true, voice: en-uss}\n")
    assert "config.yaml:1: speech.voice: unknown voice 'en-uss'" in problem
    assert "--voices" in espeak_runs()


def test_a_language_for_a_voice_is_named_at_its_line_with_the_voices_that_speak_it(tmp_path):
    [problem] = problems(tmp_path, "speech:\n  voice: english\n")
    assert "config.yaml:2: speech.voice: unknown voice 'english'; did you mean 'en' (or" in problem


@pytest.mark.parametrize("voice", ["''", "en", "en-us", "English (America)", "en-us+f3"])
def test_a_voice_the_speech_engine_has_passes(tmp_path, voice, caplog):
    """The default (empty: espeak-ng's own, en) and voices written as a file's last part, a
    VoiceName and with a variant."""
    config = load_config(write(tmp_path, f"speech:\n  voice: {voice}\n"), INSTALLED)
    assert config.sections["speech"]["voice"] == voice.strip("'")
    assert "speech.voice" not in caplog.text


def test_a_voice_is_not_refused_where_espeak_ng_is_missing_but_said_unchecked(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the speech engine
    config = load_config(write(tmp_path, "speech:\n  voice: en-uss\n"), INSTALLED)
    assert config.sections["speech"]["voice"] == "en-uss"
    assert (
        f"{tmp_path / 'config.yaml'}:2: warning: speech.voice: 'en-uss' could not be checked: "
        "espeak-ng is not installed (apt install espeak-ng)"
    ) in caplog.text


def test_a_quoted_number_is_refused_everywhere_with_remove_the_quotes(tmp_path):
    found = problems(
        tmp_path,
        """\
        cooldown: "2"
        microphone:
          thresholds: {go: "0.7", up: 0.8}
        speech:
          ignore_own_voice: yes
        commands:
          on: {action: recorder.bright, with: {level: "3"}}
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:1: the top level: cooldown must be a number, not '2': remove "
        "the quotes",
        f"{tmp_path}/config.yaml:3: microphone: thresholds.go must be a number, not '0.7': "
        "remove the quotes",
        f"{tmp_path}/config.yaml:5: speech: ignore_own_voice must be true or false, not 'yes': "
        "write true",
        f"{tmp_path}/config.yaml:7: `with:` of the action of command 'on': level must be a whole "
        "number, not '3': remove the quotes",
    ]


def test_merge_keys_merge_a_mapping_whose_keys_the_mapping_itself_overrides(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """\
            commands:
              up: &base
                do: recorder.bright
                cooldown: 2
                min_score: 0.5
              down:
                <<: *base
                do: recorder.dim
              on: {cooldown: 3, <<: [*base]}
            """,
        ),
        INSTALLED,
    )
    down, on = config.commands["down"], config.commands["on"]
    assert ([str(a) for a in down.actions], down.cooldown, down.min_score) == (
        ["recorder.dim"],
        2.0,
        0.5,
    )
    assert ([str(a) for a in on.actions], on.cooldown) == (["recorder.bright"], 3.0)
    assert problems(tmp_path, "commands:\n  up: {<<: recorder.dim}\n") == [
        f"{tmp_path}/config.yaml:2: `<<:` merges mappings into this one: give it an alias of a "
        "mapping (`<<: *base`, the mapping marked `&base`) or a list of them (`<<: [*a, *b]`)"
    ]
    assert problems(tmp_path, "commands: &all\n  <<: *all\n") == [
        f"{tmp_path}/config.yaml:2: a mapping cannot merge itself (`<<:`)"
    ]


def test_a_skill_switched_off_does_not_run_and_its_commands_are_named_with_the_fix(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """\
            commands:
              on: recorder.dim
            skills:
              music: off
              recorder: {prefix: ok}
            """,
        ),
        INSTALLED,
    )
    assert (list(config.skills), config.skills_off) == (["recorder"], ("music",))
    found = problems(
        tmp_path,
        """\
        commands:
          on: [recorder.dim, music.play]
          up:
            do: []
            when:
              recorder: music.louder
          down:
            do: recorder.dim
            when:
              music: recorder.bright
          go:
            when: {music: [music.play, recorder.dim]}
            do: []
        skills:
          music: off
          recorder: {enabled: false}
          trouble: on
        """,
    )
    assert found == [
        f"{tmp_path}/config.yaml:2: skill 'music' is switched off (`music: off`, line 15), so "
        "music.play cannot run; map the command to another action (`do: []` keeps only its "
        "`when:`), remove the command, or remove `music: off`",
        f"{tmp_path}/config.yaml:6: skill 'music' is switched off (`music: off`, line 15), so "
        "music.louder cannot run; give this `when:` rule another action, remove the rule, or "
        "remove `music: off`",
        f"{tmp_path}/config.yaml:10: skill 'music' is switched off (`music: off`, line 15), so "
        "it never has focus and this `when:` rule never applies; remove the rule, or remove "
        "`music: off`",
        f"{tmp_path}/config.yaml:12: skill 'music' is switched off (`music: off`, line 15), so "
        "it never has focus and this `when:` rule never applies; remove the rule, or remove "
        "`music: off`",
        f"{tmp_path}/config.yaml:16: skill 'recorder' has no setting `enabled`; `recorder: off` "
        "switches it off (comment its settings out to keep them)",
        f"{tmp_path}/config.yaml:17: skills.trouble must be a mapping of its settings, or `off`; "
        "not 'on'",
    ]


class VaultSkill(Skill):
    """A plugin with a secret setting and a secret action parameter."""

    name = "vault"
    settings = (Setting("token", str, "", secret=True),)

    @action("open", params=(Setting("pin", str, secret=True),))
    def open(self, event, pin):
        return "open"


def test_a_slip_in_the_yaml_never_shows_a_secret_value(tmp_path):
    """The hint of a slip with a `:` writes the line as it should be, but not the value of a
    secret (a broker's password, a plugin's token or secret parameter): the problems reach the
    terminal, the log (the journal, read by its admins too) and `assistant status`."""
    skills = {**INSTALLED, "vault": VaultSkill}
    cases = {
        "mqtt:\n  password s3cr3t-a\n  port: 1883\n": "2: `password` needs a `:` after it: "
        "`password: <value not shown>`",
        "mqtt:\n  port: 1883\n  password:s3cr3t-b\n": "3: `password` needs a space after its "
        "`:`: `password: <value not shown>`",
        "mqtt: password:s3cr3t-c\n": "1: mqtt must be a mapping of settings; `password` needs a "
        "space after its `:`: `password: <value not shown>`",
        "skills:\n  vault:\n    token: s3cr3t: d\n": "3: the value of `token` holds `: `, which "
        'only quotes allow: `token: "<value not shown>"`; or, if it starts a key of its own, '
        "put that on a line of its own, indented under `token:`",
        "commands:\n  on:\n    do:\n      - action: vault.open\n        with:\n          pin "
        "s3cr3t-e\n          door: front\n": "6: `pin` needs a `:` after it: `pin: <value not "
        "shown>`",
        "mqtt:\n  password: !!int s3cr3t-f\n": "2: <value not shown> cannot be read as !!int; "
        "remove the tag or fix the value",
        "skills:\n  vault:\n    token: 2026-13-45\n": "3: <value not shown> cannot be read as "
        "!!timestamp; remove the tag or fix the value",
    }
    for text, expected in cases.items():
        assert problems(tmp_path, text, skills) == [f"{tmp_path}/config.yaml:{expected}"], text
    assert problems(tmp_path, "mqtt:\n  port 1883\n  host: broker\n", skills) == [
        f"{tmp_path}/config.yaml:2: `port` needs a `:` after it: `port: 1883`"
    ]
