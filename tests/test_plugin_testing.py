"""The testing companion of the plugin API (assistant.plugin_testing), as a plugin's own tests
use it: the example plugin's tests, and what they do not reach."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_skills import NoStartSkill, PatientSkill, TroubleSkill
from test_config_paths import SoundSkill

from assistant.plugin_testing import ConfigRefused, SkillUnderTest
from assistant.skill_runner import Abandoned

REPO = Path(__file__).resolve().parent.parent

module_log = logging.getLogger(__name__)


def test_the_example_plugins_own_tests_pass_with_pytest_in_its_folder() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=REPO / "examples" / "greeter-skill",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 passed" in ran.stdout


class Chatty(PatientSkill):
    name = "chatty"

    def start(self) -> None:
        self.context.log.debug("starting in %s", self.context.data_dir)
        module_log.warning("a line of its module's logger")


def test_a_temporary_folder_the_log_and_a_stop_as_at_shutdown() -> None:
    skill = SkillUnderTest(Chatty, timeout=0.5)
    folder = skill.data_root / "chatty"
    assert skill.logged == [f"DEBUG starting in {folder}", "WARNING a line of its module's logger"]
    assert skill.do("hold") is None and skill.has_focus
    with pytest.raises(Abandoned):  # past the timeout: the call is given up on
        skill.do("stubborn")
    skill.skill.release.set()
    skill.stop()
    assert skill.skill.stopped.is_set() and not skill.has_focus
    assert not skill.data_root.exists()
    assert logging.getLogger("assistant.skill.chatty").level == logging.NOTSET  # as it was


def test_a_skill_that_cannot_start_is_not_running_and_says_why(tmp_path: Path) -> None:
    with SkillUnderTest(NoStartSkill, {}, tmp_path) as skill:
        assert skill.skill is None
        assert skill.start_error == "SkillError: the lamp file is missing"
        assert skill.replies == ["the lamp file is missing"]


def test_an_action_that_crashes_raises_its_error(tmp_path: Path) -> None:
    with SkillUnderTest(TroubleSkill, {}, tmp_path) as skill:
        with pytest.raises(RuntimeError, match="boom"):
            skill.do("crash")
        assert skill.do("fine") == "fine"


def test_a_call_checks_the_skills_settings_once(tmp_path: Path) -> None:
    """A skill's check_settings may read a file: a call judges the settings with the call, in
    one check."""
    checked: list[str] = []

    class CountedSoundSkill(SoundSkill):
        @classmethod
        def check_settings(cls, settings):
            checked.append(settings["chime"])
            return super().check_settings(settings)

    (tmp_path / "ding.wav").touch()
    settings = {"chime": "ding.wav"}
    with SkillUnderTest(CountedSoundSkill, settings, tmp_path, config_dir=tmp_path) as sound:
        built = len(checked)
        sound.do("play", file="b.wav")
        with pytest.raises(ConfigRefused):
            sound.do("play", files="b.wav")
    assert checked[built:] == [str(tmp_path / "ding.wav")] * 2


def test_a_file_its_settings_name_removed_since_it_was_built_reaches_the_skill(
    tmp_path: Path,
) -> None:
    """As in a running assistant, whose settings were checked when it loaded them: an action
    is refused for what is wrong with the call, not for a settings file gone since."""
    chime = tmp_path / "ding.wav"
    chime.touch()
    with SkillUnderTest(SoundSkill, {"chime": "ding.wav"}, tmp_path, config_dir=tmp_path) as sound:
        chime.unlink()
        assert sound.do("play", file="b.wav") == f"{chime} then {tmp_path}/b.wav"
        with pytest.raises(ConfigRefused) as refused:
            sound.do("play", files="b.wav")
        assert str(refused.value) == (
            "sound.play.with: unknown setting 'files'; did you mean 'file'? valid: file"
        )
