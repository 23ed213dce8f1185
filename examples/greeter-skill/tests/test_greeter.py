"""The greeter's own tests, run with the assistant's testing companion: no daemon, no
configuration file, the skill as the assistant runs it (`pytest` in this folder)."""

from pathlib import Path

import pytest
from assistant_greeter import GreeterSkill

from assistant.plugin import CommandEvent, SkillError
from assistant.plugin_testing import ConfigRefused, SkillUnderTest


def test_greets_counts_and_remembers_the_count_across_restarts(tmp_path: Path) -> None:
    with SkillUnderTest(GreeterSkill, {"style": "counted"}, tmp_path) as greeter:
        assert greeter.do("greet", "on", who="Ada") == "Hello, Ada. That makes 1 greetings"
        assert greeter.status() == ["skill greeter: greetings so far: 1"]
        assert greeter.logged == ["INFO greeting Ada (heard 'on' at 0.95)"]
    with SkillUnderTest(GreeterSkill, {"greeting": "Hi"}, tmp_path) as greeter:
        event = CommandEvent("off", 0.8, source="test")
        assert greeter.do("greet", event) == "Hi, friend"  # the default of `who`
        assert (tmp_path / "greeter" / "greetings.txt").read_text() == "2"
        assert greeter.replies == ["Hi, friend"]


def test_goodbye_before_any_greeting_fails_and_is_said() -> None:
    with SkillUnderTest(GreeterSkill) as greeter:  # its files in a temporary folder
        with pytest.raises(SkillError, match="before saying hello"):
            greeter.do("goodbye")
        assert greeter.replies == ["I cannot say goodbye before saying hello"]
        greeter.do("greet")
        assert greeter.do("goodbye") == "Goodbye"


def test_what_config_check_refuses_is_refused() -> None:
    with pytest.raises(ConfigRefused, match=r"^skills.greeter: style is 'loud'; valid: short"):
        SkillUnderTest(GreeterSkill, {"style": "loud"})
    with SkillUnderTest(GreeterSkill) as greeter:
        with pytest.raises(ConfigRefused, match=r"unknown setting 'whom'; did you mean 'who'\?"):
            greeter.do("greet", whom="Ada")
        with pytest.raises(ConfigRefused, match=r"no action 'greeting'; did you mean 'greet'\?"):
            greeter.do("greeting")
