"""The replies skill, through the real plugin host."""

from __future__ import annotations

from pathlib import Path

import pytest
from skill_host import SkillUnderTest

from assistant.config import ConfigError, load_config
from assistant.discovery import discover_skills
from assistant.plugin import SkillError
from skills.replies import RepliesSkill


def test_say_speaks_text_or_a_named_phrase(tmp_path: Path) -> None:
    skill = SkillUnderTest(RepliesSkill, {"phrases": {"greeting": "Hello there"}}, tmp_path)
    try:
        assert skill.do("say", text="Good night") == "Good night"
        assert skill.do("say", phrase="greeting") == "Hello there"
        with pytest.raises(SkillError, match=r"no phrase named 'bye'.*known: greeting"):
            skill.do("say", phrase="bye")
        with pytest.raises(SkillError, match="give `with: "):
            skill.do("say")
    finally:
        skill.stop()
    assert skill.replies == [
        "Good night",
        "Hello there",
        "That reply is not set up",  # the log and `assistant send` say why
        "That reply is not set up",
    ]


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
