"""Spoken replies: a command mapped to `replies.say` speaks a configured phrase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.plugin import (
    CommandEvent,
    Setting,
    SettingValueError,
    Skill,
    SkillError,
    action,
    valid_choices,
)


class RepliesSkill(Skill):
    name = "replies"
    description = "speaks a configured phrase"
    settings = (
        Setting(
            "phrases",
            dict,
            {},
            "named phrases, e.g. {greeting: Hello}; `with: {phrase: greeting}` speaks one",
            values=str,
        ),
    )

    @classmethod
    def check_params(
        cls, action: str, params: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        if action == "say":
            _words(params["text"], params["phrase"], settings["phrases"])

    @action(
        params=(
            Setting("text", str, "", "the words to speak"),
            Setting("phrase", str, "", "name of a phrase from the skill's `phrases` setting"),
        )
    )
    def say(self, event: CommandEvent, text: str = "", phrase: str = "") -> str:
        """Speak `text`, or the named phrase from settings."""
        try:
            return _words(text, phrase, self.context.settings["phrases"])
        except SettingValueError as error:  # config check reports it first
            raise SkillError(f"replies.say: {error}", spoken="That reply is not set up") from None


def _words(text: str, phrase: str, phrases: Mapping[str, str]) -> str:
    """What `say` speaks; SettingValueError naming the parameter that cannot work."""
    if text and phrase:
        raise SettingValueError("give `text` or `phrase`, not both", "phrase")
    if phrase:
        if phrase not in phrases:
            raise SettingValueError(
                f"no phrase named {phrase!r} under skills.replies.phrases; "
                + valid_choices(phrase, sorted(phrases), "known"),
                "phrase",
            )
        return phrases[phrase]
    if not text:
        raise SettingValueError("give `with: {text: ...}` or `with: {phrase: ...}`")
    return text
