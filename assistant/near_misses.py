"""Near misses (`microphone.keep_near_misses`): commands the desktop's recognizer scored close
to their threshold but did not report, found from the averages it compares with its thresholds
after each inference. The recognizer itself is not changed: it stays the board's twin.

A near miss starts when a command's average reaches the bar, and ends when every command's
average is below the bar again, or once the inference that scored it best has left the average
(its clip is still in the audio kept then); its command and score are those of the highest
average meanwhile. It is no near miss when an average meanwhile reached its command's threshold
(a command heard, or held back by the quiet time after one): nothing is kept of it until every
average is below the bar again.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.recognizer import TIME_MODULUS, Recognizer


@dataclass(frozen=True)
class NearMiss:
    """A command scored `score` (below its `threshold`, 0..1 with three decimals) at best;
    `peak_ms` is the time of the inference, in that average, that scored it highest: its
    window holds the word best (`Recognizer.peak_ms`)."""

    label: str
    score: float
    peak_ms: int
    threshold: float


class NearMissWatch:
    """Watches a recognizer's averages for near misses of `bar` (0 to 1)."""

    def __init__(self, bar: float):
        self.bar = bar
        self._best: NearMiss | None = None
        self._done = False
        """A threshold was reached, or the near miss was reported: none until below the bar."""

    def observe(self, recognizer: Recognizer, time_ms: int) -> NearMiss | None:
        """After `recognizer.process` at `time_ms`: the near miss that ends there, if any."""
        averages = recognizer.averages()
        label = max(averages, key=averages.__getitem__, default=None)
        if label is None or averages[label] < self.bar:
            found = None if self._done else self._best
            self._best, self._done = None, False
            return found
        if self._done:
            return None
        if averages[label] >= recognizer.thresholds[label]:
            self._best, self._done = None, True
            return None
        if self._best is None or averages[label] > self._best.score:
            threshold = recognizer.thresholds[label]
            self._best = NearMiss(label, averages[label], recognizer.peak_ms(label), threshold)
        elif (time_ms - self._best.peak_ms) % TIME_MODULUS >= recognizer.average_window_ms:
            found, self._best, self._done = self._best, None, True
            return found
        return None
