"""An example skill: greets you, and remembers how many times it did across restarts."""

from __future__ import annotations

from assistant.plugin import CommandEvent, Setting, Skill, SkillError, action


class GreeterSkill(Skill):
    name = "greeter"
    description = "Greets you and counts the greetings"
    requires_api = (1, 0)  # the plugin API version it needs (assistant.plugin.API_VERSION)
    settings = (
        Setting("greeting", str, "Hello", "the word to greet with"),
        Setting("style", str, "short", "how to greet", choices=("short", "counted")),
    )

    def start(self) -> None:
        self.counter_file = self.context.data_dir / "greetings.txt"
        if not self.counter_file.exists():
            self.counter_file.write_text("0")

    def status_lines(self) -> list[str]:
        """What `assistant status` shows of this skill."""
        return [f"greetings so far: {self.counter_file.read_text()}"]

    @action(help="greet someone", params=(Setting("who", str, "friend", "whom to greet"),))
    def greet(self, event: CommandEvent, who: str) -> str:
        count = int(self.counter_file.read_text()) + 1
        self.counter_file.write_text(str(count))
        self.context.log.info("greeting %s (heard %r at %.2f)", who, event.command, event.score)
        greeting = f"{self.context.settings['greeting']}, {who}"
        if self.context.settings["style"] == "counted":
            greeting += f". That makes {count} greetings"
        return greeting

    @action(help="say goodbye; fails on purpose when nobody was greeted yet")
    def goodbye(self, event: CommandEvent) -> str:
        if self.counter_file.read_text() == "0":
            raise SkillError("I cannot say goodbye before saying hello")
        return "Goodbye"
