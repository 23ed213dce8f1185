"""Training and evaluation examples: clips rendered as the board hears them, then featurized.

The board's frontend never resets: its noise estimate and PCAN gain have adapted to the room
before a word arrives. So a training example is a clip placed at the end of 0.5-2 s of running
background noise (a share starts from a fresh frontend, as the first second after power-up), and
only the last 49 frames are kept. Partial words (the head or tail of a word crossing the one-second
window, as in a stream every 100 ms) and one-second cuts of running speech are labelled unknown.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.acoustics import frame_energy, rms
from assistant.features import CHANNELS
from model_training.dataset import Clip, fit_clip, read_wav
from model_training.frontend import microfrontend, to_int16
from model_training.progress import Progress
from model_training.settings import (
    CLIP_SAMPLES,
    COMMANDS,
    LABELS,
    SAMPLE_RATE,
    SILENCE_LABEL,
    SLICES,
    UNKNOWN_LABEL,
)
from model_training.synth import SPEECH_FOLDER


@dataclass(frozen=True)
class Recipe:
    """How many training examples of each kind, and how they are augmented."""

    per_command: int = 4500
    unknown_words: int = 6000
    partial_words: int = 3600
    running_speech: int = 1800
    silence: int = 3000
    prefix_seconds: tuple[float, float] = (0.5, 2.0)
    fresh_share: float = 0.15
    # In a stream the window passes over every word at every position, 100 ms apart: this share
    # of the spoken examples has the word's voiced part anywhere in the window, `margin_ms` clear
    # of both edges; the others keep the clip's own position, shifted by up to `shift_ms`.
    anywhere_share: float = 0.5
    margin_ms: int = 50
    shift_ms: int = 100
    gain_db: tuple[float, float] = (-10.0, 4.0)
    noise_probability: float = 0.8
    # Noise under spoken examples, as signal-to-noise ratio over the word's voiced part.
    snr_db: tuple[float, float] = (0.0, 25.0)
    # Silence examples: noise at this share of a recording's own volume.
    silence_noise_probability: float = 0.9
    noise_gain: tuple[float, float] = (0.0, 1.0)
    partial_fraction: tuple[float, float] = (0.15, 0.5)
    # Other words that sound like a command ("no" and "go") get this share of the unknown words.
    confusable_words: tuple[str, ...] = ("no", "so", "know", "toe", "dog", "cup", "top", "of")
    confusable_share: float = 0.35

    def scaled(self, share: float) -> Recipe:
        """The same recipe with `share` of every example count (at least one each)."""
        counts = ("per_command", "unknown_words", "partial_words", "running_speech", "silence")
        return replace(
            self, **{name: max(1, round(getattr(self, name) * share)) for name in counts}
        )


@dataclass
class Examples:
    """Featurized examples and their labels."""

    features: np.ndarray  # uint16 (n, SLICES, channels): the frontend's output
    labels: np.ndarray  # int32 index into LABELS


class ClipStore:
    """Clip audio read once and kept (one second, padded) for repeated rendering."""

    def __init__(self) -> None:
        self._audio: dict[str, np.ndarray] = {}

    def get(self, path: str, keep_length: bool = False) -> np.ndarray:
        if path not in self._audio:
            audio = read_wav(path)
            self._audio[path] = audio if keep_length else fit_clip(audio)
        return self._audio[path]


def voiced_span(audio: np.ndarray, frame: int = 160, threshold: float = 0.1) -> tuple[int, int]:
    """(start, end) sample of the loud part of a clip: frames above `threshold` of peak energy.

    The voiced core of a clip of the data set (cut and levelled already), from its first loud
    frame to its last: where the recipe places the word and what its speech level is measured
    on. Not `synth.trim` (which keeps a synthesized word's faint edges, to the sample) nor the
    recorder's `takes.word_span` (a word in a live recording, found above the room's noise):
    changing it changes every training example."""
    energy = frame_energy(audio, frame)
    loud = np.flatnonzero(energy > threshold * max(energy.max(), 1e-12))
    if not loud.size:
        return 0, len(audio)
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)


def noise_floor(rng: np.random.Generator, length: int) -> np.ndarray:
    """A faint white-noise floor (-90 to -60 dBFS), as a real microphone never gives zeros."""
    return rng.normal(0.0, 10 ** rng.uniform(-4.5, -3.0), length).astype(np.float32)


def looped_noise(
    rng: np.random.Generator, noises: Sequence[np.ndarray], length: int
) -> np.ndarray | None:
    """`length` samples of a random background recording, looped from a random start."""
    if not noises:
        return None
    noise = noises[int(rng.integers(len(noises)))]
    start = int(rng.integers(len(noise)))
    return np.resize(np.roll(noise, -start), length)


def featurize(audio: np.ndarray) -> np.ndarray:
    """The frontend's last SLICES frames for audio whose last second is the window."""
    features = microfrontend(to_int16(audio))
    if len(features) < SLICES:
        raise ValueError(f"need at least one second of audio, got {len(audio)} samples")
    return features[-SLICES:]


