"""Which commands the assistant's own voice could make the spotter report.

When a reply starts, `Analysis` synthesizes it as it will be said (espeak-ng at the configured
voice, rate and volume: `espeak_to_file`, assistant/espeak.py) and runs it through the board's
pipeline with the `microphone:` section's model (assistant/pipeline.py) as a microphone would
hear it in a quiet room (a second of faint noise before and after, the noise under it too) and
in each of a few reverberant ones (ROOMS, assistant/acoustics.py). A command is in the reply
when its score, averaged as the recognizer averages it (over `average_window_ms`, for a board
inferring every `inference_every` slices at any phase), reaches OWN_VOICE_SCORE in the quiet
room, or comes within ROOM_MARGIN of the command's threshold in one of ROOMS. It does so while
the reply is said, which is not delayed, on a thread of its own and, for the daemon
(`separate_process`), in a worker process of its own (assistant/own_voice_worker.py): until the
analysis is done the reply could be heard as any command, then the daemon ignores only those
found while the reply is said, and for OWN_VOICE_SECONDS after. The answer is kept per text (a
timer's ring repeats its announcement), and a reply said before is known as it starts. Where it
cannot be told (no espeak-ng, another engine, a model that does not load, a worker that died or
hung), `commands_in` gives None and every command heard meanwhile counts as the assistant's own
voice, as it does for a source whose model is another one (`analysed_for`); why is logged once.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.acoustics import Room, in_a_quiet_room
from assistant.own_voice_worker import AnalysisWorker
from assistant.recognizer import OUTPUT_ZERO_POINT, command_labels, window_averages

if TYPE_CHECKING:
    from assistant.features import FeatureContract
    from assistant.microphone_settings import ListenerSettings
    from assistant.model_runner import Int8Model
    from assistant.pipeline import Inference

OWN_VOICE_SCORE = 0.3
"""The averaged score from which a command counts as in a reply heard in a quiet room: far
below the recognizer's thresholds (0.66 to 0.84 by default), a margin for the speakers and the
microphone. At 170 words a minute "Stop" reaches about 0.85 for stop, "Go" 0.85 for go, "Tea is
done" at most 0.1 for any command. Echoes need more than a margin: in a reverberant room
"Timer is done" makes the board report on (0.88 against 0.84) from 0.01 in a quiet room, which
is why each reply is also heard through ROOMS."""
ROOMS = tuple(
    Room(
        rt60=0.8,
        direct_db=-10.0,
        low_hz=200.0,
        high_hz=6000.0,
        snr_db=20.0,
        delay_ms=delay,
        seed=seed,
    )
    for seed in (1, 2)
    for delay in (0.0, 10.0)
)
"""The reverberant rooms each reply is also heard through, all as reverberant as the worst
rooms bench/bench_own_voice.py draws (RT60 0.8 s, the direct sound 10 dB under the echoes):
two draws of the echoes, each with the frontend's slices falling 0 and 10 ms apart on it."""
ROOM_MARGIN = 0.18
"""In ROOMS, a command counts as in a reply from its threshold less this (on, at 0.84, from
0.66). Not OWN_VOICE_SCORE: echoes raise every score (on reaches 0.35 to 0.65 in ROOMS in five
replies no room makes a board report it in), so 0.3 there would ignore on while 9 of the 14
replies the bench measures are said. Chosen with bench/bench_own_voice.py over its 500 rooms
of seeds 0 to 4, at the default thresholds: "Timer 2 set for forty seconds", on 0.86 in one of
them, reaches on 0.70 in ROOMS; of the commands reported in none of them, only on in "Timer 2
is done" and "Timer silenced" (0.83 at most there) get over 0.65 in ROOMS."""
CACHED_TEXTS = 256
"""Texts whose analysis is kept (the least recently said go first)."""


@dataclass(frozen=True)
class Scores:
    """One command's highest averages in a reply."""

    clean: float
    """Heard in a quiet room."""
    in_rooms: float
    """The highest of those heard in each of the analysis rooms (0 with none)."""
    threshold: float
    """The score the board reports the command at."""

    @property
    def found(self) -> bool:
        """Whether the command counts as in the reply."""
        return self.clean >= OWN_VOICE_SCORE or self.in_rooms >= self.threshold - ROOM_MARGIN


