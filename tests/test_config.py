"""Loading and validating configuration files: every problem names file, line and choices."""

import textwrap

import pytest
from runtime_skills import INSTALLED

from assistant.config import DEFAULT_CONFIG, ConfigError, config_path, load_config


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), INSTALLED)
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
    assert found[1].endswith(":4: mqtt.port is 70000; use a port from 1 to 65535")
    assert ":6: microphone.thresholds: no threshold for 'upp'" in found[2]
    assert len(found) == 3


def test_a_value_of_the_wrong_type_is_reported_once(tmp_path):
    found = problems(tmp_path, "microphone:\n  thresholds: high\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:2: microphone: thresholds must be a mapping, not 'high'"
    ]


def test_a_threshold_out_of_range_and_a_missing_model_are_named(tmp_path):
    found = problems(tmp_path, "microphone:\n  thresholds: {on: high}\n")
    assert found == [
        f"{tmp_path / 'config.yaml'}:2: microphone.thresholds: threshold must be a number from "
        "0 to 1, got 'high'"
    ]
    found = problems(tmp_path, "microphone:\n  model: /nowhere/kws.tflite\n")
    assert ":2: microphone.model: /nowhere/kws.json: the model card" in found[0]


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
        f"{tmp_path}/config.yaml:3: unknown command 'jump'; valid: on, off, up, down, go, stop"
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
        "valid: port, baudrate, heartbeat_timeout, max_line_errors",
        f"{tmp_path}/config.yaml:7: commands.on.do.with: level must be a whole number, not 'high'",
        f"{tmp_path}/config.yaml:8: the top level: source is 'cloud'; valid: auto, serial, "
        "microphone, emulator",
    ]


def test_missing_required_skill_setting_says_what_it_is(tmp_path):
    found = problems(tmp_path, "commands:\n  go: needy.go\nskills:\n  needy: {}\n")
    assert found == [
        f"{tmp_path}/config.yaml:4: skills.needy: missing setting 'broker' "
        "(address of the MQTT broker)"
    ]


def test_yaml_syntax_errors_and_duplicate_keys_name_their_line(tmp_path):
    assert problems(tmp_path, "commands:\n  on: [recorder.dim\n")[0].startswith(
        f"{tmp_path}/config.yaml:3: YAML syntax error"
    )
    assert problems(tmp_path, "commands:\n  on: recorder.dim\n  on: recorder.dim\n") == [
        f"{tmp_path}/config.yaml:3: key 'on' is given twice"
    ]


def test_user_config_overrides_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == DEFAULT_CONFIG
    user = tmp_path / "assistant" / "config.yaml"
    user.parent.mkdir()
    user.write_text("commands: {}\n")
    assert config_path() == user
    assert config_path(tmp_path / "other.yaml") == tmp_path / "other.yaml"