def _prefix(rng: np.random.Generator, recipe: Recipe) -> int:
    """Samples of running audio before the window (none: a fresh frontend, as after power-up)."""
    if rng.random() < recipe.fresh_share:
        return 0
    return int(rng.uniform(*recipe.prefix_seconds) * SAMPLE_RATE)


def placement(rng: np.random.Generator, clip: np.ndarray, recipe: Recipe) -> int:
    """A clip offset: its voiced part anywhere in the window, clear of both edges (in
    `recipe.anywhere_share` of the examples), else the clip's own position randomly shifted."""
    shift = recipe.shift_ms * SAMPLE_RATE // 1000
    if rng.random() >= recipe.anywhere_share:
        return int(rng.integers(-shift, shift + 1))
    begin, end = voiced_span(clip)
    margin = recipe.margin_ms * SAMPLE_RATE // 1000
    lo, hi = margin - begin, CLIP_SAMPLES - margin - end
    if hi < lo:  # longer than the window allows: centred
        return (lo + hi) // 2
    return int(rng.integers(lo, hi + 1))


def render(
    rng: np.random.Generator,
    clip: np.ndarray,
    noises: Sequence[np.ndarray],
    recipe: Recipe,
    offset: int | None = None,
) -> np.ndarray:
    """Audio ending with the one-second window: running noise, then `clip` mixed in.

    `offset` is where the clip starts relative to the window start (default: its voiced part
    placed at random, see `placement`); parts of the clip outside the window are cut. The noise
    is at a random SNR from `recipe.snr_db` over the clip's voiced part (the whole clip's, also
    when only part of it is in the window).
    """
    prefix = _prefix(rng, recipe)
    length = prefix + CLIP_SAMPLES
    audio = noise_floor(rng, length)
    level = 10 ** (rng.uniform(*recipe.gain_db) / 20)
    begin, end = voiced_span(clip)
    speech_rms = level * rms(clip[begin:end])
    noise = looped_noise(rng, noises, length)
    if noise is not None and speech_rms > 0 and rng.random() < recipe.noise_probability:
        snr = rng.uniform(*recipe.snr_db)
        audio += noise * (speech_rms / 10 ** (snr / 20) / max(rms(noise[prefix:]), 1e-9))
    if offset is None:
        offset = placement(rng, clip, recipe)
    start = prefix + offset
    lo, hi = max(start, 0), min(start + len(clip), length)
    if hi > lo:
        audio[lo:hi] += level * clip[lo - start : hi - start]
    return audio


def render_silence(
    rng: np.random.Generator, noises: Sequence[np.ndarray], recipe: Recipe
) -> np.ndarray:
    """Audio ending with a window of background noise only, up to a recording's full volume."""
    length = _prefix(rng, recipe) + CLIP_SAMPLES
    audio = noise_floor(rng, length)
    noise = looped_noise(rng, noises, length)
    if noise is not None and rng.random() < recipe.silence_noise_probability:
        audio += rng.uniform(*recipe.noise_gain) * noise
    return audio


def partial_offset(rng: np.random.Generator, clip: np.ndarray, recipe: Recipe) -> int:
    """A clip offset that leaves only the head or the tail of its word inside the window."""
    begin, end = voiced_span(clip)
    visible = int(rng.uniform(*recipe.partial_fraction) * (end - begin))
    if rng.random() < 0.5:
        return CLIP_SAMPLES - begin - visible  # only the head: the word runs past the window
    return -(end - visible)  # only the tail: the word started before the window


def _cycle(rng: np.random.Generator, items: Sequence, count: int) -> list:
    """`count` items, every item used as evenly as possible, in random order."""
    if not items:
        return []
    picks = []
    while len(picks) < count:
        picks.extend(rng.permutation(len(items)).tolist())
    return [items[i] for i in picks[:count]]


def spoken_word(clip: Clip) -> str:
    """The word said in a clip (in `_unknown_/` the file name starts with it)."""
    if clip.word.startswith("_"):
        return Path(clip.path).name.split("_", 1)[0]
    return clip.word


