"""One recorded take of a word: where the word is (by energy), whether it can be kept (heard
above the room's noise, not clipped, not cut off by the recording's start or end, at most one
second long), and the one second centred on it that a clip of the Speech Commands layout holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.acoustics import frame_energy
from assistant.levels import CLIPPING_DBFS, Level, dbfs
from model_training.settings import CLIP_SAMPLES, SAMPLE_RATE

FRAME = SAMPLE_RATE // 100
"""Energy is measured in 10 ms frames."""
NOISE_PERCENTILE = 10
"""The room's noise level: this percentile of the frames' levels (a word fills less of the
recording than that)."""
MIN_SNR_DB = 15.0
"""A word is heard when its loudest frame is this far above the room's noise."""
WORD_DB = 10.0
"""A frame belongs to the word when it is this far above the noise..."""
WORD_RANGE_DB = 40.0
"""...and no further than this below the word's loudest frame."""
MAX_GAP_FRAMES = 15
"""Quieter frames within a word (the closure before the p of "stop") join its parts when no more
than this many (150 ms) in a row; a sound further from the word (a key's click) is not part of
it."""


@dataclass(frozen=True)
class Take:
    level: Level
    clip: np.ndarray | None
    """The second of int16 samples centred on the word; None when the take is refused."""
    problem: str | None
    """Why the take is refused, with what to do; None when it is kept."""


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """The RMS level of each whole 10 ms frame of int16 `samples`, in dBFS."""
    energy = frame_energy(samples.astype(np.float64), FRAME)
    return np.array([dbfs(value) for value in np.sqrt(energy)])


def word_span(levels: np.ndarray, threshold: float) -> tuple[int, int]:
    """(first, last + 1) frame of the word: of the runs of frames at or above `threshold`
    (joined across quieter stretches of up to MAX_GAP_FRAMES), the one of most energy (a click
    may be louder, never longer).

    Not the training's `examples.voiced_span` (first to last frame near a clean clip's loudest)
    nor `synth.trim` (a synthesized word's silence cut off): a take is a live recording, so the
    word is found above the room's noise, and a key's click or a breath apart from it is left
    out rather than spanned."""
    loud = np.flatnonzero(levels >= threshold)
    runs = np.split(loud, np.flatnonzero(np.diff(loud) > MAX_GAP_FRAMES + 1) + 1)
    word = max(runs, key=lambda run: float(np.sum(10 ** (levels[run] / 10))))
    return int(word[0]), int(word[-1]) + 1


def take_of(samples: np.ndarray) -> Take:
    """The take of a word in int16 `samples` (more than one second of them)."""
    level = Level.of(samples)
    if level.peak >= CLIPPING_DBFS:
        return _refused(
            level,
            f"clipped (peak {level.peak:.1f} dBFS): turn the input gain down or speak further "
            "from the microphone",
        )
    levels = frame_levels(samples)
    noise, loudest = float(np.percentile(levels, NOISE_PERCENTILE)), float(levels.max())
    if loudest - noise < MIN_SNR_DB:
        return _refused(
            level,
            f"no word heard (the loudest moment is {loudest - noise:.0f} dB above the room's "
            f"noise, {MIN_SNR_DB:g} dB needed): speak louder or nearer the microphone",
        )
    first, end = word_span(levels, max(noise + WORD_DB, loudest - WORD_RANGE_DB))
    if first == 0:
        return _refused(level, "the word began before the recording did: press Enter first")
    if end == len(levels):
        return _refused(
            level,
            "the word ran past the end of the recording: say it right after pressing Enter "
            "(or record longer with --window)",
        )
    if (end - first) * FRAME > CLIP_SAMPLES:
        seconds = (end - first) * FRAME / SAMPLE_RATE
        return _refused(
            level,
            f"{seconds:.1f} s of sound, longer than a clip's second: say the word once, a "
            "little quicker",
        )
    centre = (first + end) * FRAME // 2
    start = min(max(centre - CLIP_SAMPLES // 2, 0), len(samples) - CLIP_SAMPLES)
    return Take(level, samples[start : start + CLIP_SAMPLES].copy(), None)


def _refused(level: Level, problem: str) -> Take:
    return Take(level, None, problem)
