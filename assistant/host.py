"""The plugin host: starts the installed skills (assistant/discovery.py finds them) with their
settings, and runs their actions so that an exception or a hang in one skill never stops the
daemon or the others."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.focus import Focus
from assistant.plugin import SITE_DEFAULT, CommandEvent, NothingToDo, Skill, SkillError

log = logging.getLogger("assistant.host")

Reply = Callable[[str, "str | None"], None]
"""Speaks a reply: (text, site)."""

ListenForPhrase = Callable[[list[str], float, Callable[[], bool], str], "str | None"]
"""Transcribes one follow-up phrase: (grammar, seconds, stopped, prompt: the question its cue
may say); gives up with None once `stopped()` is true."""

ListenElsewhere = Callable[[str, list[str], float, Callable[[], bool], str], "str | None"]
"""Transcribes one follow-up phrase in another site: (site, then as ListenForPhrase)."""

STATUS_SECONDS = 2.0
"""How long `assistant status` waits for the skills' status lines (its client waits 5 s for the
whole answer)."""
STATUS_LINES = 5
"""A skill's status lines shown at most; the rest are counted."""
STATUS_LINE_CHARS = 160
"""A status line's length at most; a longer one is cut."""


class Abandoned(TimeoutError):
    """The host gave up on a call that ran longer than the skill timeout."""


class SkillNotRunning(LookupError):
    """An action the host cannot run: its skill is not running (not configured, or it failed
    to start), or the skill has no such action."""


class SkillBusy(SkillNotRunning):
    """An action refused because the skill is still running a call the host abandoned."""


class Cancelled(Exception):
    """An action whose cancellation was set when it returned (its skill is being stopped: a reload
    or shutdown): it was cut short, so it counts as not done, whatever it returned."""


