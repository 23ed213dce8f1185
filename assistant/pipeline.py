"""The board's keyword spotting on the desktop: audio -> frontend -> int8 model -> recognizer.

Every step is the board's own arithmetic (assistant/frontend.py, FeatureContract.to_int8, the
int8 model with TFLite Micro's kernels, assistant/recognizer.py), so the same audio gives the
same detections, at the same times, as a board would report (the model and its card are read
by assistant/model_files.py). Time is audio time: a slice's time
is the end of its window in milliseconds since the stream started. A recording goes through it
with `messages_from_wav` (the file read by assistant/wav.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import protocol
from assistant.features import FeatureContract
from assistant.frontend import Frontend
from assistant.model_files import DEFAULT_MODEL, ModelFile
from assistant.model_runner import Int8Model, ModelError
from assistant.near_misses import NearMiss, NearMissWatch
from assistant.recognizer import Recognition, Recognizer
from assistant.wav import read_wav_int16

DEFAULT_INFERENCE_EVERY = 5
"""Feature slices between inferences (5 slices of 20 ms: an inference every 100 ms)."""
DESKTOP_FIRMWARE = "desktop-1"
"""The `fw=` the desktop pipeline gives in its HELLO."""


@dataclass(frozen=True)
class RecognizerSettings:
    """How scores become detections (the board's recognizer settings)."""

    thresholds: float | Mapping[str, float] = field(default_factory=dict)
    """One threshold for every command, or the thresholds of some commands: the others keep
    the model's own (`recognizer`'s `model_thresholds`), else the recognizer's
    DEFAULT_THRESHOLD."""
    average_window_ms: int = 1000
    suppression_ms: int = 1500
    minimum_count: int = 3

    def recognizer(
        self, labels: Iterable[str], model_thresholds: Mapping[str, float] | None = None
    ) -> Recognizer:
        """A recognizer for a model's `labels`; `model_thresholds`: those its card gives,
        as a board flashed with the model's thresholds header starts with."""
        thresholds = self.thresholds
        if isinstance(thresholds, Mapping):
            thresholds = {**(model_thresholds or {}), **thresholds}
        return Recognizer(
            tuple(labels),
            thresholds=thresholds,
            average_window_ms=self.average_window_ms,
            suppression_ms=self.suppression_ms,
            minimum_count=self.minimum_count,
        )


@dataclass(frozen=True)
class Heard:
    """What a block of audio made the pipeline hear: each command with the time of the
    inference of its average that scored it highest (`Recognizer.peak_ms`: its window, the end
    of which that time is, holds the word best), and the near misses that ended in it."""

    commands: list[tuple[Recognition, int]]
    near_misses: list[NearMiss]


@dataclass(frozen=True)
class Inference:
    time_ms: int
    scores: np.ndarray
    """The model's int8 output, one value per label."""


class ScoreStream:
    """Audio in, the model's scores out: an inference every `inference_every` feature slices
    once the model's window of slices is full."""

    def __init__(
        self,
        model: Int8Model,
        contract: FeatureContract,
        inference_every: int = DEFAULT_INFERENCE_EVERY,
    ):
        if inference_every < 1:
            raise ValueError(f"inference_every must be at least 1, got {inference_every}")
        self.model = model
        self.contract = contract
        self.inference_every = inference_every
        self.frontend = Frontend()
        if self.frontend.channels != contract.channels:
            raise ModelError(
                f"the model expects {contract.channels} channels, the frontend gives "
                f"{self.frontend.channels}"
            )
        tables = self.frontend.tables
        self._step = tables.step_samples
        self._window = tables.window_samples
        self._rate = self.frontend.config.sample_rate
        self.slices_seen = 0
        self._recent = np.zeros((0, contract.channels), dtype=np.int8)

    def slice_time_ms(self, index: int) -> int:
        """Audio time at the end of slice `index` (0-based), wrapped as the board's clock."""
        samples = index * self._step + self._window
        return (samples * 1000 // self._rate) & protocol.MAX_SEQ

    def feed(self, samples: np.ndarray) -> list[Inference]:
        """The inferences that `samples` (16 kHz int16, following those fed before) make due."""
        features = self.contract.to_int8(self.frontend.process(samples))
        if not len(features):
            return []
        recent = np.concatenate([self._recent, features])
        first = self.slices_seen
        self.slices_seen += len(features)
        slices, every = self.contract.slices, self.inference_every
        due = [
            total
            for total in range(first + 1, self.slices_seen + 1)
            if total >= slices and (total - slices) % every == 0
        ]
        ends = [len(recent) - (self.slices_seen - total) for total in due]
        windows = np.array([recent[end - slices : end] for end in ends], dtype=np.int8)
        scores = self.model.run_batch(windows) if due else []
        inferences = [
            Inference(self.slice_time_ms(total - 1), row)
            for total, row in zip(due, scores, strict=True)
        ]
        self._recent = recent[-(slices - 1) :] if slices > 1 else recent[:0]
        return inferences


class KeywordPipeline:
    """The board's keyword spotting: feed 16 kHz int16 audio, get the commands heard."""

    def __init__(
        self,
        model_path: str | Path | ModelFile = DEFAULT_MODEL,
        settings: RecognizerSettings | None = None,
        inference_every: int = DEFAULT_INFERENCE_EVERY,
        near_miss_bar: float = 0.0,
    ):
        """`model_path`: the model's file, or a ModelFile that keeps it loaded across
        pipelines. `settings`: None hears with the model's own thresholds (its card's, else
        DEFAULT_THRESHOLD), as a board flashed with it. `near_miss_bar`: above 0, `hear`
        reports the near misses of that bar (assistant/near_misses.py)."""
        if not isinstance(model_path, ModelFile):
            model_path = ModelFile(model_path)
        model, contract = model_path.load()
        self.scores = ScoreStream(model, contract, inference_every)
        self.recognizer = (settings or RecognizerSettings()).recognizer(
            contract.labels, contract.thresholds
        )
        self.near_misses = NearMissWatch(near_miss_bar) if near_miss_bar > 0 else None

    @property
    def model_id(self) -> str:
        return self.scores.model.model_id

    @property
    def commands(self) -> tuple[str, ...]:
        return self.recognizer.commands

    @property
    def sample_rate(self) -> int:
        return self.scores.contract.sample_rate

    def feed(self, samples: np.ndarray) -> list[Recognition]:
        """The commands recognized in `samples` (16 kHz int16, following those fed before)."""
        return [recognition for recognition, _ in self.hear(samples).commands]

    def hear(self, samples: np.ndarray) -> Heard:
        """As `feed`, each command with the time that places its clip, and the near misses."""
        heard = Heard([], [])
        for inference in self.scores.feed(samples):
            recognition = self.recognizer.process(inference.scores, inference.time_ms)
            if recognition is not None:
                heard.commands.append((recognition, self.recognizer.peak_ms(recognition.label)))
            if self.near_misses is not None:
                miss = self.near_misses.observe(self.recognizer, inference.time_ms)
                if miss is not None:
                    heard.near_misses.append(miss)
        return heard


@dataclass
class BoardOutput:
    """The lines a board sends for a stream of audio: HELLO first, then DET and a HB every
    `heartbeat_ms` of audio time, with growing sequence numbers."""

    model_id: str
    labels: tuple[str, ...]
    heartbeat_ms: int = 1000
    fw: str = DESKTOP_FIRMWARE
    _seq: int = field(default=0, init=False)
    _next_heartbeat: int = field(default=0, init=False)

    def hello(self) -> protocol.Hello:
        """The HELLO that starts the stream (sequence number 0); the next lines follow it."""
        self._next_heartbeat = self.heartbeat_ms
        self._seq = 0
        return protocol.Hello(
            self._take_seq(), protocol.PROTOCOL_VERSION, self.fw, self.model_id, self.labels
        )

    def _take_seq(self) -> int:
        """The sequence number of the next line; the one after it is next."""
        seq = self._seq
        self._seq = protocol.next_seq(seq)
        return seq

    def advance(self, audio_ms: int, heard: Iterable[Recognition]) -> list[protocol.Message]:
        """The lines for everything up to `audio_ms` (detections and heartbeats, in time order)."""
        events: list[tuple[int, int, Recognition | None]] = [
            (recognition.time_ms, 1, recognition) for recognition in heard
        ]
        while self._next_heartbeat <= audio_ms:
            events.append((self._next_heartbeat, 0, None))
            self._next_heartbeat += self.heartbeat_ms
        messages: list[protocol.Message] = []
        for time_ms, _, recognition in sorted(events, key=lambda event: event[:2]):
            ms = time_ms & protocol.MAX_SEQ
            if recognition is None:
                messages.append(protocol.Heartbeat(self._take_seq(), ms))
            else:
                score = round(recognition.score, 3)
                messages.append(protocol.Detection(self._take_seq(), recognition.label, score, ms))
        return messages


def messages_from_wav(
    path: str | Path,
    model_path: str | Path = DEFAULT_MODEL,
    settings: RecognizerSettings | None = None,
    heartbeat_ms: int = 1000,
    chunk_ms: int = 100,
) -> list[protocol.Message]:
    """The protocol lines a board would send while hearing the WAV file (HELLO, DET, HB); a
    file at another rate than the board's is resampled to it."""
    return board_messages(KeywordPipeline(model_path, settings), path, heartbeat_ms, chunk_ms)


def board_messages(
    pipeline: KeywordPipeline, path: str | Path, heartbeat_ms: int = 1000, chunk_ms: int = 100
) -> list[protocol.Message]:
    """As `messages_from_wav`, with `pipeline` hearing the file (a new one: it has heard
    nothing yet)."""
    samples = read_wav_int16(path, pipeline.sample_rate, resample=True)
    output = BoardOutput(pipeline.model_id, pipeline.commands, heartbeat_ms)
    messages: list[protocol.Message] = [output.hello()]
    chunk = max(1, pipeline.sample_rate * chunk_ms // 1000)
    for start in range(0, len(samples), chunk):
        heard = pipeline.feed(samples[start : start + chunk])
        audio_ms = (start + len(samples[start : start + chunk])) * 1000 // pipeline.sample_rate
        messages += output.advance(audio_ms, heard)
    return messages


def detections_from_wav(
    path: str | Path,
    model_path: str | Path = DEFAULT_MODEL,
    settings: RecognizerSettings | None = None,
) -> list[protocol.Detection]:
    """Only the detections a board would send while hearing the WAV file."""
    messages = messages_from_wav(path, model_path, settings)
    return [message for message in messages if isinstance(message, protocol.Detection)]
