"""The assistant daemon: sources of commands, the dispatcher, the skills, and their lifetime."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from assistant import emulator, hearing, logformat, protocol, run_marker
from assistant.clocks import local_time
from assistant.config import Config, ConfigError, load_config
from assistant.control import Forwarded
from assistant.discovery import changed_files, code_package, code_stamp, usable_skills
from assistant.dispatcher import ActionOutcome, Dispatcher
from assistant.emulator import VirtualBoard
from assistant.focus import Focus
from assistant.host import PluginHost
from assistant.link import SerialSource
from assistant.microphone_settings import model_file
from assistant.model_runner import model_id
from assistant.paths import data_root
from assistant.phrase import PhraseListener
from assistant.plugin import CommandEvent, Skill, valid_choices
from assistant.ports import find_board
from assistant.ratelimit import WarningLimiter
from assistant.reloads import (
    RESTART_ONLY,
    Reload,
    as_running,
    changes,
    needs_restart,
    with_overrides,
)
from assistant.rooms.roles import Role, open_room
from assistant.skill_status import one_line
from assistant.source_follower import SourceFollower
from assistant.sources import SOURCE_NAMES, DeviceSession, EventSource, LinkStats
from assistant.speech import Speaker, speech_settings
from assistant.version import version_text

log = logging.getLogger("assistant")

HEARING_LOOK_SECONDS = 1.0
"""How often the assistant looks whether its board or microphone can hear (`speech.notices`)."""
RELOAD_FAILED = "The new configuration has a problem; I kept the old one"
"""Said (`speech.notices`) when a reload fails: whoever edited the file may believe it runs."""
RESTART_NEEDED = "Some changes take effect after a restart"
"""Said (`speech.notices`) when a reload changed what only a restart applies: restart-only
settings or sections, or a skill's code."""


@dataclass
class RunningSource:
    """A source of commands the daemon runs, on its own thread until `stopping` is set."""

    kind: str
    """The resolved `source:` it was opened for: serial, microphone or emulator."""
    source: EventSource
    session: DeviceSession
    thread: threading.Thread
    stopping: threading.Event