@dataclass
class _Call:
    label: str
    function: Callable[[], Any]
    future: Future = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set when the call is abandoned or its skill is being stopped; each call has its own."""
    site: str | None = None
    """The site of the command an action runs for (None: not an action)."""
    lifecycle: bool = False
    """The constructor, start() or stop(): never refused, see SkillRunner."""


class SkillRunner:
    """Runs one skill's calls in order on its own thread, so a skill's code never runs on two
    threads at once.

    The watchdog abandons a call that runs longer than `timeout`: its future fails with
    `Abandoned` and its cancellation is set, but the thread can only wait for it to return.
    Until it does, actions (queued or new) are refused with `SkillBusy`, while lifecycle calls
    (constructor, start, stop: what a reload or shutdown needs) are queued as usual and run, in
    order, once it returns; each is timed from when it begins. So a reload during an overrun
    stops the old instance and starts the new one late rather than never.

    An action (any call but a lifecycle one) that returns after its cancellation was set (by
    `cancel`: its skill is being stopped) fails with `Cancelled`. A lifecycle call's outcome
    stands: the host itself sees whether the skill it builds or starts is still wanted."""

    def __init__(self, skill_name: str, timeout: float):
        self.skill_name = skill_name
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: tuple[float, _Call] | None = None
        self._abandoned: _Call | None = None
        self._thread = threading.Thread(target=self._work, name=f"skill-{skill_name}", daemon=True)
        self._thread.start()

    def submit(
        self,
        label: str,
        function: Callable[[], Any],
        site: str | None = None,
        lifecycle: bool = False,
    ) -> Future:
        call = _Call(label, function, site=site, lifecycle=lifecycle)
        with self._lock:
            abandoned = self._abandoned
            if abandoned is None or lifecycle:
                self._queue.put(call)
                return call.future
        call.future.set_exception(self._busy(abandoned))
        return call.future

    def current(self) -> _Call | None:
        """The call running on the calling thread (None outside the skill's thread, which runs
        nothing but calls)."""
        if threading.current_thread() is not self._thread:
            return None
        return self.running()

    def running(self) -> _Call | None:
        """The call running now (None: none), whichever thread asks."""
        running = self._running
        return running[1] if running else None

    def cancel(self) -> None:
        """Set the cancellation of the running call, if any (its skill is being stopped)."""
        with self._lock:
            if self._running:
                self._running[1].cancelled.set()

    def _busy(self, abandoned: _Call) -> SkillBusy:
        return SkillBusy(
            f"skill {self.skill_name} is still busy with the abandoned {abandoned.label}"
        )

    def _work(self) -> None:
        while (call := self._queue.get()) is not None:
            started = time.monotonic()
            with self._lock:
                self._running = (started, call)
            try:
                result, error = call.function(), None
            except BaseException as raised:
                result, error = None, raised
            with self._lock:
                self._running = None
                was_abandoned, self._abandoned = self._abandoned is call, None
            if was_abandoned:  # its future already holds Abandoned
                log.warning(
                    "skill %s: the abandoned %s %s after %.1f s",
                    self.skill_name,
                    call.label,
                    "returned" if error is None else f"raised {type(error).__name__}",
                    time.monotonic() - started,
                )
            elif error is None and call.cancelled.is_set() and not call.lifecycle:
                call.future.set_exception(Cancelled(f"{call.label} cancelled (reload or shutdown)"))
            elif error is None:
                call.future.set_result(result)
            else:
                call.future.set_exception(error)

    def check(self, now: float) -> None:
        """Abandon the running call if it has run too long (called by the host's watchdog), and
        refuse the actions queued behind it."""
        with self._lock:
            running = self._running
            if self._abandoned or not running or now - running[0] <= self.timeout:
                return
            call = self._abandoned = running[1]
            call.cancelled.set()
            queued = []
            while not self._queue.empty():
                queued.append(self._queue.get())
            refused = [waiting for waiting in queued if waiting and not waiting.lifecycle]
            for waiting in queued:
                if waiting is None or waiting.lifecycle:  # they, and closing, wait for it
                    self._queue.put(waiting)
        consequence = (
            "the skill is not running"
            if call.label in ("constructor", "start")
            else "its actions are refused until it returns"
        )
        log.error(
            "skill %s: %s did not finish within %.1f s; abandoned it, %s",
            self.skill_name,
            call.label,
            self.timeout,
            consequence,
        )
        call.future.set_exception(Abandoned(f"{call.label} timed out"))
        for waiting in refused:
            waiting.future.set_exception(self._busy(call))

    def close(self) -> None:
        self._queue.put(None)


class _Context:
    """The SkillContext the host gives each skill."""

    def __init__(self, host: PluginHost, name: str, settings: Mapping[str, Any]):
        self.name = name
        self.settings = dict(settings)
        self.log = logging.getLogger(f"assistant.skill.{name}")
        self._host = host

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


def _one_line(text: str) -> str:
    """`text` on one line, without "; " (the separator of `assistant status`'s parts)."""
    return " ".join(text.split()).replace("; ", ", ")


def _fit(lines: Sequence[str]) -> list[str]:
    """A skill's status lines for `assistant status`: each on one line (blank ones left out)
    and at most STATUS_LINE_CHARS long, STATUS_LINES of them and how many more there are."""
    kept = [_one_line(line) for line in lines if line.strip()]
    fitted = [
        line if len(line) <= STATUS_LINE_CHARS else line[: STATUS_LINE_CHARS - 3] + "..."
        for line in kept[:STATUS_LINES]
    ]
    more = len(kept) - STATUS_LINES
    return fitted + ([f"and {more} more line{'s' if more > 1 else ''}"] if more > 0 else [])


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
        self.skills: dict[str, Skill] = {}
        self.settings: dict[str, Mapping[str, Any]] = {}
        self.runners: dict[str, SkillRunner] = {}
        self.failures: dict[str, int] = {}
        self.start_errors: dict[str, str] = {}
        """Why each skill that is not running failed to be created or started."""
        self._status_told: dict[str, str] = {}
        """Why each skill's status last failed, as logged (logged again only when it changes)."""
        self._lock = threading.Lock()
        """Guards settings and skills, which skill threads change while they build."""
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="skill-watchdog", daemon=True)
        self._watchdog.start()

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
        """Build and start the skill on its own thread, under the skill timeout like any call;
        the future is the building."""
        if name not in self.runners:
            self.runners[name] = SkillRunner(name, self.timeout)
        self.start_errors.pop(name, None)
        self.settings[name] = settings
        given_up = threading.Event()  # the start overran the timeout

        def failed(error: BaseException) -> None:
            """Not running: no actions and no stop, and the next configure tries again."""
            with self._lock:
                if self.settings.get(name) is settings:
                    del self.settings[name]
                    self.skills.pop(name, None)
                    self.start_errors[name] = f"{type(error).__name__}: {error}"

        def build() -> None:
            try:
                skill = self.installed[name](_Context(self, name, settings))
            except Exception as error:
                failed(error)
                raise
            with self._lock:
                if self.settings.get(name) is settings:
                    self.skills[name] = skill

        def start() -> None:
            with self._lock:
                skill = self.skills.get(name) if self.settings.get(name) is settings else None
            if skill is None:
                return  # not built, or stopped before it started
            try:
                skill.start()
            except Exception as error:
                failed(error)
                raise
            if given_up.is_set():  # finished after all: undo it
                skill.stop()

        def finished(what: str, done: Future) -> None:
            error = done.exception()
            if self._report(name, what, error):
                return
            if isinstance(error, Abandoned):
                if what == "start":
                    given_up.set()
                failed(error)

        building = self.runners[name].submit("constructor", build, lifecycle=True)
        building.add_done_callback(lambda done: finished("constructor", done))
        starting = self.runners[name].submit("start", start, lifecycle=True)
        starting.add_done_callback(lambda done: finished("start", done))
        return building

    def _stop_skill(self, name: str) -> Future:
        with self._lock:
            self.settings.pop(name, None)  # gone already if its start failed since it was listed
            skill = self.skills.pop(name, None)  # None: still being built, and then never started
        self.runners[name].cancel()  # a call still running for the skill should end now

        def stop() -> None:
            if skill is not None:
                skill.stop()

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
            skill = self.skills.get(skill_name)
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
        self, skill: str, action: str, event: CommandEvent, done: Future, say_nothing_to_do: bool
    ) -> None:
        succeeded = self._report(
            skill, f"action {action}", done.exception(), event.site, say_nothing_to_do, aloud=True
        )
        if succeeded and done.result():
            self.reply(done.result(), event.site)

    def _report(
        self,
        skill: str,
        what: str,
        error: BaseException | None,
        site: str | None = None,
        say_nothing_to_do: bool = True,
        aloud: bool = False,
    ) -> bool:
        """Log a failed call with the skill's name and say why: the skill's sentence for the
        user, or, with `aloud` (an action: the user waits for an answer), that the skill did
        not run, took too long or failed (not for a call a reload or shutdown cancelled); True
        when the call succeeded."""
        if error is None:
            return True
        if isinstance(error, SkillNotRunning):
            log.error("%s; cannot run %s", error, what)
            if aloud:
                busy = isinstance(error, SkillBusy)
                self.reply(f"The {skill} skill is {'still busy' if busy else 'not running'}", site)
            return False
        if isinstance(error, Cancelled):
            log.warning("skill %s: %s; not done", skill, error)
            return False
        if isinstance(error, NothingToDo):
            log.info("skill %s: %s: %s", skill, what, error)
            if say_nothing_to_do:
                self.reply(error.spoken, site)
            return False
        self.failures[skill] = self.failures.get(skill, 0) + 1
        if isinstance(error, SkillError):
            log.error("skill %s: %s failed: %s", skill, what, error)
            self.reply(error.spoken, site)
        else:
            if not isinstance(error, Abandoned):  # the runner has logged an abandoned call
                log.error("skill %s: %s crashed", skill, what, exc_info=error)
            if aloud:
                timed_out = isinstance(error, Abandoned)
                self.reply(
                    f"Sorry, the {skill} skill {'took too long' if timed_out else 'failed'}", site
                )
        return False

    def health(self) -> str:
        """For `assistant status`: each configured skill, running, starting or NOT RUNNING with
        why, whether it has focus, and how many of its calls failed since the start; on one
        line, without "; " (a start error may hold both)."""
        focused = self.focus.current()
        with self._lock:
            names = sorted({*self.settings, *self.start_errors})
            parts = [self._health_of(name, name == focused) for name in names]
        return _one_line(" | ".join(parts)) or "none"

    def _health_of(self, name: str, focused: bool) -> str:
        """One skill's part of `health` (called under the lock)."""
        if name in self.start_errors:
            state = f"NOT RUNNING ({self.start_errors[name]})"
        else:
            state = "running" if name in self.skills else "starting"
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
                for name, skill in self.skills.items()
                if type(skill).status_lines is not Skill.status_lines
            )
        asked = {name: self._ask_status(name) for name in telling}
        wait(asked.values(), timeout=STATUS_SECONDS)
        return [
            f"skill {name}: {line}"
            for name, future in asked.items()
            for line in self._status_lines(name, future)
        ]

    def _ask_status(self, name: str) -> Future:
        def run() -> object:
            skill = self.skills.get(name)
            if skill is None:  # stopped since it was asked (a reload)
                raise self._not_running(name)
            return skill.status_lines()

        return self.runners[name].submit("status", run)

    def _status_lines(self, name: str, future: Future) -> list[str]:
        """The lines a status call gave, made fit for `assistant status`, or why it failed; a
        failure of the skill's own code is logged (a traceback for an exception), once until
        the reason changes, so a script polling `status` does not fill the log."""
        done = future.done()
        error = future.exception(0) if done else None
        faulty = True  # the skill's status itself failed, not the host that refused or left it
        if not done:
            running = self.runners[name].running()
            faulty = running is None or running.future is future
            why = (
                f"no answer within {STATUS_SECONDS:g} s" if faulty else f"busy with {running.label}"
            )
        elif isinstance(error, (Abandoned, Cancelled, SkillNotRunning)):  # logged where raised
            why, faulty = str(error), False
        elif error is not None:
            why = f"{type(error).__name__}: {error}"
        else:
            given = future.result()
            lines = [given] if isinstance(given, str) else given
            if isinstance(lines, (list, tuple)) and all(isinstance(line, str) for line in lines):
                self._status_told.pop(name, None)
                return _fit(lines)
            why = f"returned {type(given).__name__}, not a list of str"
        if faulty and self._status_told.get(name) != why:
            self._status_told[name] = why
            log.warning("skill %s: status failed: %s", name, why, exc_info=error)
        return [f"status failed: {_one_line(why)}"]

    def stop(self) -> None:
        """Stop every skill, waiting up to the skill timeout for them to finish; those that do
        not are named in the log (here only: the watchdog is stopped first)."""
        self._stopping.set()
        stopping = {self._stop_skill(name): name for name in list(self.settings)}
        _, late = wait(stopping, timeout=self.timeout)
        for future in late:
            log.warning(
                "skill %s: stop did not finish within %g s; leaving it",
                stopping[future],
                self.timeout,
            )
        for runner in self.runners.values():
            runner.close()