def training_plan(
    clips: Sequence[Clip], recipe: Recipe, rng: np.random.Generator
) -> list[tuple[Clip | None, str, str]]:
    """(clip or None, label, kind) for every training example; kind is how `render_planned`
    renders it: word, partial, speech or noise."""
    by_label: dict[str, list[Clip]] = defaultdict(list)
    speech = []
    for clip in clips:
        if clip.word == SPEECH_FOLDER:
            speech.append(clip)
        else:
            by_label[clip.label].append(clip)
    plan = []
    for command in COMMANDS:
        plan += [(c, command, "word") for c in _cycle(rng, by_label[command], recipe.per_command)]
    confusable = [c for c in by_label[UNKNOWN_LABEL] if spoken_word(c) in recipe.confusable_words]
    others = [c for c in by_label[UNKNOWN_LABEL] if spoken_word(c) not in recipe.confusable_words]
    hard = round(recipe.unknown_words * recipe.confusable_share) if confusable and others else 0
    hard = recipe.unknown_words if not others else hard
    plan += [(c, UNKNOWN_LABEL, "word") for c in _cycle(rng, confusable, hard)]
    plan += [(c, UNKNOWN_LABEL, "word") for c in _cycle(rng, others, recipe.unknown_words - hard)]
    spoken = [c for label in (*COMMANDS, UNKNOWN_LABEL) for c in by_label[label]]
    plan += [(c, UNKNOWN_LABEL, "partial") for c in _cycle(rng, spoken, recipe.partial_words)]
    plan += [(c, UNKNOWN_LABEL, "speech") for c in _cycle(rng, speech, recipe.running_speech)]
    silent = recipe.silence // 2 if by_label[SILENCE_LABEL] else 0
    plan += [(c, SILENCE_LABEL, "word") for c in _cycle(rng, by_label[SILENCE_LABEL], silent)]
    plan += [(None, SILENCE_LABEL, "noise")] * (recipe.silence - silent)
    return plan


def render_planned(
    rng: np.random.Generator,
    clip: Clip | None,
    kind: str,
    store: ClipStore,
    noises: Sequence[np.ndarray],
    recipe: Recipe,
) -> np.ndarray:
    """The audio of one planned example (see `training_plan`) of `kind`."""
    if kind == "noise":
        return render_silence(rng, noises, recipe)
    if kind == "speech":
        audio = store.get(clip.path, keep_length=True)
        start = int(rng.integers(max(len(audio) - CLIP_SAMPLES, 0) + 1))
        return render(rng, fit_clip(audio[start:]), noises, recipe, offset=0)
    audio = store.get(clip.path)
    if kind == "partial":
        return render(rng, audio, noises, recipe, offset=partial_offset(rng, audio, recipe))
    return render(rng, audio, noises, recipe)


def build_training(
    clips: Sequence[Clip], noises: Sequence[np.ndarray], recipe: Recipe, seed: int
) -> Examples:
    """The augmented training examples of `recipe`, rendered as the board hears them."""
    rng = np.random.default_rng(seed)
    plan = training_plan(clips, recipe, rng)
    store = ClipStore()
    features = np.zeros((len(plan), SLICES, CHANNELS), np.uint16)
    progress = Progress("training features", len(plan))
    for i, (clip, _, kind) in enumerate(plan):
        features[i] = featurize(render_planned(rng, clip, kind, store, noises, recipe))
        progress(i + 1)
    labels = np.array([LABELS.index(label) for _, label, _ in plan], np.int32)
    return Examples(features, labels)


def build_clean(
    clips: Sequence[Clip], what: str = "clip features", labels: Sequence[str] | None = None
) -> Examples:
    """Each clip as it is (one second, padded), through a fresh frontend: clip accuracy.
    The labels are indices into `labels` (default: the settings' LABELS)."""
    labels = list(LABELS if labels is None else labels)
    features = np.zeros((len(clips), SLICES, CHANNELS), np.uint16)
    progress = Progress(what, len(clips))
    for i, clip in enumerate(clips):
        features[i] = featurize(fit_clip(read_wav(clip.path)))
        progress(i + 1)
    return Examples(features, np.array([labels.index(c.label) for c in clips], np.int32))


def cache_key(*parts: object) -> str:
    """A short hash of `parts` (as JSON), naming a cache file."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def cached(path: Path, build: Callable[[], Examples]) -> Examples:
    """Load examples from `path` (npz) or build and save them."""
    if path.exists():
        with np.load(path) as data:
            return Examples(data["features"], data["labels"])
    examples = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=examples.features, labels=examples.labels)
    tmp.replace(path)
    return examples
