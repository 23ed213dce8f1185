"""Long streams: words and running speech at random times over background noise.

A stream's words come from one split's speakers: `validation` streams tune the thresholds,
`test` streams report on them (never the same audio).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model_training.dataset import index_folder, noise_files, read_wav, write_wav
from model_training.examples import rms, voiced_span
from model_training.json_files import read_object
from model_training.progress import Progress
from model_training.settings import COMMANDS, SAMPLE_RATE, UNKNOWN_LABEL
from model_training.streaming import REPORTING_SPLIT, STREAM_SPLITS
from model_training.synth import SENTENCE_WORDS, VARIANTS, VOICES, speak, trim

BUILD_COMMAND = "python -m model_training.streaming build"


@dataclass(frozen=True)
class StreamRecipe:
    """What a stream holds. Shares are of the events; gaps of noise alone separate them."""

    minutes: float = 60.0
    snr_db: tuple[float, ...] = (5.0, 10.0, 20.0)
    noise_db: tuple[float, float] = (-45.0, -30.0)
    """Range of the background's RMS level in dBFS (a new level each noise segment)."""
    command_share: float = 0.35
    unknown_share: float = 0.3
    gap_seconds: tuple[float, float] = (1.0, 4.0)
    noise_segment_seconds: tuple[float, float] = (20.0, 60.0)
    seed: int = 0
    split: str = REPORTING_SPLIT
    """Whose words: the `validation` speakers (for tuning) or the `test` speakers (reporting)."""

    def __post_init__(self) -> None:
        if self.command_share + self.unknown_share > 1:
            raise ValueError(
                f"--command-share {self.command_share:g} and --unknown-share "
                f"{self.unknown_share:g} add up to more than 1: the rest, sentences, is their "
                "share of the events; lower one of them"
            )


@dataclass
class Event:
    kind: str
    label: str | None
    """The command for a command event; None for other words and running speech."""
    source: str
    start_ms: int
    end_ms: int
    """Where the voiced part lies in the stream."""
    snr_db: float


@dataclass
class StreamTruth:
    recipe: dict
    sample_rate: int = SAMPLE_RATE
    duration_ms: int = 0
    events: list[Event] = field(default_factory=list)
    noise: list[dict] = field(default_factory=list)

    @property
    def split(self) -> str:
        """The split whose speakers the stream holds (streams built before it was recorded held
        test speakers only)."""
        return self.recipe.get("split", REPORTING_SPLIT)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> StreamTruth:
        """The ground truth `build` wrote at `path`; ValueError naming it when it is missing
        or damaged."""
        remedy = f"build the stream again with `{BUILD_COMMAND}`"
        data = read_object(path, "stream ground truth", remedy)
        try:
            data["events"] = [Event(**event) for event in data["events"]]
            return cls(**data)
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a stream ground truth ({error!r}); {remedy}") from None


def _background(
    rng: np.random.Generator, noises: Sequence[tuple[str, np.ndarray]], length: int, recipe
) -> tuple[np.ndarray, list[dict]]:
    """Background noise: segments of the noise recordings at random levels, cross-faded."""
    out = np.zeros(length, dtype=np.float32)
    segments, position, fade = [], 0, SAMPLE_RATE // 10
    while position < length:
        name, noise = noises[int(rng.integers(len(noises)))]
        size = min(int(rng.uniform(*recipe.noise_segment_seconds) * SAMPLE_RATE), length - position)
        start = int(rng.integers(len(noise)))
        piece = np.resize(np.roll(noise, -start), size + fade)
        level_db = float(rng.uniform(*recipe.noise_db))
        piece = piece * (10 ** (level_db / 20) / max(rms(piece), 1e-9))
        ramp = np.minimum(1.0, np.arange(len(piece)) / fade)
        piece = piece * np.minimum(ramp, ramp[::-1])
        end = min(position + len(piece), length)
        out[position:end] += piece[: end - position]
        segments.append(
            {
                "file": name,
                "start_ms": position * 1000 // SAMPLE_RATE,
                "level_db": round(level_db, 1),
            }
        )
        position += size
    return out, segments


def _sentence(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    vocabulary = [word for word in SENTENCE_WORDS if word.lower() not in COMMANDS]
    text = " ".join(str(w) for w in rng.choice(vocabulary, size=int(rng.integers(4, 12))))
    voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
    audio = trim(speak(text, voice, int(rng.integers(20, 81)), int(rng.integers(120, 211))))
    return f"espeak-ng {voice}: {text}", audio


def build_stream(
    data: str | Path, noise_root: str | Path, out: str | Path, recipe: StreamRecipe
) -> StreamTruth:
    """Write `<out>.wav` and the ground truth `<out>.json`; speakers of `recipe.split` only."""
    if recipe.split not in STREAM_SPLITS:
        raise ValueError(f"split {recipe.split!r}: a stream is built from one of {STREAM_SPLITS}")
    rng = np.random.default_rng(recipe.seed)
    clips = [clip for clip in index_folder(data) if clip.split == recipe.split]
    commands = [clip for clip in clips if clip.label in COMMANDS]
    unknown = [clip for clip in clips if clip.label == UNKNOWN_LABEL]
    noises = [(path.name, read_wav(path)) for path in noise_files(noise_root)]
    if not commands or not unknown or not noises:
        raise ValueError(
            f"{data}: need {recipe.split}-split command and unknown clips and {noise_root}/"
            "_background_noise_/*.wav to build a stream"
        )
    length = int(recipe.minutes * 60 * SAMPLE_RATE)
    audio, segments = _background(rng, noises, length, recipe)
    truth = StreamTruth(asdict(recipe), duration_ms=length * 1000 // SAMPLE_RATE, noise=segments)
    progress = Progress("building stream", length)
    position = int(rng.uniform(*recipe.gap_seconds) * SAMPLE_RATE)
    while True:
        draw = rng.uniform()
        if draw < recipe.command_share:
            clip = commands[int(rng.integers(len(commands)))]
            kind, label, source, speech = "command", clip.label, clip.path, read_wav(clip.path)
        elif draw < recipe.command_share + recipe.unknown_share:
            clip = unknown[int(rng.integers(len(unknown)))]
            kind, label, source, speech = "unknown", None, clip.path, read_wav(clip.path)
        else:
            kind, label = "speech", None
            source, speech = _sentence(rng)
        voiced_start, voiced_end = voiced_span(speech)
        if position + len(speech) >= length:
            break
        snr = float(rng.choice(recipe.snr_db))
        local_noise = rms(audio[position : position + len(speech)])
        gain = local_noise * 10 ** (snr / 20) / max(rms(speech[voiced_start:voiced_end]), 1e-9)
        gain = min(gain, 0.9 / max(float(np.abs(speech).max()), 1e-9))
        audio[position : position + len(speech)] += gain * speech
        truth.events.append(
            Event(
                kind,
                label,
                str(source),
                (position + voiced_start) * 1000 // SAMPLE_RATE,
                (position + voiced_end) * 1000 // SAMPLE_RATE,
                snr,
            )
        )
        position += len(speech) + int(rng.uniform(*recipe.gap_seconds) * SAMPLE_RATE)
        progress(min(position, length))
    progress(length)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out.with_suffix(".wav"), np.clip(audio, -1.0, 32767 / 32768))
    truth.save(out.with_suffix(".json"))
    return truth
