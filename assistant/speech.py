"""Spoken replies: pyttsx3 driven from one worker thread, so that `say` never blocks.

Every reply is logged first, so that with no audio output (or `speech: off`) it still reaches
the user through the log. pyttsx3's run loop must stay on one thread and may hang on a broken
audio output: an utterance that takes longer than `timeout` marks the engine as stuck, and
replies are then only logged until it comes back. An engine that does not start, or fails on a
reply, leaves the player working: each reply it cannot say is logged and played as a falling
tone, so that a user who only listens knows the command was heard. A reply longer than what can
be said within `timeout` at `rate` (a skill's, or one a satellite got from the broker) is cut
to that at a word, and ends with "... and more" so that the listener hears it was cut
(assistant/reply_length.py); what was cut is logged: every reply goes through `Speaker.say`. A
reply the same as one still waiting or being said is logged, not queued again ("up up up" with
the lights unreachable says so once). `may_be_own_voice` tells the daemon when a command the
board or the microphone hears may be the assistant's own voice: each reply is said at once and
analysed meanwhile, in a worker process of its own (assistant/own_voice.py,
assistant/own_voice_worker.py), for the commands it could be heard as; until that is done, it
could be heard as any. `play_cue` plays the listening cue of a follow-up phrase (a tone, or a
short question) in turn with the replies, and returns once it has been played, so that the
listening starts after it. `acknowledge` plays the short tone of `acknowledge: tone` for an
accepted command, in turn too, without waiting for it. The engine is made by
assistant/speech_engine.py, and the tones are played by assistant/wav_player.py.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from assistant.cue import ACKNOWLEDGE_NOTES, ACKNOWLEDGEMENTS, TONE_NOTES, UNSPOKEN_NOTES, tone_wav
from assistant.espeak import SpeechError, espeak_to_file, uses_espeak
from assistant.own_voice import Analysis, Heard, OwnVoice
from assistant.plugin import Setting
from assistant.reply_length import fitting_reply
from assistant.settings import with_defaults
from assistant.speech_engine import Engine, missing_audio_output, pyttsx3_engine, settle
from assistant.wav_player import play_wav

SPEECH_SETTINGS: tuple[Setting, ...] = (
    Setting("enabled", bool, True, "false (or `speech: off`) silences spoken replies"),
    Setting(
        "engine",
        str,
        "auto",
        "pyttsx3 driver",
        choices=("auto", "espeak", "nsss", "sapi5", "avspeech"),
    ),
    Setting(
        "voice",
        str,
        "",
        "a voice of `espeak-ng --voices`: its File (gmw/en-us), the File's last part (en-us) or "
        "its VoiceName with spaces for the underscores, +VARIANT of `espeak-ng --voices=variant` "
        "optional (en-us+f3); empty: the engine's default",
    ),
    Setting("rate", int, 170, "words per minute", minimum=50, maximum=500),
    Setting("volume", float, 1.0, "0.0 to 1.0", minimum=0, maximum=1),
    Setting(
        "timeout",
        float,
        10.0,
        "seconds one reply may take before the engine is stuck; a longer reply is cut to fit, "
        'after a word, and ends with "... and more"',
        minimum=1,
        maximum=3600,  # the wait for the engine at a stop: far longer overflows the system's clock
    ),
    Setting(
        "ignore_own_voice",
        bool,
        True,
        "while a reply is said and for a second after, ignore the commands the board or "
        "microphone here hears that the reply could be heard as (all of them until that is told, "
        "and when it cannot be), so that the assistant does not obey its own voice",
    ),
    Setting(
        "acknowledge",
        str,
        "none",
        "tone: a short beep as soon as a command the board or microphone here heard is taken, "
        "before the skill's reply (or instead of it, for skills that say nothing); none: no beep",
        choices=ACKNOWLEDGEMENTS,
    ),
    Setting(
        "notices",
        bool,
        True,
        'say "I cannot hear you" and why when the board or microphone here has not heard for '
        '7 s (unplugged, silent, failing; at most once a minute), and "I can hear you again" '
        "once it does; that a reload failed, or changed what needs a restart; that the "
        "assistant is back after a kill or crash",
    ),
)
"""Schema of the `speech:` section of config.yaml."""

OWN_VOICE_SECONDS = 1.0
"""How long after a reply ends a command heard may still be its echo: the recognizer averages
scores over 1000 ms, so it reports a word up to about a second after the word ends."""

QUEUE_LIMIT = 8
STUCK = "the speech engine is stuck"
"""Why a reply or cue is not queued while an utterance takes longer than speech.timeout."""
SHOWN_CUT = 200
"""Characters of a cut reply's rest that the log shows."""
CUE_WAIT_SECONDS = 3.0
"""How long `play_cue` waits for its cue to have been played (replies queued before it are said
first): past that, listening starts without it, well before `skill_timeout` (10 s) gives the
skill's call up."""


