"""From the model's int8 scores, one inference at a time, to command detections.

The arithmetic is integer only and the firmware's C++ (firmware/kws/src/recognizer.cpp) repeats
it exactly, so the board and the desktop report the same commands from the same scores:

- each score s becomes u = s + 128 (0..255); the last inferences whose age (now - t, modulo
  2**32) is below the averaging window are kept, at most MAX_HISTORY of them;
- with at least `minimum_count` of them, the label with the largest sum of u wins (the first on
  a tie); its score in thousandths is round-half-up(sum * 1000 / (count * 255));
- it is reported if it is not ignored (silence, unknown), reaches its threshold and no
  detection happened within the suppression time before (a detection is forgotten at the first
  inference that age or older, so 49.7 days later, when times wrap, it is not recent).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MAX_HISTORY = 64
MAX_LABELS = 16
DEFAULT_THRESHOLD = 0.8
TIME_MODULUS = 2**32
OUTPUT_ZERO_POINT = -128
"""The zero point of a softmax's int8 output (scale 1/256): the scores are read as s + 128."""


@dataclass(frozen=True)
class Recognition:
    """A heard command: `score` is 0..1 with three decimals (the wire value), `time_ms` the
    time of the inference that recognized it."""

    label: str
    score: float
    time_ms: int


NOT_COMMANDS = ("silence", "unknown")
"""Labels of a model that are never reported as commands."""


def command_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels of a model that are commands, in its order."""
    return tuple(label for label in labels if label not in NOT_COMMANDS)


def to_permille(score: float, what: str = "threshold") -> int:
    """A score from 0 to 1 as an integer in thousandths (rounded half up)."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number from 0 to 1, got {score!r}")
    return math.floor(value * 1000 + 0.5)


