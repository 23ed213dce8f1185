"""Runs one built-in skill through the real plugin host for tests: settings validated against
the skill's schema, replies collected, and a scripted follow-up phrase (there is no microphone
here) unless the test gives a listener."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assistant.focus import Focus
from assistant.host import ListenForPhrase, PluginHost
from assistant.plugin import CommandEvent, Skill
from assistant.settings import validate_settings


class SkillUnderTest:
    def __init__(
        self,
        skill: type[Skill],
        settings: Mapping[str, Any],
        data_root: Path,
        phrases: list[str | None] | None = None,
        timeout: float = 10.0,
        listen_for_phrase: ListenForPhrase | None = None,
    ):
        values, problems = validate_settings(settings, skill.settings)
        assert not problems, problems
        self.said: list[tuple[str, str | None]] = []
        """Each reply, with where it was to be spoken (None: this machine)."""
        self.phrases = list(phrases or [])
        self.grammars: list[list[str]] = []
        self.prompts: list[str] = []
        """The question each listening's cue would say."""
        self.focus = Focus(30)
        self.host = PluginHost(
            {skill.name: skill},
            self.focus,
            data_root,
            self._reply,
            timeout=timeout,
            listen_for_phrase=listen_for_phrase or self._listen,
        )
        self.name = skill.name
        self.host.configure({skill.name: values})
        self.host.runners[skill.name].submit("started", lambda: None).result(timeout)
        self.skill = self.host.skills.get(skill.name)
        """The running skill; None when it could not start (its error is in `replies`)."""

    @property
    def replies(self) -> list[str]:
        return [text for text, _ in self.said]

    def _reply(self, text: str, site: str | None) -> None:
        self.said.append((text, site))

    def _listen(
        self, grammar: list[str], seconds: float, stopped: Callable[[], bool], prompt: str
    ) -> str | None:
        self.grammars.append(grammar)
        self.prompts.append(prompt)
        return self.phrases.pop(0) if self.phrases else None

    def do(
        self,
        action: str,
        command: str = "go",
        timeout: float = 15.0,
        site: str = "default",
        **params: Any,
    ) -> Any:
        """Run an action like the dispatcher would, for a command heard at `site`, and return
        its reply (or raise its error)."""
        event = CommandEvent(command, 0.95, source="test", site=site)
        future = self.host.call(self.name, action, event, params)
        settled = threading.Event()  # callbacks run in order: the host's reply comes first
        future.add_done_callback(lambda done: settled.set())
        assert settled.wait(timeout), f"{action} did not finish within {timeout} s"
        return future.result(0)

    def stop(self) -> None:
        """Stop the skill (waiting for its `stop` to finish) and the host."""
        self.host.configure({})
        self.host.runners[self.name].submit("stopped", lambda: None).result(10)
        self.host.stop()
