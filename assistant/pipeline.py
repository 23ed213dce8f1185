"""The board's keyword spotting on the desktop: audio -> frontend -> int8 model -> recognizer.

Every step is the board's own arithmetic (assistant/frontend.py, FeatureContract.to_int8, the
int8 model with TFLite Micro's kernels, assistant/recognizer.py), so the same audio gives the
same detections, at the same times, as a board would report. Time is audio time: a slice's time
is the end of its window in milliseconds since the stream started. A recording goes through it
with `messages_from_wav` (the file read by assistant/wav.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import protocol
from assistant.features import FeatureContract
from assistant.frontend import Frontend
from assistant.model_runner import EXPORT_COMMAND, Int8Model, ModelError
from assistant.near_misses import NearMiss, NearMissWatch
from assistant.recognizer import DEFAULT_THRESHOLD, OUTPUT_ZERO_POINT, Recognition, Recognizer
from assistant.wav import read_wav_int16

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "kws_int8.tflite"
DEFAULT_INFERENCE_EVERY = 5
"""Feature slices between inferences (5 slices of 20 ms: an inference every 100 ms)."""
DESKTOP_FIRMWARE = "desktop-1"
"""The `fw=` the desktop pipeline gives in its HELLO."""


@dataclass(frozen=True)
class RecognizerSettings:
    """How scores become detections (the board's recognizer settings)."""

    thresholds: float | Mapping[str, float] = DEFAULT_THRESHOLD
    average_window_ms: int = 1000
    suppression_ms: int = 1500
    minimum_count: int = 3

    def recognizer(self, labels: Iterable[str]) -> Recognizer:
        return Recognizer(
            tuple(labels),
            thresholds=self.thresholds,
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


def model_card_path(model_path: str | Path) -> Path:
    """The model card beside a model: kws_int8.tflite -> kws_int8.json."""
    return Path(model_path).with_suffix(".json")


def load_contract(model_path: str | Path = DEFAULT_MODEL) -> FeatureContract:
    """The feature contract of a model, from the model card beside it. ModelError when the model
    or its card is missing, or the card is broken or belongs to another model (its sha256 is
    not the model's)."""
    model = Path(model_path)
    if not model.is_file():
        raise ModelError(f"{model}: no such model file")
    card = model_card_path(model_path)
    if not card.is_file():
        raise ModelError(
            f"{card}: the model card of {Path(model_path).name} is missing; export the model "
            f"with `{EXPORT_COMMAND}` (it writes both files)"
        )
    try:
        contract = FeatureContract.from_model_card(card)
        card_sha256 = json.loads(card.read_text()).get("sha256")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{card}: not a valid model card ({error!r})") from error
    try:
        model_sha256 = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    except OSError as error:
        raise ModelError(f"{model_path}: cannot read the model: {error.strerror}") from None
    if card_sha256 != model_sha256:
        raise ModelError(
            f"{card} is not the card of {model_path}: the card's sha256 is {card_sha256}, the "
            f"model's is {model_sha256}; export the model again with `{EXPORT_COMMAND}`, which "
            "writes the model and its card together"
        )
    return contract


def load_model(model_path: str | Path = DEFAULT_MODEL) -> tuple[Int8Model, FeatureContract]:
    """The model and its feature contract (from the model card beside it)."""
    contract = load_contract(model_path)
    model = Int8Model(model_path)
    expected = contract.slices * contract.channels
    if model.input_size != expected or model.output_size != len(contract.labels):
        raise ModelError(
            f"{model_path}: the model takes {model.input_size} values and gives "
            f"{model.output_size} scores, but its card says {contract.slices}x"
            f"{contract.channels} features and {len(contract.labels)} labels"
        )
    check_quantization(model, contract)
    return model, contract


def check_quantization(model: Int8Model, contract: FeatureContract) -> None:
    """ModelError unless the card's input quantization (which `to_int8` and the firmware's
    header use) is the model's own, and the output is a softmax's (zero point -128), as the
    recognizer here and on the board reads it."""
    scale, zero_point = model.input_quantization
    card = model_card_path(model.path)
    if np.float32(contract.input_scale) != np.float32(scale) or (
        contract.input_zero_point != zero_point
    ):
        raise ModelError(
            f"{card}: input scale {contract.input_scale} and zero point "
            f"{contract.input_zero_point}, but {model.path} takes scale {scale} and zero point "
            f"{zero_point}: its features would be converted wrongly; export the model again with "
            f"`{EXPORT_COMMAND}`, which writes the model and its card together"
        )
    _, output_zero_point = model.output_quantization
    if output_zero_point != OUTPUT_ZERO_POINT:
        raise ModelError(
            f"{model.path}: its output's zero point is {output_zero_point}, but the recognizer "
            f"(here and on the board) reads scores as int8 + 128: end the model with a softmax "
            f"(int8 output zero point {OUTPUT_ZERO_POINT})"
        )


class ModelFile:
    """A model and its card on disk, loaded once (`load_model`) and loaded again only once
    either file has changed: another file at the path (as an export or a copy leaves it), or
    another size or modification time."""

    def __init__(self, path: str | Path = DEFAULT_MODEL):
        self.path = Path(path)
        self._loaded: tuple[Int8Model, FeatureContract] | None = None
        self._stamp: tuple[tuple[int, ...], ...] | None = None

    def load(self) -> tuple[Int8Model, FeatureContract]:
        """The model and its contract as the files are now; ModelError as `load_model`."""
        stamp = _stamp(self.path)
        if self._loaded is None or stamp is None or stamp != self._stamp:
            self._loaded = load_model(self.path)
            self._stamp = stamp
        return self._loaded


def _stamp(model_path: Path) -> tuple[tuple[int, ...], ...] | None:
    """What tells the files of a model and its card apart from those there before (None when
    either is missing): stamped before loading, a change while loading loads again later."""
    try:
        found = [path.stat() for path in (model_path, model_card_path(model_path))]
    except OSError:
        return None
    return tuple((s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in found)


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
        pipelines. `near_miss_bar`: above 0, `hear` reports the near misses of that bar
        (assistant/near_misses.py)."""
        if not isinstance(model_path, ModelFile):
            model_path = ModelFile(model_path)
        model, contract = model_path.load()
        self.scores = ScoreStream(model, contract, inference_every)
        self.recognizer = (settings or RecognizerSettings()).recognizer(contract.labels)
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
        hello = protocol.Hello(0, protocol.PROTOCOL_VERSION, self.fw, self.model_id, self.labels)
        self._seq = protocol.next_seq(0)
        return hello

    def _stamp(self) -> int:
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
                messages.append(protocol.Heartbeat(self._stamp(), ms))
            else:
                score = round(recognition.score, 3)
                messages.append(protocol.Detection(self._stamp(), recognition.label, score, ms))
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
    pipeline = KeywordPipeline(model_path, settings)
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