def window_averages(
    times_ms: np.ndarray, values: np.ndarray, window_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each inference (`times_ms`, ascending; a row of `values` each), its values averaged
    over the inferences younger than `window_ms` at its time, itself included, as `Recognizer`
    averages them (in floating point, and without its MAX_HISTORY), and how many inferences
    each average holds. For analyses of whole recordings: streams, the assistant's replies."""
    sums = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    first = np.searchsorted(times_ms, times_ms - window_ms, side="right")  # age below the window
    last = np.arange(1, len(times_ms) + 1)
    counts = last - first
    return (sums[last] - sums[first]) / counts[:, None], counts


class Recognizer:
    """Averages scores over a window, applies per-label thresholds and suppression, and never
    reports the ignored labels."""

    def __init__(
        self,
        labels: Sequence[str],
        thresholds: float | Mapping[str, float] = DEFAULT_THRESHOLD,
        average_window_ms: int = 1000,
        suppression_ms: int = 1500,
        minimum_count: int = 3,
        ignore: Sequence[str] = NOT_COMMANDS,
    ):
        self.labels = tuple(labels)
        if not 0 < len(self.labels) <= MAX_LABELS:
            raise ValueError(f"a recognizer takes 1 to {MAX_LABELS} labels, got {len(self.labels)}")
        for name, value in (
            ("average_window_ms", average_window_ms),
            ("suppression_ms", suppression_ms),
            ("minimum_count", minimum_count),
        ):
            if not isinstance(value, int) or not 0 <= value < TIME_MODULUS:
                raise ValueError(f"{name} must be an integer from 0 to 2**32-1, got {value!r}")
        self.average_window_ms = average_window_ms
        self.suppression_ms = suppression_ms
        self.minimum_count = minimum_count
        self._ignored = frozenset(label for label in ignore if label in self.labels)
        if isinstance(thresholds, Mapping):
            self._thresholds = {label: to_permille(DEFAULT_THRESHOLD) for label in self.labels}
            for label, score in thresholds.items():
                self.set_threshold(label, score)
        else:
            self._thresholds = dict.fromkeys(self.labels, to_permille(thresholds))
        # (time_ms, scores + 128) of the latest inferences; the oldest goes when it is full.
        self._history: deque[tuple[int, np.ndarray]] = deque(maxlen=MAX_HISTORY)
        self._last_detection_ms: int | None = None

    @property
    def commands(self) -> tuple[str, ...]:
        """The labels this recognizer can report (all but the ignored ones)."""
        return tuple(label for label in self.labels if label not in self._ignored)

    @property
    def thresholds(self) -> dict[str, float]:
        """The threshold of each reportable label."""
        return {label: self._thresholds[label] / 1000 for label in self.commands}

    def set_threshold(self, label: str, score: float) -> None:
        """Change one label's threshold (0..1); ValueError for a label it cannot report."""
        if label not in self.commands:
            raise ValueError(
                f"no threshold for {label!r}: the labels that can be reported are "
                f"{', '.join(self.commands)}"
            )
        self._thresholds[label] = to_permille(score)

    def process(self, scores: Sequence[int] | np.ndarray, time_ms: int) -> Recognition | None:
        """scores: the model's int8 outputs for one inference at time_ms."""
        values = np.asarray(scores).reshape(-1)
        if values.shape != (len(self.labels),):
            raise ValueError(f"expected {len(self.labels)} scores, got {values.size}")
        if not np.issubdtype(values.dtype, np.integer) or values.min() < -128 or values.max() > 127:
            raise ValueError("scores must be the model's int8 outputs (integers -128..127)")
        now = int(time_ms)
        if not self._suppressed(now):
            self._last_detection_ms = None  # over: times wrap, so it would seem recent again
        self._history.append((now, values.astype(np.int64) - OUTPUT_ZERO_POINT))
        self._forget_older_than_window(now)
        count = len(self._history)
        if count < self.minimum_count:
            return None
        sums = self._sums()
        best = int(np.argmax(sums))
        label = self.labels[best]
        permille = _permille(int(sums[best]), count)
        if label in self._ignored or permille < self._thresholds[label]:
            return None
        if self._suppressed(now):
            return None
        self._last_detection_ms = now
        return Recognition(label, permille / 1000, now)

    def averages(self) -> dict[str, float]:
        """Each reportable label's score (0 to 1) averaged over the inferences `process` keeps
        now, as it compares them with the thresholds; empty before the first inference."""
        if not self._history:
            return {}
        sums, count = self._sums(), len(self._history)
        return {
            label: _permille(int(total), count) / 1000
            for label, total in zip(self.labels, sums, strict=True)
            if label not in self._ignored
        }

    def peak_ms(self, label: str) -> int:
        """The time of the inference, among those `process` keeps now (call it after one), that
        scored `label` highest, the middle one of equals (the later of two: a clear word often
        scores the most in several windows in a row): the window that holds the word best."""
        column = self.labels.index(label)
        best = max(scores[column] for _, scores in self._history)
        peaks = [time_ms for time_ms, scores in self._history if scores[column] == best]
        return peaks[len(peaks) // 2]

    def _sums(self) -> np.ndarray:
        """The sum of each label's u over the inferences kept."""
        return np.sum([scores for _, scores in self._history], axis=0)

    @staticmethod
    def _elapsed(then: int, now: int) -> int:
        return (now - then) % TIME_MODULUS

    def _suppressed(self, now: int) -> bool:
        last = self._last_detection_ms
        return last is not None and self._elapsed(last, now) < self.suppression_ms

    def _forget_older_than_window(self, now: int) -> None:
        kept = [
            entry
            for entry in self._history
            if self._elapsed(entry[0], now) < self.average_window_ms
        ]
        self._history = deque(kept, maxlen=MAX_HISTORY)


def _permille(total: int, count: int) -> int:
    """A sum of `count` values of u (0..255) as their mean in thousandths of 255, rounded half
    up."""
    return (total * 2000 + count * 255) // (count * 510)
