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
        f"{tmp_path}/config.yaml:5: device: unknown setting 'prot'; valid: port, baudrate, "
        "heartbeat_timeout, max_line_errors",
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
