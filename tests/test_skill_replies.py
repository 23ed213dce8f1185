"""The replies skill, through the real plugin host."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import ConfigError, load_config
from assistant.discovery import discover_skills
from assistant.plugin import CommandEvent, SkillError
from assistant.plugin_testing import ConfigRefused, SkillUnderTest
from skills.replies import RepliesSkill


def test_say_speaks_text_or_a_named_phrase(tmp_path: Path) -> None:
    with SkillUnderTest(RepliesSkill, {"phrases": {"greeting": "Hello there"}}, tmp_path) as skill:
        assert skill.do("say", text="Good night") == "Good night"
        assert skill.do("say", phrase="greeting") == "Hello there"
        # what `config check` refuses in a `with:` never reaches the action
        with pytest.raises(
            ConfigRefused, match=r"^replies.say: no phrase named 'bye'.*: greeting$"
        ):
            skill.do("say", phrase="bye")
        with pytest.raises(ConfigRefused, match=r"^replies.say: give `with: \{text: ...\}` or"):
            skill.do("say")
        # should such a call reach it all the same, the action fails with a short sentence
        with pytest.raises(SkillError, match=r"no phrase named 'bye'") as failed:
            skill.skill.say(CommandEvent("go", 0.9), phrase="bye")
        assert failed.value.spoken == "That reply is not set up"
    assert skill.replies == ["Good night", "Hello there"]


def test_settings_are_checked_as_config_check_does(tmp_path: Path) -> None:
    with pytest.raises(ConfigRefused) as refused:
        SkillUnderTest(RepliesSkill, {"phrase": {"greeting": "Hello"}}, tmp_path)
    assert str(refused.value) == (
        "skills.replies: unknown setting 'phrase'; did you mean 'phrases'? valid: phrases"
    )


def test_config_check_reports_a_call_that_say_would_refuse_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "commands:\n"
        "  go:\n"
        "    action: replies.say\n"
        "    with:\n"
        "      phrase: redy\n"
        "  off: replies.say\n"
        "  up: {action: replies.say, with: {phrase: ready, text: hi}}\n"
        "  on: {action: replies.say, with: {phrase: ready}}\n"
        "skills:\n"
        "  replies: {phrases: {ready: Ready}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, discover_skills()[0])
    assert [str(problem) for problem in caught.value.problems] == [
        f"{config}:5: replies.say: no phrase named 'redy' under skills.replies.phrases; did you "
        "mean 'ready'? known: ready",
        f"{config}:6: replies.say: give `with: {{text: ...}}` or `with: {{phrase: ...}}`",
        f"{config}:7: replies.say: give `text` or `phrase`, not both",
    ]
