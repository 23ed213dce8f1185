"""The replies skill, through the real plugin host."""

from __future__ import annotations

from pathlib import Path

import pytest
from skill_host import SkillUnderTest

from assistant.plugin import SkillError
from skills.replies import RepliesSkill


def test_say_speaks_text_or_a_named_phrase(tmp_path: Path) -> None:
    skill = SkillUnderTest(RepliesSkill, {"phrases": {"greeting": "Hello there"}}, tmp_path)
    try:
        assert skill.do("say", text="Good night") == "Good night"
        assert skill.do("say", phrase="greeting") == "Hello there"
        with pytest.raises(SkillError, match=r"no phrase named 'bye'.*known: greeting"):
            skill.do("say", phrase="bye")
        with pytest.raises(SkillError, match="needs `with: "):
            skill.do("say")
    finally:
        skill.stop()
    assert skill.replies == [
        "Good night",
        "Hello there",
        "replies.say: no phrase named 'bye' under skills.replies.phrases (known: greeting)",
        "replies.say needs `with: {text: ...}` or `with: {phrase: ...}`",
    ]