class OwnVoice:
    """Analyses replies; `commands_in` is called by one thread at a time (`Analysis`'s), `kept`
    and `analysed_for` by any."""

    def __init__(
        self,
        microphone: Mapping[str, Any],
        synthesize: Callable[[str, Path], Path],
        log: logging.Logger,
        unavailable: str | None = None,
        rooms: Sequence[Room] = ROOMS,
        separate_process: bool = False,
    ):
        """`microphone`: the `microphone:` section (the model and recognizer settings to
        analyse with); `synthesize(text, path)` writes the WAV of `text` as it will be said;
        `unavailable`: why no analysis can be done at all (another speech engine); `rooms`:
        the reverberant rooms each reply is also heard through; `separate_process`: analyse in
        a worker process (then `synthesize` must be picklable; `close` ends it)."""
        self.microphone = microphone
        self.rooms = tuple(rooms)
        self.synthesize = synthesize
        self.log = log
        self.unavailable = unavailable
        self.model_id: str | None = None
        """The id of the model the replies are analysed with (a board's HELLO `model=`), once
        it has been loaded."""
        self._spotter: tuple[Int8Model, FeatureContract, ListenerSettings] | None = None
        self._cache: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._reported: set[str] = set()
        self._worker = AnalysisWorker(microphone, synthesize, rooms) if separate_process else None

    def commands_in(self, text: str) -> frozenset[str] | None:
        """The commands saying `text` could make the spotter report; None when that cannot be
        told (why is logged once)."""
        if (found := self.kept(text)) is not None:
            return found
        try:
            found = self.analyse(text)
        except Exception as error:  # espeak-ng, the WAV, the model: the analysis goes on
            self._log_once(
                f"a reply could not be analysed ({error}): while it is said, every command "
                "heard is ignored, not only those it could be heard as"
            )
            return None
        with self._cache_lock:
            self._cache[text] = found
            if len(self._cache) > CACHED_TEXTS:
                self._cache.popitem(last=False)
        return found

    def kept(self, text: str) -> frozenset[str] | None:
        """What `commands_in` found for `text` when it is kept; None when it has not (yet)."""
        with self._cache_lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        return None

    def analysed_for(self, source: str, model: str | None) -> bool:
        """Whether the analysis holds for `source`, whose model is `model` (its HELLO's); when
        it does not, that is logged once for each source and model."""
        if model == self.model_id:
            return True
        ignored = "while a reply is said, every command it hears is ignored"
        if model is None:  # its detections came before its HELLO
            self._log_once(
                f"the {source} has not said which model it runs yet (no HELLO), so the replies "
                f"analysed with {self.model_id} (microphone.model) may not hold for it: {ignored}"
            )
        else:
            self._log_once(
                f"the {source}'s model is {model}, not {self.model_id} (microphone.model), which "
                f"replies are analysed with: {ignored}"
            )
        return False

    def _log_once(self, why: str) -> None:
        if why not in self._reported:
            self._reported.add(why)
            self.log.warning("%s", why)

    def analyse(self, text: str) -> frozenset[str]:
        """The commands saying `text` could make the spotter report, not kept; RuntimeError (or
        another) when that cannot be told."""
        if self.unavailable:
            raise RuntimeError(self.unavailable)
        if self._worker is not None:
            found, model_id = self._worker.analyse(text)
            self.model_id = model_id
            return found
        scores = self.scores(self.synthesized(text))
        return frozenset(label for label, score in scores.items() if score.found)

    def close(self, timeout: float) -> None:
        """End the worker process, if any (waiting at most `timeout` s for its analysis)."""
        if self._worker is not None:
            self._worker.close(timeout)

    def scores(self, speech: np.ndarray) -> dict[str, Scores]:
        """For each command, how `speech` (int16 at `sample_rate`, as `synthesized`) scores
        heard in a quiet room and in `rooms`."""
        rate = self.sample_rate
        clean = self.command_averages(in_a_quiet_room(speech, rate))
        in_rooms = [self.command_averages(room.heard(speech, rate)) for room in self.rooms]
        _, contract, settings = self._load()
        recognizer = settings.recognizer_settings().recognizer(contract.labels, contract.thresholds)
        return {
            label: Scores(
                score,
                max((averages[label] for averages in in_rooms), default=0.0),
                recognizer.thresholds[label],
            )
            for label, score in clean.items()
        }

    @property
    def sample_rate(self) -> int:
        """The rate the model hears, in samples a second."""
        return self._load()[1].sample_rate

    def synthesized(self, text: str) -> np.ndarray:
        """`text` as it will be said: int16 samples at `sample_rate`."""
        from assistant.wav import read_wav_int16

        with tempfile.TemporaryDirectory(prefix="assistant-own-voice-") as folder:
            said = self.synthesize(text, Path(folder) / "reply.wav")
            return read_wav_int16(said, self.sample_rate, resample=True)

    def command_averages(self, heard: np.ndarray) -> dict[str, float]:
        """For each command, the highest average score (0 to 1) the recognizer reaches over
        `heard` (int16 at `sample_rate`, as the microphone hears it: see `in_a_quiet_room`)."""
        from assistant.pipeline import ScoreStream

        model, contract, settings = self._load()
        every_slice = ScoreStream(model, contract, inference_every=1)
        averages = loudest_averages(
            every_slice.feed(heard),
            settings.inference_every,
            settings.average_window_ms,
            settings.minimum_count,
        )
        commands = command_labels(contract.labels)
        return {
            label: float(score)
            for label, score in zip(contract.labels, averages, strict=True)
            if label in commands
        }

    def _load(self) -> tuple[Int8Model, FeatureContract, ListenerSettings]:
        """The model, its contract and the recognizer settings, loaded once; when the model
        cannot be loaded, every later analysis fails at once."""
        if self.unavailable:
            raise RuntimeError(self.unavailable)
        if self._spotter is None:
            from assistant.microphone_settings import ListenerSettings
            from assistant.model_files import load_model
            from assistant.model_runner import ModelError

            try:
                settings = ListenerSettings.from_values(self.microphone)
                model, contract = load_model(settings.model_path)
            except (ModelError, ValueError) as error:
                self.unavailable = f"the model cannot be loaded: {error}"
                raise RuntimeError(self.unavailable) from None
            self._spotter = (model, contract, settings)
            self.model_id = model.model_id
        return self._spotter


