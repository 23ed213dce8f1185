"""Files and folders named in a configuration: `~` expanded and a relative path taken from the
folder of the file it is written in, whatever folder the assistant runs in."""

import shutil
import textwrap
from pathlib import Path

import pytest

from assistant import cli_skills
from assistant.config import ConfigError, config_path, load_config
from assistant.discovery import discover_skills
from assistant.model_files import DEFAULT_MODEL, model_card_path
from assistant.plugin import Setting, Skill, action
from assistant.plugin_testing import ConfigRefused, SkillUnderTest
from assistant.settings import schema_problem

BUILT_IN = discover_skills()[0]
SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")


def model_copy(folder: Path) -> Path:
    """The committed model and its card, copied into `folder` as m.tflite and m.json."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEFAULT_MODEL, folder / "m.tflite")
    shutil.copy(model_card_path(DEFAULT_MODEL), folder / "m.json")
    return folder / "m.tflite"


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, BUILT_IN)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The folder the process runs in: not the configuration's."""
    folder = tmp_path / "B"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_relative_paths_are_taken_from_the_configuration_files_folder(tmp_path, elsewhere):
    model = model_copy(tmp_path / "A" / "sub")
    (tmp_path / "A" / "certs").mkdir()
    shutil.copy(SYSTEM_CAS, tmp_path / "A" / "certs" / "ca.pem")
    config = load_config(
        write(
            tmp_path / "A",
            """
            microphone: {model: sub/m.tflite}
            phrase: {model: vosk/../vosk}
            mqtt: {tls: true, ca_file: certs/ca.pem}
            skills:
              lights: {tls: true, ca_file: ./certs/ca.pem}
            """,
        ),
        BUILT_IN,
    )
    assert config.sections["microphone"]["model"] == str(model)
    assert config.sections["phrase"]["model"] == str(tmp_path / "A" / "vosk")
    assert config.sections["mqtt"]["ca_file"] == str(tmp_path / "A" / "certs" / "ca.pem")
    assert config.skills["lights"]["ca_file"] == str(tmp_path / "A" / "certs" / "ca.pem")
    # what is not a path where it is written keeps its meaning
    defaults = load_config(write(tmp_path / "C", "microphone: {model: default}\n"), BUILT_IN)
    assert defaults.sections["microphone"]["model"] == "default"
    assert (defaults.sections["phrase"]["model"], defaults.sections["device"]["port"]) == (
        "",
        "auto",
    )


def test_a_tilde_is_the_home_folder(tmp_path, elsewhere, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    model = model_copy(home / "models")
    (home / "ca.pem").write_bytes(SYSTEM_CAS.read_bytes())
    config = load_config(
        write(
            tmp_path / "A",
            """
            device: {port: ~/board}
            microphone: {model: ~/models/m.tflite}
            skills:
              lights: {tls: true, ca_file: ~/ca.pem}
            """,
        ),
        BUILT_IN,
    )
    assert config.sections["device"]["port"] == str(home / "board")
    assert config.sections["microphone"]["model"] == str(model)
    assert config.skills["lights"]["ca_file"] == str(home / "ca.pem")
    assert config_path("~/other.yaml") == home / "other.yaml"
    assert config_path("mine.yaml") == elsewhere / "mine.yaml"  # the command line's: from here


def test_a_missing_file_names_the_line_the_value_as_written_the_path_and_the_fix(
    tmp_path, elsewhere, monkeypatch
):
    model_copy(elsewhere / "sub")  # where the folder the assistant runs in would have found it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(
        tmp_path / "A",
        """
        microphone:
          model: sub/m.tflite
        skills:
          lights:
            tls: true
            ca_file: ~/ca.pem
        """,
    )
    folder = tmp_path / "A"
    assert problems(path) == [
        f"{path}:3: microphone.model: {folder / 'sub' / 'm.tflite'}: no such model file (written "
        f"'sub/m.tflite': a relative path is taken from {folder}, the folder of the "
        "configuration file; correct it from there, or give an absolute path)",
        f"{path}:7: skills.lights: ca_file {tmp_path / 'home' / 'ca.pem'} is not a file: give "
        f"the CA certificate's path, or empty (written '~/ca.pem': `~` is the home folder, "
        f"{tmp_path / 'home'})",
    ]