HeardAs = frozenset[str] | None
"""The commands a voice could be heard as (assistant/own_voice.py); None: any of them."""


def speech_settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `speech:` section (as config validated it) with any missing default filled in."""
    return with_defaults(section, SPEECH_SETTINGS)


@dataclass(eq=False)
class _Cue:
    """An earcon in the speech queue (a listening cue, or an acknowledgement), and how far it
    got (guarded by the speaker's lock)."""

    words: str | None
    """Said as a reply is; None: `notes` played as a tone."""
    notes: tuple[float, ...] = TONE_NOTES
    acknowledgement: bool = False
    """A command's acknowledgement: no word the recognizer could report, so not the assistant's
    own voice (`Speaker.speaking_lately`); nobody waits for it."""
    started: bool = False
    withdrawn: bool = False
    """Given up on before it started: the worker skips it."""
    problem: str | None = None
    """Why it was not played."""
    done: threading.Event = field(default_factory=threading.Event)


class Speaker:
    """Speaks replies on one worker thread. Call `close` at shutdown."""

    def __init__(
        self,
        settings: Mapping[str, Any] | None,
        log: logging.Logger | None = None,
        analyse_with: Mapping[str, Any] | None = None,
    ):
        """`analyse_with`: the `microphone:` section, whose model and recognizer settings each
        reply is analysed with for the commands it could be heard as (with `ignore_own_voice`);
        None: no analysis, every command heard while one is said may be the assistant's own
        voice."""
        self.settings = speech_settings(settings)
        self.log = log or logging.getLogger("assistant.speech")
        self._queue: queue.Queue[str | _Cue | None] = queue.Queue(QUEUE_LIMIT)
        self._current_since: float | None = None  # start of the utterance being spoken
        self._speaking_since: float | None = None  # the same, while it is a voice
        self._saying = Heard()  # what the voice being said could be heard as
        self._said: list[tuple[float, Heard]] = []  # the same for the voices that ended lately,
        # with when each ended (time.monotonic)
        self.own_voice: OwnVoice | None = None
        self._analysis: Analysis | None = None
        if analyse_with is not None and self.settings["ignore_own_voice"]:
            self.own_voice = OwnVoice(
                analyse_with,
                partial(espeak_to_file, self.settings),
                self.log,
                None if uses_espeak(self.settings) else "the speech engine is not espeak-ng",
                separate_process=True,
            )
        self._waiting: list[str] = []  # replies queued or being spoken, in order
        self._stuck_reported = False
        self._pending = 0  # replies queued or being spoken
        self._settled = threading.Condition()
        self._worker: threading.Thread | None = None
        self.unavailable: str | None = None
        """Why replies are only logged (None while speech works)."""
        if not self.settings["enabled"]:
            self.unavailable = "speech is off in the configuration"
        else:
            self.unavailable = missing_audio_output(self.settings)
            if self.unavailable:
                self.log.warning("spoken replies go to the log only: %s", self.unavailable)
        if self.unavailable is None:
            if self.own_voice is not None:
                self._analysis = Analysis(self.own_voice)
            self._worker = threading.Thread(target=self._run, name="speech", daemon=True)
            self._worker.start()

    @property
    def stuck(self) -> bool:
        """True while an utterance has been running for longer than the timeout."""
        since = self._current_since
        return since is not None and time.monotonic() - since > self.settings["timeout"]

    def speaking_lately(self) -> bool:
        """True while a reply (or the listening cue) is being said and for OWN_VOICE_SECONDS
        after it ended; not while the engine is stuck (a hung output says nothing, and would
        otherwise make every command heard meanwhile count as the assistant's own voice). The
        acknowledgement's beep is no word the recognizer could report."""
        return bool(self._voices_lately())

    def may_be_own_voice(self, command: str, source: str, model: str | None) -> bool:
        """Whether `command`, just heard by `source` (whose HELLO named `model`), may be the
        assistant's own voice: while `speaking_lately`, when a reply being said, or said within
        OWN_VOICE_SECONDS, could be heard as it; any command when one of them has not been
        analysed yet or could not be (or is the tone cue), or `model` is not the one they were
        analysed with."""
        voices = self._voices_lately()
        if not voices:
            return False
        if None in voices or not self.own_voice.analysed_for(source, model):
            return True
        return any(command in voice for voice in voices)

    def _voices_lately(self) -> list[HeardAs]:
        """What each voice being said, or ended within OWN_VOICE_SECONDS, could be heard as;
        none while the engine is stuck."""
        if self.stuck:
            return []
        now = time.monotonic()
        with self._settled:
            voices = [said for ended, said in self._said if now - ended < OWN_VOICE_SECONDS]
            if self._speaking_since is not None:
                voices.append(self._saying)
        return [voice.commands for voice in voices]  # each set by its analysis once done

    def say(self, text: str) -> None:
        """Log `text` and queue it for speaking (cut to what fits in `timeout`), unless the
        same reply is still waiting or being said; returns at once. When replies are not
        spoken (`unavailable`), the whole of it is logged (and, with a player, a tone queued)."""
        spoken = self._worker is not None and self.unavailable is None
        text, cut = fitting_reply(text, self.settings) if spoken else (text, "")
        with self._settled:  # from the check to the queue in one step: never queued twice
            repeated = text in self._waiting
            problem = None if repeated else self._enqueue(text)
        if repeated:
            self.log.info("reply: %s (said once: the same reply is already to be said)", text)
            return
        self.log.info("reply: %s", text)
        if self._worker is None:
            return
        if cut:
            self.log.warning(
                "the reply was cut to what speech.timeout (%g s) holds at speech.rate (%d words "
                "a minute; raise speech.timeout for longer replies); %d characters not said: "
                "%s%s",
                self.settings["timeout"],
                self.settings["rate"],
                len(cut),
                cut[:SHOWN_CUT],
                "..." if len(cut) > SHOWN_CUT else "",
            )
        if problem == STUCK:
            if not self._stuck_reported:
                self._stuck_reported = True
                self.log.warning(
                    "speech engine stuck: a reply has taken more than %g s (is the audio "
                    "output hung?); replies are only logged until it recovers",
                    self.settings["timeout"],
                )
        elif problem:
            self.log.warning("%s: %r is only logged", problem, text)

    def play_cue(self, words: str | None, stopped: Callable[[], bool]) -> str | None:
        """Queue a listening cue (`words` said as a reply is; None, or an engine that did not
        start: the tone) after the replies waiting, and wait until it has been played: None
        then, else why it was not (no player, speech off or stuck, the queue full, a failure,
        not played within CUE_WAIT_SECONDS, or `stopped()`). A cue given up on before it
        started is never played."""
        cue = _Cue(words)
        problem = self._enqueue(cue)
        if problem:
            return problem
        deadline = time.monotonic() + CUE_WAIT_SECONDS
        while not cue.done.wait(0.05):
            if stopped() or time.monotonic() > deadline:
                with self._settled:
                    cue.withdrawn = not cue.started
                if stopped():
                    return "listening was given up"
                return (
                    f"it was not played within {CUE_WAIT_SECONDS:g} s (replies waiting before "
                    "it, or a hung audio output)"
                )
        return cue.problem

    def acknowledge(self) -> None:
        """Play the acknowledgement of `acknowledge: tone` after the replies waiting, without
        waiting for it; nothing for `none`. It does not count as the assistant's own voice:
        the commands said right after it are heard."""
        if self.settings["acknowledge"] == "none":
            return
        problem = self._enqueue(_Cue(None, ACKNOWLEDGE_NOTES, acknowledgement=True))
        if problem:
            self.log.info("acknowledgement not played: %s", problem)

    def _enqueue(self, item: str | _Cue) -> str | None:
        """Queue a reply or a cue after those waiting: None, else why it cannot be."""
        with self._settled:
            if self._worker is None:
                return f"spoken replies are unavailable ({self.unavailable})"
            if self.stuck:
                return STUCK
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                return "the speech queue is full"
            self._pending += 1
            if isinstance(item, str):
                self._waiting.append(item)
        return None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued reply has been spoken; False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop the own-voice analysis (the replies not analysed yet count as any command) and
        its worker process, and the speech worker after the replies already queued (waits at
        most one timeout each)."""
        if self._analysis is not None:
            self._analysis.close(self.settings["timeout"])
        if self.own_voice is not None:
            self.own_voice.close(self.settings["timeout"])
        if self._worker is not None and not self.stuck:
            try:
                self._queue.put(None, timeout=self.settings["timeout"])
            except queue.Full:
                return
            self._worker.join(self.settings["timeout"])

    def _run(self) -> None:
        """The speech thread: start the engine (if it cannot, replies are only logged, and each
        played as the tone of UNSPOKEN_NOTES), then play what is queued, in order, until
        `close`."""
        finished = threading.Event()  # some drivers return from runAndWait before playback ends
        try:
            engine: Engine | None = pyttsx3_engine(self.settings)
            engine.connect("finished-utterance", lambda **_: finished.set())
        except Exception as error:  # the engine library may fail in many ways
            engine = None
            self.unavailable = f"the speech engine did not start: {error}"
            self.log.warning(
                "spoken replies go to the log only, each played as a falling tone: %s",
                self.unavailable,
            )
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Cue) and not self._starting(item):
                continue
            self._play(engine, finished, item)

    def _play(self, engine: Engine | None, finished: threading.Event, item: str | _Cue) -> None:
        """Say a reply or play a cue, as the voice being said meanwhile (not the acknowledgement:
        no voice); a failure is logged, or, for a listening cue, kept for its listener. With no
        engine a reply is played as the tone of UNSPOKEN_NOTES, and a cue of words as its tone;
        a reply the engine fails on is followed by that tone."""
        voice = isinstance(item, str) or not item.acknowledgement
        text = None if engine is None else item if isinstance(item, str) else item.words
        notes = UNSPOKEN_NOTES if isinstance(item, str) else item.notes
        heard = self._heard_as(text)  # at once: its analysis, if it needs one, comes later
        self._current_since = time.monotonic()
        with self._settled:
            self._saying = heard
            self._speaking_since = self._current_since if voice else None
        try:
            if text is None:
                self._play_tone(notes)
            else:
                self._utter(engine, finished, text)
        except Exception as error:
            if isinstance(item, str):
                self.log.warning("could not speak %r: %s", item, error)
                if text is not None:  # the engine failed on it, not the player
                    heard = self._unspoken()
            elif item.acknowledgement:
                self.log.warning("could not play the acknowledgement: %s", error)
            else:  # its listener says why, once
                item.problem = f"it could not be played: {error}"
        finally:
            self._ended(item, voice, heard)

    def _ended(self, item: str | _Cue, voice: bool, heard: Heard) -> None:
        """Bookkeeping once `item` ended, played or not: a voice is kept among those said lately
        (for OWN_VOICE_SECONDS), and whoever waits for the queue to settle or the cue is told."""
        ended = time.monotonic()
        self._current_since = None
        self._stuck_reported = False
        with self._settled:
            if voice:
                lately = [said for said in self._said if ended - said[0] < OWN_VOICE_SECONDS]
                self._said = [*lately, (ended, heard)]
            self._speaking_since = None
            self._pending -= 1
            if isinstance(item, str):
                self._waiting.remove(item)
            else:
                item.done.set()
            self._settled.notify_all()

    def _unspoken(self) -> Heard:
        """Play the tone of UNSPOKEN_NOTES for a reply the engine failed on (a failure is
        logged); what it could be heard as: any command, as the listening tone."""
        heard = Heard()
        with self._settled:
            self._saying = heard
        try:
            self._play_tone(UNSPOKEN_NOTES)
        except (SpeechError, OSError) as error:
            self.log.warning("could not play the tone of a reply not said: %s", error)
        return heard

    def _heard_as(self, text: str | None) -> Heard:
        """What saying `text` could be heard as: any command until its analysis is done, and
        for good without one (the tone cue, `ignore_own_voice` off)."""
        if text is None or self._analysis is None:
            return Heard()
        return self._analysis.heard(text)

    def _starting(self, cue: _Cue) -> bool:
        """Mark `cue` started, unless its listener gave it up (then it is dropped: False)."""
        with self._settled:
            if cue.withdrawn:
                self._pending -= 1
                self._settled.notify_all()
                return False
            cue.started = True
            return True

    def _utter(self, engine: Engine, finished: threading.Event, text: str) -> None:
        """Say `text` with the engine and return once it has been played; it starts once
        espeak-ng has taken the settings and ended the utterance before (`settle`)."""
        settle(self.settings)
        finished.clear()
        engine.say(text)
        engine.runAndWait()
        if not finished.wait(3 * self.settings["timeout"]):
            self.log.warning("the speech engine did not finish %r", text)

    def _play_tone(self, notes: tuple[float, ...]) -> None:
        """Play a tone of `notes`, at speech.volume, with the player replies are played with."""
        with tempfile.TemporaryDirectory(prefix="assistant-cue-") as folder:
            path = Path(folder) / "tone.wav"
            path.write_bytes(tone_wav(self.settings["volume"], notes))
            play_wav(path, self.settings["timeout"])
