"""Which commands the assistant's own voice could make the spotter report.

Before a reply is said, the speech worker synthesizes it as it will be said (espeak-ng at the
configured voice, rate and volume: `Speaker.save_to_file`), puts it in a quiet room (a second
of faint noise before and after, the noise under it too) and runs it through the board's
pipeline with the `microphone:` section's model (assistant/pipeline.py). A command is in the
reply when its score, averaged as the recognizer averages it (over `average_window_ms`, for a
board inferring every `inference_every` slices at any phase), reaches OWN_VOICE_SCORE. The
daemon then ignores only those commands while the reply is said, and for OWN_VOICE_SECONDS
after. The answer is kept per text (a timer's ring repeats its announcement). Where it cannot
be told (no espeak-ng, another engine, a model that does not load), `commands_in` gives None
and every command heard meanwhile counts as the assistant's own voice, as it does for a source
whose model is another one (`analysed_for`); why is logged once.
"""

from __future__ import annotations

import logging
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.recognizer import command_labels, window_averages

if TYPE_CHECKING:
    from assistant.features import FeatureContract
    from assistant.listener import ListenerSettings
    from assistant.model_runner import Int8Model
    from assistant.pipeline import Inference

OWN_VOICE_SCORE = 0.3
"""The averaged score from which a command counts as in a reply: far below the recognizer's
thresholds (0.66 to 0.84 by default), meant as a margin for the room (the speakers, echoes, the
microphone). At 170 words a minute "Stop" reaches about 0.85 for stop, "Go" 0.85 for go,
"Tea is done" at most 0.1 for any command. bench/bench_own_voice.py measures the margin through
simulated rooms: it is not enough in the most reverberant ones, where "Timer is done" makes the
board report on (0.88 against 0.84) from a clean 0.01, which no value here can catch."""
QUIET_SECONDS = 1.0
"""Faint noise before and after the reply, as the room around it."""
NOISE_DB = 30.0
"""How far below the reply's RMS level the room's noise is: a room is never digitally silent,
and the frontend's noise estimate starts from what it hears before the reply."""
NOISE_SEED = 0
"""The noise is the same each time, so a text is always analysed alike."""
CACHED_TEXTS = 256
"""Texts whose analysis is kept (the least recently said go first)."""


class OwnVoice:
    """Analyses replies before they are said; used by the speech worker alone, but for
    `analysed_for`, which any thread may call."""

    def __init__(
        self,
        microphone: Mapping[str, Any],
        synthesize: Callable[[str, Path], Path],
        log: logging.Logger,
        unavailable: str | None = None,
    ):
        """`microphone`: the `microphone:` section (the model and recognizer settings to
        analyse with); `synthesize(text, path)` writes the WAV of `text` as it will be said;
        `unavailable`: why no analysis can be done at all (another speech engine)."""
        self.microphone = microphone
        self.synthesize = synthesize
        self.log = log
        self.unavailable = unavailable
        self.model_id: str | None = None
        """The id of the model the replies are analysed with (a board's HELLO `model=`), once
        it has been loaded."""
        self._spotter: tuple[Int8Model, FeatureContract, ListenerSettings] | None = None
        self._cache: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._reported: set[str] = set()

    def commands_in(self, text: str) -> frozenset[str] | None:
        """The commands saying `text` could make the spotter report; None when that cannot be
        told (why is logged once)."""
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        try:
            found = self._analyse(text)
        except Exception as error:  # espeak-ng, the WAV, the model: the speech worker goes on
            self._log_once(
                f"a reply could not be analysed ({error}): while it is said, every command "
                "heard is ignored, not only those it could be heard as"
            )
            return None
        self._cache[text] = found
        if len(self._cache) > CACHED_TEXTS:
            self._cache.popitem(last=False)
        return found

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

    def _analyse(self, text: str) -> frozenset[str]:
        averages = self.command_averages(in_a_quiet_room(self.synthesized(text), self.sample_rate))
        return frozenset(label for label, score in averages.items() if score >= OWN_VOICE_SCORE)

    @property
    def sample_rate(self) -> int:
        """The rate the model hears, in samples a second."""
        return self._load()[1].sample_rate

    def synthesized(self, text: str) -> np.ndarray:
        """`text` as it will be said: int16 samples at `sample_rate`."""
        from assistant.pipeline import read_wav_int16

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
            from assistant.listener import ListenerSettings
            from assistant.model_runner import ModelError
            from assistant.pipeline import load_model

            try:
                settings = ListenerSettings.from_values(self.microphone)
                model, contract = load_model(settings.model_path)
            except (ModelError, ValueError) as error:
                self.unavailable = f"the model cannot be loaded: {error}"
                raise RuntimeError(self.unavailable) from None
            self._spotter = (model, contract, settings)
            self.model_id = model.model_id
        return self._spotter


def in_a_quiet_room(
    speech: np.ndarray, rate: int, noise_db: float = NOISE_DB, seed: int = NOISE_SEED
) -> np.ndarray:
    """`speech` (int16) with QUIET_SECONDS before and after it, and noise `noise_db` below its
    level over all of it (`seed`: which noise)."""
    quiet = np.zeros(round(QUIET_SECONDS * rate))
    room = np.concatenate([quiet, speech, quiet])
    level = np.sqrt(np.mean(np.square(speech, dtype=np.float64))) if speech.size else 0.0
    room += np.random.default_rng(seed).normal(0, level * 10 ** (-noise_db / 20), room.size)
    return np.clip(np.round(room), -32768, 32767).astype(np.int16)


def loudest_averages(
    inferences: Sequence[Inference], every: int, window_ms: int, minimum_count: int
) -> np.ndarray:
    """For each label, the highest score (0 to 1) the recognizer's average over `window_ms`
    reaches, from `inferences` made at every slice, for a board inferring every `every` slices
    whichever slice it starts on; an average counts from `minimum_count` inferences."""
    times = np.array([inference.time_ms for inference in inferences], dtype=np.int64)
    scores = np.array([inference.scores for inference in inferences], dtype=np.int64) + 128
    best = np.zeros(scores.shape[1])
    for phase in range(every):
        averages, counts = window_averages(times[phase::every], scores[phase::every], window_ms)
        enough = counts >= minimum_count
        if enough.any():
            best = np.maximum(best, averages[enough].max(axis=0))
    return best / 255