def test_a_named_vosk_model_that_is_not_there_is_a_warning_at_its_line(tmp_path, elsewhere):
    path = write(tmp_path / "A", "phrase:\n  model: vosk-de\ncommands: {}\n")
    config = load_config(path, BUILT_IN)
    assert str(config.warnings[0]) == (
        f"{path}:2: warning: phrase.model: no Vosk model at {tmp_path / 'A' / 'vosk-de'}; set "
        "phrase.model to a Vosk model's folder, or empty for the one `assistant models "
        "download` installs (written 'vosk-de': a relative path is taken from "
        f"{tmp_path / 'A'}, the folder of the configuration file; correct it from there, or "
        "give an absolute path)"
    )


class SoundSkill(Skill):
    """A plugin with a file among its settings and its parameters."""

    name = "sound"
    requires_api = (1, 1)
    settings = (Setting("chime", str, "", "sound file", path=True),)

    @classmethod
    def check_settings(cls, settings):
        chime = settings["chime"]
        return f"chime {chime} is not a file" if chime and not Path(chime).is_file() else None

    @action(params=(Setting("file", str, "", "another sound", path=True),))
    def play(self, event, file):
        return f"{self.context.settings['chime']} then {file}"


def test_a_plugin_setting_declared_a_path_is_resolved_in_config_and_in_its_tests(
    tmp_path, elsewhere
):
    (tmp_path / "A" / "sounds").mkdir(parents=True)
    (tmp_path / "A" / "sounds" / "ding.wav").touch()
    path = write(
        tmp_path / "A",
        """
        commands:
          go: {do: {action: sound.play, with: {file: ~/x.wav}}}
        skills:
          sound: {chime: sounds/ding.wav}
        """,
    )
    config = load_config(path, {"sound": SoundSkill})
    chime = str(tmp_path / "A" / "sounds" / "ding.wav")
    assert config.skills["sound"]["chime"] == chime
    assert config.commands["go"].actions[0].params["file"] == str(Path.home() / "x.wav")
    # the testing companion: from the configuration's folder given, else the current folder
    settings = {"chime": "sounds/ding.wav"}
    with SkillUnderTest(SoundSkill, settings, tmp_path, config_dir=tmp_path / "A") as sound:
        assert sound.do("play", file="sounds/b.wav") == f"{chime} then {tmp_path}/A/sounds/b.wav"
    with pytest.raises(ConfigRefused) as refused:
        SkillUnderTest(SoundSkill, settings, tmp_path)
    assert str(refused.value).startswith(
        f"skills.sound: chime {elsewhere}/sounds/ding.wav is not a file"
    )


def test_only_a_text_setting_can_be_a_path_and_skills_says_which_are():
    number = (Setting("size", int, 1, path=True),)
    assert schema_problem(number, "settings") == (
        "settings: 'size' is int with path=True; a path is a str setting"
    )
    assert (
        cli_skills._described(SoundSkill.settings[0])
        == "chime (str, default '', a path): sound file"
    )


def test_a_name_too_long_for_the_system_is_a_problem_at_its_line_not_a_crash(tmp_path):
    """The system refuses to look a name up, rather than finding nothing there: each place
    says so at its line, with its fix."""
    too_long = tmp_path / ("n" * 300)  # longer than a file name may be
    path = write(
        tmp_path,
        f"""
        microphone: {{model: {too_long}}}
        mqtt: {{tls: true, ca_file: {too_long}}}
        skills:
          lights: {{tls: true, ca_file: {too_long}}}
        """,
    )
    assert problems(path) == [
        f"{path}:2: microphone.model: {too_long}: cannot look for the model file: File name too "
        "long",
        f"{path}:3: mqtt.ca_file {too_long} is not a file (File name too long): give the CA "
        "certificate's path, or empty",
        f"{path}:5: skills.lights: ca_file {too_long} is not a file (File name too long): give the "
        "CA certificate's path, or empty",
    ]


def test_a_phrase_model_name_too_long_for_the_system_is_warned_about_at_its_line(tmp_path):
    too_long = tmp_path / ("n" * 300)
    path = write(tmp_path, f"phrase: {{model: {too_long}}}\n")
    warnings = [str(warning) for warning in load_config(path, BUILT_IN).warnings]
    assert (
        f"{path}:1: warning: phrase.model: no Vosk model at {too_long} (File name too long); "
        "set phrase.model to a Vosk model's folder, or empty for the one `assistant models "
        "download` installs" in warnings
    )
