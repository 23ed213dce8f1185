"""The follow-up phrase: after a command, listen briefly on the desktop microphone and
transcribe one phrase offline with Vosk, restricted to the grammar the skill gives.

When the daemon listens with the microphone source, the phrase borrows that source's stream (one
stream, one owner); only otherwise (the board is the source) it opens one of its own.
With no Vosk model or no microphone, `listen` logs one clear message and returns None, and the
skill falls back to its default; so it does at once, saying so, while the model is still loading
(`load_in_background`), rather than leave the skill, or the hub asking from another room, waiting
past its time for a cue and a window that come too late. Before it reads any audio it plays the
listening cue (`phrase.cue`, assistant/cue.py) and waits for it to end, so that neither the
recogniser nor the window's length is spent on it; when the cue cannot be played it listens all
the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from assistant.cue import CUES, DEFAULT_PROMPT
from assistant.microphone import (
    SAMPLE_RATE,
    MicrophoneError,
    microphone_problem,
    open_microphone,
)
from assistant.plugin import Setting
from assistant.settings import with_defaults
from assistant.vosk_models import MODEL_NAME, check_model, default_model_path

PHRASE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        str,
        "",
        f"Vosk model folder; empty: {MODEL_NAME} from `assistant models download`",
        path=True,
    ),
    Setting(
        "device",
        str,
        "",
        "microphone when the board is the source: a sounddevice name or number; empty: the "
        "default (with source: microphone, the phrase is heard on that microphone)",
    ),
    Setting("seconds", float, 4.0, "longest listening window in seconds", minimum=0.5, maximum=60),
    Setting(
        "cue",
        str,
        "tone",
        "played before listening, so that you know to speak: tone (a short rising beep), words "
        '(the skill\'s short question, such as "How long?") or none',
        choices=CUES,
    ),
)
"""Schema of the `phrase:` section of config.yaml."""

CHUNK_SECONDS = 0.1
DEVICE_SETTING = "phrase.device in config.yaml"
"""Where the phrase's microphone is chosen, as its errors' fixes name it."""
UNAVAILABLE = "follow-up phrase unavailable, skills use their defaults: "
"""How the log says that no phrase can be listened for, before why."""


def phrase_from_result(result: str) -> str | None:
    """The words of a Vosk result (`Result()`/`FinalResult()` JSON), without "[unk]";
    None when nothing was understood."""
    words = [word for word in json.loads(result).get("text", "").split() if word != "[unk]"]
    return " ".join(words) or None


def log_heard(log: logging.Logger, heard: str, text: str | None) -> None:
    """Log a follow-up phrase (`heard` says whose: "follow-up phrase"): whether it was
    understood at INFO, its words at DEBUG only, so that what a person said stays out of the
    log (the journal) at the default level."""
    log.info("%s: %s", heard, "understood" if text else "nothing understood")
    if text:
        log.debug("%s: %r", heard, text)


def transcribe(
    model: Any, grammar: list[str] | None, chunks: Iterable[bytes], sample_rate: int
) -> str | None:
    """Feed 16-bit mono PCM chunks to a recognizer until the first complete phrase."""
    from vosk import KaldiRecognizer

    if grammar:
        recognizer = KaldiRecognizer(model, sample_rate, json.dumps(grammar, ensure_ascii=False))
    else:
        recognizer = KaldiRecognizer(model, sample_rate)
    for chunk in chunks:
        if recognizer.AcceptWaveform(chunk):
            phrase = phrase_from_result(recognizer.Result())
            if phrase:
                return phrase
    return phrase_from_result(recognizer.FinalResult())


def microphone_chunks(device: str, seconds: float) -> Iterator[bytes]:
    """16 kHz 16-bit mono audio from the microphone (`phrase.device`) for at most `seconds`,
    opened as the microphone source opens it (a device's own rate is resampled)."""
    blocksize = int(SAMPLE_RATE * CHUNK_SECONDS)
    with open_microphone(device, blocksize, setting=DEVICE_SETTING) as stream:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data, _overflowed = stream.read(blocksize)
            yield data.tobytes()


def until_stopped(chunks: Iterable[bytes], stopped: Callable[[], bool]) -> Iterator[bytes]:
    """The chunks, checking `stopped()` before each is read and ending once it is true."""
    source = iter(chunks)
    while not stopped():
        chunk = next(source, None)
        if chunk is None:
            return
        yield chunk


def _never() -> bool:
    return False


class Unavailable(Exception):
    """No phrase can be listened for: the message says why (no model, no microphone)."""


class Heard(NamedTuple):
    """What a follow-up phrase gave: its words (None: nothing understood), or why none could be
    listened for."""

    text: str | None = None
    problem: str | None = None


PlayCue = Callable[[str | None, Callable[[], bool]], str | None]
"""Plays a listening cue, (words, or None for the tone; stopped), and returns once it has been
played: None then, else why it was not (`Speaker.play_cue`)."""


class PhraseListener:
    """`listener(grammar, seconds, stopped, prompt)` is the host's listen_for_phrase."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        log: logging.Logger | None = None,
        microphone: Callable[[float], Iterable[bytes] | None] | None = None,
        play_cue: PlayCue | None = None,
    ):
        """`microphone(seconds)` gives that long of a stream already open (16 kHz 16-bit mono
        chunks: the microphone source's), or None when there is none, and then the listener
        opens its own stream on phrase.device. `play_cue` is this machine's speaker's; without
        one no cue is played."""
        self.microphone = microphone
        self.play_cue = play_cue
        self.settings = with_defaults(settings, PHRASE_SETTINGS)
        self.log = log or logging.getLogger("assistant.phrase")
        self.model_path = Path(self.settings["model"] or default_model_path())
        self._model: Any = None
        self._lock = threading.Lock()
        self._loading: float | None = None
        """When `load_in_background` started loading the model (time.monotonic()), until done."""
        self._reported: set[str] = set()

    def listen(
        self,
        grammar: list[str],
        seconds: float | None = None,
        stopped: Callable[[], bool] = _never,
        prompt: str = "",
    ) -> str | None:
        """Transcribe one phrase from the microphone, after the cue (`prompt` is what `words`
        says); None when unavailable, not understood, or once `stopped()` is true (checked
        between the 0.1 s chunks)."""
        return self.hear(grammar, seconds, stopped, prompt).text

    def hear(
        self,
        grammar: list[str],
        seconds: float | None = None,
        stopped: Callable[[], bool] = _never,
        prompt: str = "",
    ) -> Heard:
        """`listen`, with why no phrase could be listened for (a satellite tells the hub)."""
        window = min(seconds or self.settings["seconds"], self.settings["seconds"])
        try:
            model = self._loaded_model()
            chunks = self._chunks(window)  # read from its first chunk on, so after the cue
        except Unavailable as why:
            return Heard(problem=str(why))
        self._cue(prompt or DEFAULT_PROMPT, stopped)
        try:
            phrase = transcribe(model, grammar, until_stopped(chunks, stopped), SAMPLE_RATE)
        except MicrophoneError as error:  # it says what to fix
            return Heard(problem=str(self._unavailable(str(error))))
        except Exception as error:  # sounddevice.PortAudioError and driver errors
            why = self._unavailable(f"the microphone failed: {error}; check phrase.device")
            return Heard(problem=str(why))
        if stopped():
            self.log.info("follow-up phrase: told to stop listening")
            return Heard(problem="told to stop listening")
        log_heard(self.log, "follow-up phrase", phrase)
        return Heard(phrase)

    __call__ = listen

    def _chunks(self, seconds: float) -> Iterable[bytes]:
        """The audio to listen to: borrowed from the stream already open, else from a stream of
        its own; Unavailable (reported once) when there is no microphone."""
        try:
            shared = self.microphone(seconds) if self.microphone else None
        except MicrophoneError as error:
            raise self._unavailable(str(error)) from None
        if shared is not None:
            return shared
        problem = microphone_problem(self.settings["device"], DEVICE_SETTING)
        if problem:
            raise self._unavailable(problem)
        return microphone_chunks(self.settings["device"], seconds)

    def _cue(self, prompt: str, stopped: Callable[[], bool]) -> None:
        """Play `phrase.cue` and return once it has been played (or could not be: said once)."""
        cue = self.settings["cue"]
        if cue == "none" or self.play_cue is None:
            return
        problem = self.play_cue(prompt if cue == "words" else None, stopped)
        if problem is None:
            self.log.info("follow-up phrase: listening after the %s cue", cue)
        elif not stopped():
            self._once(f"follow-up phrase: listening without the {cue} cue: {problem}")

    def load_in_background(self) -> threading.Thread | None:
        """Start loading the Vosk model on a thread of its own when one is installed, so that
        the first phrase does not wait for it (a large model on a slow machine takes longer to
        load than `skill_timeout` gives the skill's action); None, and nothing said, when none
        is installed (the first phrase says so)."""
        if check_model(self.model_path):
            return None
        self._loading = time.monotonic()
        thread = threading.Thread(target=self._load_in_background, name="vosk model", daemon=True)
        thread.start()
        return thread

    def _load_in_background(self) -> None:
        """Load the model (a failure is reported once) and say it is no longer loading."""
        try:
            self._load()
        except Unavailable:
            pass
        finally:
            self._loading = None

    def model(self) -> Any:
        """The Vosk model, loaded once (waiting for a load under way); None (reported once)
        when it cannot be loaded."""
        try:
            return self._load()
        except Unavailable:
            return None

    def _loaded_model(self) -> Any:
        """The Vosk model, loaded once; Unavailable (reported once) when it cannot be, and,
        said each time, while `load_in_background` is still loading it."""
        started = self._loading
        if started is not None and self._model is None:
            why = (
                f"the Vosk model {self.model_path} is still loading (for "
                f"{time.monotonic() - started:.1f} s); phrases are heard once it has loaded"
            )
            self.log.warning("%s%s", UNAVAILABLE, why)
            raise Unavailable(why)
        return self._load()

    def _load(self) -> Any:
        """The Vosk model, loaded once (waiting for a load under way); Unavailable (reported
        once) when it cannot be."""
        with self._lock:
            if self._model is None:
                problem = check_model(self.model_path)
                if problem:
                    raise self._unavailable(problem)
                try:
                    import vosk

                    vosk.SetLogLevel(-1)
                    started = time.monotonic()
                    self._model = vosk.Model(str(self.model_path))
                except Exception as error:  # vosk raises a bare Exception on a bad model
                    why = f"the Vosk model at {self.model_path} did not load: {error}"
                    raise self._unavailable(why) from None
                self.log.info(
                    "Vosk model %s loaded in %.1f s",
                    self.model_path,
                    time.monotonic() - started,
                )
            return self._model

    def _unavailable(self, problem: str) -> Unavailable:
        """Say (once) that no phrase can be listened for, and why; the error to raise."""
        self._once(UNAVAILABLE + problem)
        return Unavailable(problem)

    def _once(self, warning: str) -> None:
        """Log `warning` the first time only."""
        if warning not in self._reported:
            self._reported.add(warning)
            self.log.warning("%s", warning)
