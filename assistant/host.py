"""The plugin host: starts the installed skills (assistant/discovery.py finds them) with their
settings, and runs their actions so that an exception or a hang in one skill never stops the
daemon or the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from assistant.focus import Focus
from assistant.plugin import SITE_DEFAULT, CommandEvent, MqttLink, NothingToDo, Skill, SkillError
from assistant.skill_mqtt import SkillMqtt
from assistant.skill_runner import Abandoned, Cancelled, SkillBusy, SkillNotRunning, SkillRunner
from assistant.skill_status import STATUS_SECONDS, StatusLines, one_line

log = logging.getLogger("assistant.host")

Reply = Callable[[str, "str | None"], None]
"""Speaks a reply: (text, site)."""

ListenForPhrase = Callable[[list[str], float, Callable[[], bool], str], "str | None"]
"""Transcribes one follow-up phrase: (grammar, seconds, stopped, prompt: the question its cue
may say); gives up with None once `stopped()` is true."""

ListenElsewhere = Callable[[str, list[str], float, Callable[[], bool], str], "str | None"]
"""Transcribes one follow-up phrase in another site: (site, then as ListenForPhrase)."""


class _Context:
    """The SkillContext the host gives each skill."""

    def __init__(self, host: PluginHost, name: str, settings: Mapping[str, Any]):
        self.name = name
        self.settings = dict(settings)
        self.log = logging.getLogger(f"assistant.skill.{name}")
        self._host = host
        self._links: list[SkillMqtt] = []
        """The MQTT connections made for the skill, which `close_links` stops."""
        self._links_lock = threading.Lock()

    @property
    def data_dir(self) -> Path:
        """Created when first asked for, so only a skill that keeps files needs the data
        directory; SkillError when it cannot be created."""
        path = self._host.data_root / self.name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            in_the_way = [p for p in (path, *path.parents) if p.exists() and not p.is_dir()]
            fix = (
                f"{in_the_way[0]} is a file, not a directory: remove or move it"
                if in_the_way
                else f"make {self._host.data_root} a directory the user running the assistant "
                "can write"
            )
            raise SkillError(
                f"cannot create the data directory {path} ({error.strerror}); {fix}",
                spoken=f"The {self.name} skill cannot save its files",
            ) from None
        return path

    @property
    def cancelled(self) -> threading.Event:
        call = self._host.runners[self.name].current()
        return call.cancelled if call else threading.Event()  # outside a call: never set

    def say(self, text: str, site: str | None = None) -> None:
        self._host.reply(text, site)

    def hold_focus(self, seconds: float | None = None) -> None:
        self._host.focus.give(self.name, seconds)

    def release_focus(self) -> None:
        self._host.focus.release(self.name)

    def listen_for_phrase(
        self, grammar: list[str], seconds: float = 4.0, prompt: str = ""
    ) -> str | None:
        call = self._host.runners[self.name].current()
        stopped = self.cancelled.is_set
        if call and call.site is not None and call.site != self._host.site:
            return self._host.phrase_elsewhere(call.site, grammar, seconds, stopped, prompt)
        return self._host.listen_for_phrase(grammar, seconds, stopped, prompt)

    def connect_mqtt(self) -> MqttLink:
        link = SkillMqtt(self.settings, f"skills.{self.name}", self.log, lambda: self.cancelled)
        with self._links_lock:
            self._links.append(link)
        return link

    def close_links(self) -> None:
        """Stop the MQTT connections made for the skill, once it stopped or failed to start:
        none outlives it, reconnecting and logging for a skill that is not running, whether
        or not the skill stopped them itself."""
        with self._links_lock:
            links, self._links = self._links, []
        for link in links:
            link.stop()


@dataclass
class _Starting:
    """One start of a skill: its building, then its start, on the skill's thread."""

    name: str
    settings: Mapping[str, Any]
    """The settings it starts with: the same object as the host's while it is wanted."""
    context: _Context
    given_up: threading.Event = field(default_factory=threading.Event)
    """Set when the start overran the timeout: a start that finishes after all is undone."""


@dataclass(frozen=True)
class _Built:
    """A skill built and kept (starting or running), with the context it was given: stopping
    the skill closes the context's connections too."""

    skill: Skill
    context: _Context


def _no_phrase(
    grammar: list[str], seconds: float, stopped: Callable[[], bool], prompt: str
) -> str | None:
    log.warning("no follow-up phrase listener is configured")
    return None


