"""The testing companion of the plugin API: runs one skill in a test the way the assistant runs
it, without the daemon (see docs/writing-skills.md, "Test it").

    from assistant.plugin_testing import SkillUnderTest

    def test_greets(tmp_path):
        with SkillUnderTest(GreeterSkill, {"style": "counted"}, tmp_path) as greeter:
            assert greeter.do("greet", who="Ada") == "Hello, Ada. That makes 1 greetings"

Nothing is imitated: the settings and each call's parameters go through the checks of
`config check`, the skill runs on the plugin host's own thread, with its timeout, cancellation,
focus and data directory, and is stopped as the host stops it. Only what it says, the follow-up
phrases it hears and its log are kept for the test to read.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from assistant.clocks import elapsed
from assistant.config import check_skill_use
from assistant.discovery import code_package
from assistant.focus import Focus
from assistant.host import ListenForPhrase, PluginHost
from assistant.plugin import CommandEvent, Skill
from assistant.skill_runner import SkillBusy


class ConfigRefused(ValueError):
    """Settings, or a call's parameters, that `config check` would refuse; the message has
    each problem as it says it, one a line."""


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_TestedSkill = TypeVar("_TestedSkill", bound=Skill)


class SkillUnderTest(Generic[_TestedSkill]):
    """`skill` built with `settings` (its `skills.<name>:` section) and started, its files under
    `data_root/<name>/` (None: a temporary folder removed by `stop`). ConfigRefused when
    `config check` would refuse the settings. A skill whose constructor or start fails is not
    running: `skill` is None and `start_error` says why, as `assistant status` would.

    `phrases` answer its follow-up phrases in turn (None: nothing understood; none left: None),
    or `listen_for_phrase` does; `timeout` is the `skill_timeout`, `focus_seconds` the
    configuration's. `allow_refused` builds it even with settings `config check` refuses
    (their problems in `refused`), to test what it does should they reach it all the same (a
    file missing when it starts). A setting or parameter declared `path=True` is resolved as
    `config check` resolves it: `~` expanded, a relative path taken from `config_dir`, the
    folder of the configuration file the settings stand for (None: the current folder when
    built). Use it as a context manager, or call `stop`."""

    def __init__(
        self,
        skill: type[_TestedSkill],
        settings: Mapping[str, Any] | None = None,
        data_root: Path | None = None,
        phrases: list[str | None] | None = None,
        timeout: float = 10.0,
        listen_for_phrase: ListenForPhrase | None = None,
        focus_seconds: float = 30.0,
        allow_refused: bool = False,
        config_dir: Path | None = None,
    ):
        self.name = skill.name
        self.settings = dict(settings or {})
        self.config_dir = Path.cwd() if config_dir is None else config_dir
        """Where a relative path in the settings or a call's parameters is taken from."""
        values, _, self.refused, _ = check_skill_use(skill, self.settings, folder=self.config_dir)
        if self.refused and not allow_refused:
            raise ConfigRefused("\n".join(self.refused))
        self.data_root = data_root or Path(tempfile.mkdtemp(prefix="skill-test-"))
        self._temporary = None if data_root else self.data_root
        self.said: list[tuple[str, str | None]] = []
        """What the assistant would say, in order: replies, SkillError's sentences and
        `context.say`'s, each with its site (None: this machine)."""
        self.phrases = list(phrases or [])
        self.grammars: list[list[str]] = []
        """The grammar of each follow-up phrase listened for."""
        self.prompts: list[str] = []
        """The question each listening's cue would say."""
        self._kept = _Kept()
        names = {f"assistant.skill.{self.name}", code_package(skill)} - {"assistant"}
        self._levels = {logging.getLogger(name): logging.getLogger(name).level for name in names}
        for logger in self._levels:
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self._kept)
        self.focus = Focus(focus_seconds)
        self.host = PluginHost(
            {self.name: skill},
            self.focus,
            self.data_root,
            self._reply,
            timeout=timeout,
            listen_for_phrase=listen_for_phrase or self._listen,
        )
        """The plugin host it runs on, for what this class does not cover."""
        self._stopped = False
        self.host.configure({self.name: values})
        self._started()
        self.skill = cast("_TestedSkill | None", self.host.skills.get(self.name))
        """The running skill; None when it could not be built or started (`start_error`)."""

    def __enter__(self) -> SkillUnderTest[_TestedSkill]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def replies(self) -> list[str]:
        """What the assistant would say, without the sites."""
        return [text for text, _ in self.said]

    @property
    def logged(self) -> list[str]:
        """The skill's log lines (its `context.log`, and the loggers of its package), as
        `LEVEL message`, from DEBUG up."""
        return [f"{r.levelname} {r.getMessage()}" for r in self._kept.records]

    @property
    def start_error(self) -> str | None:
        """Why the skill is not running (its constructor or start failed), or None."""
        return self.host.start_errors.get(self.name)

    @property
    def has_focus(self) -> bool:
        return self.focus.current() == self.name

    def do(self, action: str, event: CommandEvent | str = "go", /, **params: Any) -> str | None:
        """Run `action` with `params` (its `with:`) as the assistant does for a command: `event`,
        or a command heard by a board now (score 0.95). The reply (None: none), or the error
        the call raised: SkillError, NothingToDo, another exception of the skill,
        assistant.skill_runner.Abandoned after the timeout. ConfigRefused when `config check` would
        refuse the call; the settings are not judged again (a file they name removed since the
        skill was built is the skill's to handle, as in a running assistant)."""
        if isinstance(event, str):
            event = CommandEvent(event, 0.95, source="test", received=elapsed(), heard=True)
        skill = self.host.installed[self.name]
        use = [(action, params)]
        _, calls, _, problems = check_skill_use(skill, self.settings, use, self.config_dir)
        if problems:
            raise ConfigRefused("\n".join(problems))
        future = self.host.call(self.name, action, event, calls[0].params)
        settled = threading.Event()  # callbacks run in order: the host's reply comes first
        future.add_done_callback(lambda done: settled.set())
        wait = 2 * self.host.timeout + 5  # the host abandons it by then, even queued
        assert settled.wait(wait), f"{action} did not finish within {wait:g} s"
        return future.result(0)

    def status(self) -> list[str]:
        """What `assistant status` would show of the skill: `skill <name>: <line>` each."""
        return self.host.skill_status()

    def _reply(self, text: str, site: str | None) -> None:
        self.said.append((text, site))

    def _listen(
        self, grammar: list[str], seconds: float, stopped: Callable[[], bool], prompt: str
    ) -> str | None:
        self.grammars.append(grammar)
        self.prompts.append(prompt)
        return self.phrases.pop(0) if self.phrases else None

    def _started(self) -> None:
        """Wait until the skill's start has run, or was abandoned (then the marker queued
        behind it is refused)."""
        marker = self.host.runners[self.name].submit("started", lambda: None)
        with contextlib.suppress(SkillBusy):
            marker.result(2 * self.host.timeout + 5)

    def stop(self) -> None:
        """Stop the skill as the assistant does at shutdown: the cancellation of a call still
        running is set, then its `stop` runs, waited for up to the timeout (logged when it does
        not finish); then the temporary data folder, if any, is removed. Once; later calls do
        nothing."""
        if self._stopped:
            return
        self._stopped = True
        self.host.stop()
        for logger, level in self._levels.items():
            logger.removeHandler(self._kept)
            logger.setLevel(level)
        if self._temporary:
            shutil.rmtree(self._temporary, ignore_errors=True)