@dataclass(eq=False)
class Heard:
    """What one saying of a reply could be heard as: any command (None) until `done`."""

    commands: frozenset[str] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    """Set once `commands` holds the analysis (None still when it could not be made)."""


class Analysis:
    """Runs `OwnVoice.commands_in` on a thread of its own, one reply at a time, in the order the
    replies started, so that none waits for its analysis. Call `close` at shutdown."""

    def __init__(self, own_voice: OwnVoice):
        self.own_voice = own_voice
        self._texts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._waiting: dict[str, list[Heard]] = {}  # by the text to analyse, those saying it
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="own-voice analysis", daemon=True)
        self._thread.start()

    def heard(self, text: str) -> Heard:
        """What saying `text` could be heard as, at once: its analysis when kept (a reply said
        before), else any command until its analysis, queued here, is done."""
        with self._lock:
            if (kept := self.own_voice.kept(text)) is not None:
                heard = Heard(kept)
                heard.done.set()
                return heard
            heard = Heard()
            if self._closed:
                return heard
            if text not in self._waiting:
                self._waiting[text] = []
                self._texts.put(text)
            self._waiting[text].append(heard)
            return heard

    def close(self, timeout: float) -> None:
        """Drop the analyses not started and wait (at most `timeout` s) for the one running."""
        with self._lock:
            self._closed = True
        self._texts.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (text := self._texts.get()) is not None:
            with self._lock:
                if self._closed:
                    return
            found = self.own_voice.commands_in(text)
            with self._lock:  # a text queued meanwhile was found kept, or joined these
                for heard in self._waiting.pop(text):
                    heard.commands = found
                    heard.done.set()


def loudest_averages(
    inferences: Sequence[Inference], every: int, window_ms: int, minimum_count: int
) -> np.ndarray:
    """For each label, the highest score (0 to 1) the recognizer's average over `window_ms`
    reaches, from `inferences` made at every slice, for a board inferring every `every` slices
    whichever slice it starts on; an average counts from `minimum_count` inferences."""
    times = np.array([inference.time_ms for inference in inferences], dtype=np.int64)
    scores = (
        np.array([inference.scores for inference in inferences], dtype=np.int64) - OUTPUT_ZERO_POINT
    )
    best = np.zeros(scores.shape[1])
    for phase in range(every):
        averages, counts = window_averages(times[phase::every], scores[phase::every], window_ms)
        enough = counts >= minimum_count
        if enough.any():
            best = np.maximum(best, averages[enough].max(axis=0))
    return best / 255