class PluginHost:
    """Runs the configured skills, each on its own SkillRunner, under one watchdog: starts,
    restarts and stops them as the configuration changes, runs their actions, and logs and
    speaks what fails."""

    def __init__(
        self,
        installed: Mapping[str, type[Skill]],
        focus: Focus,
        data_root: Path,
        reply: Reply,
        timeout: float = 10.0,
        listen_for_phrase: ListenForPhrase = _no_phrase,
        site: str = SITE_DEFAULT,
    ):
        """`site` is the room of this machine's own board and microphone: a follow-up phrase is
        listened for only after commands heard there."""
        self.installed = installed
        self.focus = focus
        self.data_root = data_root
        self.reply = reply
        self.timeout = timeout
        self.listen_for_phrase = listen_for_phrase
        self.listen_elsewhere: ListenElsewhere | None = None
        """Listens in another site (a hub's satellites); None: no phrase there."""
        self.site = site
        self._phrase_elsewhere_told: set[str] = set()
        self._built: dict[str, _Built] = {}
        self.settings: dict[str, Mapping[str, Any]] = {}
        """The settings of each configured skill, from its start until it stops or fails to
        start."""
        self.runners: dict[str, SkillRunner] = {}
        self.failures: dict[str, int] = {}
        self.start_errors: dict[str, str] = {}
        """Why each skill that is not running failed to be created or started."""
        self._status = StatusLines()
        self._lock = threading.Lock()
        """Guards `settings`, `start_errors` and `_built`, which skill threads change while they
        build and start."""
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="skill-watchdog", daemon=True)
        self._watchdog.start()

    @property
    def skills(self) -> Mapping[str, Skill]:
        """The skills built and kept (starting or running), by name: a copy, as they are now."""
        with self._lock:
            return {name: built.skill for name, built in self._built.items()}

    def _skill_built(self, name: str) -> Skill | None:
        built = self._built.get(name)
        return built.skill if built else None

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for runner in list(self.runners.values()):
                runner.check(now)

    def configure(self, skill_settings: Mapping[str, Mapping[str, Any]]) -> None:
        """Start the skills named in `skill_settings`; restart those whose settings changed and
        stop those no longer named. Returns once the new skills are built (each on its own
        thread), or after the skill timeout (a skill still busy with an abandoned call builds
        once it returns); their start goes on in the background."""
        with self._lock:  # a start failing on a skill thread takes its skill out meanwhile
            running = dict(self.settings)
        for name, settings in running.items():
            if skill_settings.get(name) != settings:
                self._stop_skill(name)
        with self._lock:
            for name in list(self.start_errors):
                if name not in skill_settings:
                    del self.start_errors[name]
        building = [
            self._start_skill(name, settings)
            for name, settings in skill_settings.items()
            if name not in self.settings
        ]
        wait(building, timeout=self.timeout)

    def set_timeout(self, seconds: float) -> None:
        """The longest a call may run, for the running skills and those started later."""
        self.timeout = seconds
        for runner in self.runners.values():
            runner.timeout = seconds

    def _start_skill(self, name: str, settings: Mapping[str, Any]) -> Future:
        """Build and start the skill on its own thread, each under the skill timeout like any
        call; the future is the building."""
        if name not in self.runners:
            self.runners[name] = SkillRunner(name, self.timeout)
        with self._lock:
            self.start_errors.pop(name, None)
            self.settings[name] = settings
        starting = _Starting(name, settings, _Context(self, name, settings))
        runner = self.runners[name]
        building = runner.submit("constructor", partial(self._build, starting), lifecycle=True)
        building.add_done_callback(partial(self._start_ended, starting, "constructor"))
        started = runner.submit("start", partial(self._start_built, starting), lifecycle=True)
        started.add_done_callback(partial(self._start_ended, starting, "start"))
        return building

    def _wanted(self, starting: _Starting) -> bool:
        """Whether the skill is still configured with the settings it is starting with (not
        stopped or restarted by a reload meanwhile); called under the lock."""
        return self.settings.get(starting.name) is starting.settings

    def _build(self, starting: _Starting) -> None:
        """On the skill's thread: create the skill, kept only if still wanted."""
        try:
            skill = self.installed[starting.name](starting.context)
        except Exception as error:
            self._start_failed(starting, error)
            raise
        with self._lock:
            if self._wanted(starting):
                self._built[starting.name] = _Built(skill, starting.context)

    def _start_built(self, starting: _Starting) -> None:
        """On the skill's thread, after `_build`: start the skill built, if still wanted, and
        stop it again if its start was given up on meanwhile."""
        with self._lock:
            skill = self._skill_built(starting.name) if self._wanted(starting) else None
        if skill is None:  # not built, or stopped before it started
            starting.context.close_links()
            return
        try:
            skill.start()
        except Exception as error:
            self._start_failed(starting, error)
            raise
        if starting.given_up.is_set():  # finished after all: undo it
            try:
                skill.stop()
            finally:
                starting.context.close_links()

    def _start_ended(self, starting: _Starting, what: str, done: Future) -> None:
        """Once the building or the start (`what`) ended: on the skill's thread, or on the
        watchdog's when it was abandoned for overrunning the timeout."""
        error = done.exception()
        self._report(starting.name, what, error)
        if isinstance(error, Abandoned):
            if what == "start":
                starting.given_up.set()
            self._start_failed(starting, error)

    def _start_failed(self, starting: _Starting, error: BaseException) -> None:
        """Not running: no actions and no stop (its connections are closed for it), and the
        next configure tries again."""
        starting.context.close_links()
        with self._lock:
            if self._wanted(starting):
                del self.settings[starting.name]
                self._built.pop(starting.name, None)
                self.start_errors[starting.name] = f"{type(error).__name__}: {error}"

    def _stop_skill(self, name: str) -> Future:
        with self._lock:
            self.settings.pop(name, None)  # gone already if its start failed since it was listed
            built = self._built.pop(name, None)  # None: still being built, and then never started
        self.runners[name].cancel()  # a call still running for the skill should end now

        def stop() -> None:
            if built is None:
                return
            try:
                built.skill.stop()
            finally:
                built.context.close_links()

        def stopped(done: Future) -> None:
            """A stopped skill holds no focus: its next instance knows of no hold to release."""
            self.focus.release(name)
            self._report(name, "stop", done.exception())

        future = self.runners[name].submit("stop", stop, lifecycle=True)
        future.add_done_callback(stopped)
        return future

    def phrase_elsewhere(
        self,
        site: str,
        grammar: list[str],
        seconds: float,
        stopped: Callable[[], bool],
        prompt: str,
    ) -> str | None:
        """A follow-up phrase after a command of another `site`: heard there by
        `listen_elsewhere`, else None, with why said once per site."""
        if self.listen_elsewhere:
            return self.listen_elsewhere(site, grammar, seconds, stopped, prompt)
        if site not in self._phrase_elsewhere_told:
            self._phrase_elsewhere_told.add(site)
            log.info(
                "no follow-up phrase after commands from site %s: the microphone here is in "
                "site %s, so skills use their defaults there",
                site,
                self.site,
            )
        return None

    def call(
        self,
        skill_name: str,
        action: str,
        event: CommandEvent,
        params: Mapping,
        say_nothing_to_do: bool = True,
    ) -> Future:
        """Run `skill_name.action` for `event` on the skill's thread; the future holds its reply
        (a non-empty str, or None). A NothingToDo is said unless `say_nothing_to_do` is false
        (another action runs instead)."""
        if skill_name not in self.settings:
            return self._refuse(skill_name, action, self._not_running(skill_name), event.site)
        declared = self.installed[skill_name].actions().get(action)
        if declared is None:
            missing = SkillNotRunning(f"skill {skill_name} has no action {action!r}")
            return self._refuse(skill_name, action, missing, event.site)
        method_name = declared.method_name

        def run() -> str | None:
            skill = self._skill_built(skill_name)
            if skill is None:  # its building or start, queued first, failed
                raise self._not_running(skill_name)
            reply = getattr(skill, method_name)(event, **params)
            if reply is not None and not isinstance(reply, str):
                log.warning(
                    "skill %s: action %s returned %s, not a reply (str or None); nothing is said",
                    skill_name,
                    action,
                    type(reply).__name__,
                )
                return None
            return reply or None

        future = self.runners[skill_name].submit(f"action {action}", run, event.site)
        future.add_done_callback(
            lambda done: self._finish(skill_name, action, event, done, say_nothing_to_do)
        )
        return future

    def _not_running(self, skill_name: str) -> SkillNotRunning:
        why = self.start_errors.get(skill_name)
        if why:
            return SkillNotRunning(f"skill {skill_name} did not start ({why})")
        return SkillNotRunning(f"skill {skill_name} is not running")

    def _refuse(
        self, skill_name: str, action: str, why: SkillNotRunning, site: str | None
    ) -> Future:
        future: Future = Future()
        future.set_exception(why)
        self._report(skill_name, f"action {action}", future.exception(), site, aloud=True)
        return future

    def _finish(
        self,
        skill_name: str,
        action: str,
        event: CommandEvent,
        done: Future,
        say_nothing_to_do: bool,
    ) -> None:
        """Once an action ended: say its reply, or report why it failed."""
        error = done.exception()
        if error is None:
            if done.result():
                self.reply(done.result(), event.site)
            return
        what = f"action {action}"
        self._report(skill_name, what, error, event.site, say_nothing_to_do, aloud=True)

    def _report(
        self,
        skill_name: str,
        what: str,
        error: BaseException | None,
        site: str | None = None,
        say_nothing_to_do: bool = True,
        aloud: bool = False,
    ) -> None:
        """Log a failed call with the skill's name and say why: the skill's sentence for the
        user, or, with `aloud` (an action: the user waits for an answer), that the skill did
        not run, took too long or failed (not for a call a reload or shutdown cancelled).
        Nothing for a call that succeeded (`error` None)."""
        if error is None:
            return
        if isinstance(error, SkillNotRunning):
            log.error("%s; cannot run %s", error, what)
            if aloud:
                busy = isinstance(error, SkillBusy)
                state = "still busy" if busy else "not running"
                self.reply(f"The {skill_name} skill is {state}", site)
            return
        if isinstance(error, Cancelled):
            log.warning("skill %s: %s; not done", skill_name, error)
            return
        if isinstance(error, NothingToDo):
            log.info("skill %s: %s: %s", skill_name, what, error)
            if say_nothing_to_do:
                self.reply(error.spoken, site)
            return
        self.failures[skill_name] = self.failures.get(skill_name, 0) + 1
        if isinstance(error, SkillError):
            log.error("skill %s: %s failed: %s", skill_name, what, error)
            self.reply(error.spoken, site)
            return
        timed_out = isinstance(error, Abandoned)
        if not timed_out:  # the runner has logged an abandoned call
            log.error("skill %s: %s crashed", skill_name, what, exc_info=error)
        if aloud:
            outcome = "took too long" if timed_out else "failed"
            self.reply(f"Sorry, the {skill_name} skill {outcome}", site)

    def health(self) -> str:
        """For `assistant status`: each configured skill, running, starting or NOT RUNNING with
        why, whether it has focus, and how many of its calls failed since the start; on one
        line (a start error may hold line breaks)."""
        focused = self.focus.current()
        with self._lock:
            names = sorted({*self.settings, *self.start_errors})
            parts = [self._health_of(name, name == focused) for name in names]
        return one_line(" | ".join(parts)) or "none"

    def _health_of(self, name: str, focused: bool) -> str:
        """One skill's part of `health` (called under the lock)."""
        if name in self.start_errors:
            state = f"NOT RUNNING ({self.start_errors[name]})"
        else:
            state = "running" if name in self._built else "starting"
        failed = self.failures.get(name, 0)
        return (
            f"{name} {state}"
            + (", has focus" if focused else "")
            + (f", {failed} failed" if failed else "")
        )

    def skill_status(self) -> list[str]:
        """For `assistant status`: the status lines (Skill.status_lines) of each running skill
        that gives some, as `skill <name>: <line>`. They are asked for on each skill's thread,
        as actions are (the skill timeout abandons a status that hangs; a skill busy with an
        abandoned call refuses it), all at once, and waited for up to STATUS_SECONDS in all;
        a skill whose status raised, was refused or gave no answer in time shows `status
        failed: <why>`, which is logged but not counted among its failures."""
        with self._lock:
            telling = sorted(
                name
                for name, built in self._built.items()
                if type(built.skill).status_lines is not Skill.status_lines
            )
        asked = {name: self._ask_status(name) for name in telling}
        wait(asked.values(), timeout=STATUS_SECONDS)
        return [
            f"skill {name}: {line}"
            for name, future in asked.items()
            for line in self._status.lines(name, future, self.runners[name])
        ]

    def _ask_status(self, name: str) -> Future:
        def run() -> object:
            skill = self._skill_built(name)
            if skill is None:  # stopped since it was asked (a reload)
                raise self._not_running(name)
            return skill.status_lines()

        return self.runners[name].submit("status", run)

    def stop(self) -> None:
        """Stop every skill, waiting up to the skill timeout for them to finish; those that do
        not are named in the log (here only: the watchdog is stopped first)."""
        self._stopping.set()
        with self._lock:
            names = list(self.settings)
        stopping = {self._stop_skill(name): name for name in names}
        _, late = wait(stopping, timeout=self.timeout)
        for future in late:
            log.warning(
                "skill %s: stop did not finish within %g s; leaving it",
                stopping[future],
                self.timeout,
            )
        for runner in self.runners.values():
            runner.close()