class Assistant:
    """Everything `assistant run` runs, without the process concerns (signals, terminal)."""

    def __init__(
        self,
        config: Config,
        installed: Mapping[str, type[Skill]],
        data_dir: Path | None = None,
        speak: Callable[[str], None] | None = None,
        overrides: Mapping[str, str] | None = None,
        find: Callable[[], str | None] = find_board,
    ):
        """`find` returns the path of a board plugged in (found by its USB id), or None. The
        parts are set up in the order they need each other: the configuration first, the
        speaker (its cue) before the skills' phrase listener, the room, which uses them all,
        last. No source is open yet (`open_default_sources`), no skill started (`start`)."""
        self.started = time.time()
        self.stopping = threading.Event()
        """Set by `stop`: ends the following of the board and the hearing notices."""
        self.data_dir = data_dir or data_root()
        """Where the skills keep their state, and the microphone its clips (`keep_clips`)."""
        self._set_up_configuration(config, installed, overrides)
        self._set_up_sources(find)
        self._set_up_speech(speak)
        self._set_up_skills()
        self.room = self._open_room(self.config)
        """The satellite or hub of `role:` (None for single): it takes this board's commands."""
        self.handle_command: Callable[[CommandEvent], object] = (
            self.room.forward if self.room else self.dispatcher.handle
        )

    def _set_up_configuration(
        self,
        config: Config,
        installed: Mapping[str, type[Skill]],
        overrides: Mapping[str, str] | None,
    ) -> None:
        """The configuration it runs, the skills installed, and what a reload compares with."""
        self.loaded = config
        """The configuration as its file says, without the command line's overrides."""
        self.overrides = dict(overrides or {})
        """The command line's choices (--source, --role, --port), which a reload keeps."""
        self.config = with_overrides(config, self.overrides)
        self.installed = installed
        self._code = {code_package(s): code_stamp(code_package(s)) for s in installed.values()}
        """The files of the skills' packages as loaded, to tell at a reload that they changed."""
        self.last_reload: Reload | None = None
        self._reloading = threading.Lock()
        """Held by a reload: one from SIGHUP and one from `assistant reload` wait in turn."""

    def _set_up_sources(self, find: Callable[[], str | None]) -> None:
        """What opens the sources of commands, follows the board and counts the link."""
        self.find = find
        self.follower = SourceFollower(self.config, find, self._switch)
        """Which source `source:` opens, and the switches of `auto`."""
        self.stats = LinkStats(
            warnings=WarningLimiter(self.config.sections["device"]["max_line_errors"])
        )
        self.sources: list[RunningSource] = []
        self.model_id = self._model_id()
        """The id of the model a board should run (that of `microphone.model`, which a reload
        does not change)."""
        self.virtual_board: VirtualBoard | None = None
        self._ears: threading.Thread | None = None
        self._had_voice = False
        """Whether a board or microphone has heard since the start (`hearing_problem`)."""

    def _set_up_speech(self, speak: Callable[[str], None] | None) -> None:
        """How it speaks: through `speak` when given, else through a Speaker, which also plays
        the cue and the acknowledgements."""
        speech, microphone = self.config.sections["speech"], self.config.sections["microphone"]
        self.speaker = None if speak else Speaker(speech, analyse_with=microphone)
        self.notices = speech_settings(speech)["notices"]
        """`speech.notices`: say what keeps the assistant from hearing or obeying its user."""
        self._speak = speak or self.speaker.say

    def _set_up_skills(self) -> None:
        """The plugin host of the skills, with the focus and the phrase listener they use, and
        the dispatcher that calls them."""
        self.focus = Focus(self.config.focus_seconds)
        self.phrase = PhraseListener(
            self.config.sections["phrase"],
            microphone=self._borrow,
            play_cue=self.speaker.play_cue if self.speaker else None,
        )
        """Listens for the follow-up phrases of the skills here, or, on a satellite, the hub's."""
        self.host = PluginHost(
            self.installed,
            self.focus,
            self.data_dir,
            reply=self.reply,
            timeout=self.config.skill_timeout,
            listen_for_phrase=self.phrase,
            site=self.config.site,
        )
        self.dispatcher = Dispatcher(self.config, self.host, self.focus, self._acknowledge)

    def _open_room(self, config: Config) -> Role | None:
        """The satellite or hub of `role:`, made once the dispatcher, the phrase listener and
        the speaker it uses are; a hub's skills listen for the phrases after the satellites'
        commands through it."""
        tone = self.speaker is not None and self.speaker.settings["acknowledge"] == "tone"
        room = open_room(
            config,
            self.dispatcher.handle,
            self._speak,
            self.data_dir / "rooms",
            self.phrase,
            acknowledge=self.speaker.acknowledge if tone else None,
        )
        if config.role == "hub":
            self.host.listen_elsewhere = room.listen_for_phrase
        return room

    def run_sent_command(self, event: CommandEvent) -> list[ActionOutcome] | str | Forwarded:
        """A command from `assistant send`: run here (on a hub too: no other room heard it; the
        outcomes of its actions, or why nothing ran), or sent on to the hub from a satellite. A
        command the model cannot report is refused: no board would ever send it."""
        heard = self.config.model_commands
        if heard and event.command not in heard:
            return f"{event.command!r} is not a command the model can hear; " + valid_choices(
                event.command, heard, "it hears"
            )
        if self.config.role == "satellite":
            self.room.forward(event)
            return Forwarded(self.room.hub_online)
        if self.config.role == "hub":
            self.room.sent(event)
        return self.dispatcher.run(event)

    def reply(self, text: str, site: str | None = None) -> None:
        if self.room:
            self.room.reply(text, site)
        else:
            self._speak(text)

    def _skills_here(self, config: Config) -> Mapping:
        """The skills this machine runs: none on a satellite (the hub runs them)."""
        return {} if config.role == "satellite" else config.skills

    def start(self) -> None:
        self.phrase.load_in_background()
        self.host.configure(self._skills_here(self.config))
        if self.room:
            self.room.start()

    def _model_id(self) -> str | None:
        """The id of the model `microphone.model` names, which a board should run (None when
        it cannot be read now)."""
        try:
            return model_id(model_file(self.config.sections["microphone"]["model"]).read_bytes())
        except OSError:
            return None

    def add_source(self, source: EventSource, kind: str) -> RunningSource:
        """Run `source` on its own thread; `kind` is the resolved `source:` it stands for."""
        name = SOURCE_NAMES[kind]
        # a port keeps the lines not read; the microphone's lines are heard as they are made
        max_delay = None if kind == "microphone" else self.config.sections["device"]["max_delay"]
        session = DeviceSession(
            name,
            self.config.site,
            lambda event: self._on_command(event, session),
            self.stats,
            max_delay=max_delay,
            expected_model=self.model_id if kind == "serial" else None,
        )
        stopping = threading.Event()
        thread = threading.Thread(
            target=source.run, args=(session.deliver, stopping), name=name, daemon=True
        )
        running = RunningSource(kind, source, session, thread, stopping)
        self.sources.append(running)
        thread.start()
        return running

    def _borrow(self, seconds: float) -> Iterator[bytes] | None:
        """The next `seconds` of the microphone source's audio for a follow-up phrase; None when
        no microphone source runs (the phrase then opens a stream of its own)."""
        for running in list(self.sources):
            if running.kind == "microphone":
                return running.source.borrow(seconds)
        return None

    def _on_command(self, event: CommandEvent, session: DeviceSession) -> None:
        """A command a source here heard (through `session`); ignored while this machine speaks
        a reply that could be heard as it, when `speech.ignore_own_voice` is on (its speakers
        are heard by the board and the microphone too). A virtual board's commands (its model
        `emulated`) are typed or scripted, so never its own voice."""
        speaker = self.speaker
        model = session.hello.model if session.hello else None
        if (
            speaker
            and model != emulator.MODEL_ID
            and speaker.settings["ignore_own_voice"]
            and speaker.may_be_own_voice(event.command, session.source_name, model)
        ):
            log.info(
                "ignored %r from the %s: heard while a reply was being said (the assistant's "
                "own voice?); say it again once it is quiet",
                event.command,
                event.source,
            )
            return
        self.handle_command(event)

    def _acknowledge(self, event: CommandEvent) -> None:
        """`speech.acknowledge` for a command the dispatcher took that was heard, not
        `assistant send`'s: on a hub, a satellite's is played by that satellite, by its own
        setting; one heard here is played here."""
        if not event.heard:
            return
        if self.config.role == "hub" and self.room.acknowledge(event):
            return
        if self.speaker:
            self.speaker.acknowledge()

    def open_default_sources(self, back: bool = False) -> None:
        """Open the source the configuration asks for. `auto` with no port named follows the
        board: it uses one whenever one is plugged in, else a fallback (the microphone, else the
        virtual board, until the microphone can be used) while it looks for one. `back`: the
        previous run did not end cleanly, so with `speech.notices` the user is told the
        assistant is back once a source is up (`run_marker`)."""
        running = self._open(self.follower.source_to_open())
        if self.follower.follows:
            self.follower.start(running, self.stopping)
        if self.notices:
            self._ears = threading.Thread(
                target=self._tell_hearing, args=(back,), name="ears", daemon=True
            )
            self._ears.start()

    def _tell_hearing(self, back: bool) -> None:
        """`speech.notices`: say, on this machine, when it cannot hear its user and when it
        hears again (assistant/hearing.py); and, when `back`, that it is back after an unclean
        stop, once a source has greeted and hears (instead of "I can hear you again")."""
        notices = hearing.HearingNotices(hearing.DEAF_GRACE_SECONDS)
        while not self.stopping.wait(HEARING_LOOK_SECONDS):
            problem = self.hearing_problem()
            notice = notices.update(problem)
            if (
                back
                and problem is None
                and any(r.session.greeted.is_set() for r in list(self.sources))
            ):
                back = False
                notice = run_marker.BACK
            if notice:  # logged as every reply is
                self._speak(notice)

    def hearing_problem(self) -> str | None:
        """Why no board or microphone here can hear its user now (None: one can, or there has
        been none since the start: the virtual board alone hears only what is typed). Once one
        has heard, the virtual board `auto` falls back to is deaf to the voice."""
        voices = [running.source for running in list(self.sources) if running.kind != "emulator"]
        problems = [source.hearing_problem for source in voices]
        if None in problems:
            self._had_voice = True
            return None
        if problems:
            return problems[0]
        return "the board is unplugged" if self._had_voice else None

    def _open(self, choice: str) -> RunningSource:
        """Start the source `choice` names (a resolved `source:`)."""
        if choice == "serial":
            return self.add_source(self._serial(self.config.sections["device"]["port"]), choice)
        if choice == "microphone":
            from assistant.listener import MicrophoneSource

            microphone = MicrophoneSource.from_config(self.config, self.data_dir)
            return self.add_source(microphone, choice)
        if self.virtual_board is None:
            self.virtual_board = VirtualBoard(
                self.config.model_commands,
                heartbeat_ms=self.config.sections["emulator"]["heartbeat_ms"],
                thresholds=self.config.model_thresholds,
            )
        return self.add_source(self._serial(self.virtual_board.plug_in(), own_pty=True), "emulator")

    def _close(self, running: RunningSource) -> None:
        running.stopping.set()
        running.thread.join(timeout=5)
        self.sources.remove(running)
        if running.kind == "emulator":
            self.virtual_board.unplug()

    def _switch(self, running: RunningSource, choice: str) -> RunningSource:
        """Close `running` and open the source `choice` names instead."""
        self._close(running)
        return self._open(choice)

    def _serial(self, port: str, own_pty: bool = False) -> SerialSource:
        device = self.config.sections["device"]
        return SerialSource(
            port,
            device["baudrate"],
            device["heartbeat_timeout"],
            self.stats,
            find=self.find,
            own_pty=own_pty,
        )

    def reload(self, path: Path) -> Reload:
        """Load the configuration again (SIGHUP, `assistant reload`; one at a time). A file that
        cannot be loaded, for whatever reason, keeps the running one, and the user is told so
        aloud (`speech.notices`); settings that need a restart keep their running values and a
        warning names them. Skills installed since the start are found; new code of a skill
        already loaded needs a restart, and a warning says so. Either is said aloud too, once
        per reload. The outcome is also `last_reload`."""
        with self._reloading:
            self.last_reload = self._reload(path)
        return self.last_reload

    def _reload(self, path: Path) -> Reload:
        found, unloadable = usable_skills()
        installed = {**found, **self.installed}
        new_code = self._warn_of_changed_code(installed)
        try:
            loaded = load_config(path, installed, unloadable, reloading=True)
        except Exception as error:
            return self._not_reloaded(path, error)
        waiting = needs_restart(self.loaded, loaded, self.overrides)
        changed = changes(self.loaded, loaded, (*RESTART_ONLY, *self.overrides))
        self._apply(loaded, installed)
        log.info("configuration reloaded from %s: %s", path, "; ".join(changed) or "no change")
        if waiting:
            log.warning(
                "changed settings that take effect only after a restart: %s", ", ".join(waiting)
            )
        if (waiting or new_code) and self.notices:  # logged as every reply is
            self._speak(RESTART_NEEDED)
        waiting += [f"the code of skill {names}" for names in new_code]
        return Reload(
            time.time(),
            path,
            changed=tuple(changed),
            waiting=tuple(waiting),
            warnings=tuple(map(str, loaded.warnings)),
        )

    def _not_reloaded(self, path: Path, error: Exception) -> Reload:
        """A reload whose file could not be loaded: the running configuration stays, the log
        says why and `speech.notices` says so aloud."""
        if isinstance(error, ConfigError):
            log.error("configuration not reloaded, fix these first:\n%s", error)
            problems = tuple(map(str, error.problems))
        else:  # a bug, not the file: the daemon keeps running all the same
            log.exception("configuration not reloaded: loading %s failed unexpectedly", path)
            problems = (f"{path}: loading it failed unexpectedly ({error!r}); see the log",)
        if self.notices:  # logged as every reply is
            self._speak(RELOAD_FAILED)
        return Reload(time.time(), path, problems)

    def _apply(self, loaded: Config, installed: Mapping[str, type[Skill]]) -> None:
        """Run the reloaded configuration `loaded` and the skills `installed` from now on,
        all but what needs a restart (`as_running` keeps its running values)."""
        self.loaded = loaded
        self.installed = self.host.installed = installed
        config = self.config = as_running(loaded, self.config)
        self.focus.seconds = config.focus_seconds
        self.dispatcher.config = config
        self.host.set_timeout(config.skill_timeout)
        self.host.configure(self._skills_here(config))
        logformat.set_level(config.log_level)

    def _warn_of_changed_code(self, installed: Mapping[str, type[Skill]]) -> list[str]:
        """Log the skills whose package's code changed since it was loaded: a reload keeps
        running the code loaded (and checks the configuration against it); a restart runs the
        new code. The names of those skills, a package's joined by ", "."""
        skills_of: dict[str, list[str]] = {}
        for name, skill in sorted(installed.items()):
            skills_of.setdefault(code_package(skill), []).append(name)
        any_changed = []
        for package, names in skills_of.items():
            changed = changed_files(self._code.setdefault(package, code_stamp(package)))
            if changed:
                any_changed.append(", ".join(names))
                log.warning(
                    "the code of skill %s changed since it was loaded (%s); a reload keeps "
                    "running the code it has, so restart the assistant to run the new code",
                    ", ".join(names),
                    ", ".join(changed),
                )
        return any_changed

    def status(self) -> str:
        """What `assistant status` shows, parts joined by tabs: this process's pid (first, for
        scripts), the version, the start, the configuration file it runs, the last reload's
        outcome, the skills' health and their status lines, `link_parts()`, then the
        satellite's or hub's parts (its role, site, peers, counters and broker)."""
        reloaded = self.last_reload or "none since the start"
        return "\t".join(
            [
                f"pid: {os.getpid()}",
                f"version: {version_text()}",
                f"running since: {local_time(self.started)}",
                f"configuration: {self.loaded.file}",
                f"last reload: {reloaded}",
                f"skills: {self.host.health()}",
                *self.host.skill_status(),
                *self.link_parts(),
                *(self.room.status() if self.room else []),
            ]
        )

    def link_parts(self) -> list[str]:
        """The sources in use (with the firmware and model each greeted with) and the link's
        counters, parts of `status`."""
        sources = ", ".join(
            f"{r.session.source_name} "
            f"({one_line(r.source.description)}{_greeting(r.session.hello)})"
            for r in self.sources
        )
        return [f"source: {sources or 'none opened'}", self.stats.summary()]

    def stop(self) -> None:
        self.stopping.set()
        self.follower.join(timeout=10)
        if self._ears:
            self._ears.join(timeout=10)
        for running in self.sources:
            running.stopping.set()
        for running in self.sources:
            running.thread.join(timeout=5)
        self.stats.warnings.flush(everything=True)
        log.info("link at stop: %s", "; ".join(self.link_parts()))
        if self.virtual_board:
            self.virtual_board.close()
        if self.room:
            self.room.stop()
        self.host.stop()
        if self.speaker:
            self.speaker.close()


def _greeting(hello: protocol.Hello | None) -> str:
    """ ", firmware F, model M" of a source's HELLO; "" before it has greeted."""
    return f", firmware {hello.fw}, model {hello.model}" if hello else ""
