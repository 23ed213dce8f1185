"""Spoken replies: a command mapped to `replies.say` speaks a configured phrase."""

from __future__ import annotations

from assistant.plugin import CommandEvent, Setting, Skill, SkillError, action


class RepliesSkill(Skill):
    name = "replies"
    description = "speaks a configured phrase"
    settings = (
        Setting(
            "phrases",
            dict,
            {},
            "named phrases, e.g. {greeting: Hello}; `with: {phrase: greeting}` speaks one",
        ),
    )

    @action(
        params=(
            Setting("text", str, "", "the words to speak"),
            Setting("phrase", str, "", "name of a phrase from the skill's `phrases` setting"),
        )
    )
    def say(self, event: CommandEvent, text: str = "", phrase: str = "") -> str:
        """Speak `text`, or the named phrase from settings."""
        if text and phrase:
            raise SkillError("replies.say takes `text` or `phrase`, not both")
        if phrase:
            phrases = self.context.settings["phrases"]
            if phrase not in phrases:
                known = ", ".join(sorted(phrases)) or "none"
                raise SkillError(
                    f"replies.say: no phrase named {phrase!r} under skills.replies.phrases "
                    f"(known: {known})"
                )
            return str(phrases[phrase])
        if not text:
            raise SkillError("replies.say needs `with: {text: ...}` or `with: {phrase: ...}`")
        return text
