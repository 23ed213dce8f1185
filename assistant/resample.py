"""Audio at another sample rate made 16 kHz with soxr's streaming resampler (python-soxr): a
microphone that records only its own rate (44.1 or 48 kHz), or a WAV file at such a rate. The
filter's state is kept from one piece to the next, so pieces of any size give the audio that
resampling it whole gives, without clicks where they meet. Audio already at 16 kHz never passes
here: the frontend hears exactly what it would have heard."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import soxr

from assistant.features import SAMPLE_RATE


class Resampler:
    """int16 mono audio at `rate` made `out_rate`, piece by piece."""

    def __init__(self, rate: int, out_rate: int = SAMPLE_RATE):
        self.rate = rate
        self._stream = soxr.ResampleStream(rate, out_rate, 1, dtype="int16")

    def feed(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """The samples at `out_rate` that `samples` (following those fed before) make ready; `last`
        gives the rest too (the end of the audio)."""
        piece = np.ascontiguousarray(np.asarray(samples, dtype=np.int16).reshape(-1))
        return self._stream.resample_chunk(piece, last=last)


def resampled(samples: np.ndarray, rate: int, out_rate: int = SAMPLE_RATE) -> np.ndarray:
    """All of `samples` (int16 mono at `rate`) at `out_rate`."""
    return Resampler(rate, out_rate).feed(samples, last=True)


class ResampledInput:
    """A sounddevice input stream opened at `rate`, read as 16 kHz: `read(frames)` gives
    `frames` samples at 16 kHz (an int16 array of shape (frames, 1), and whether the input
    overflowed meanwhile), as the stream's own `read` does at its rate. It reads the device
    only as much as those frames need (at least 10 ms at a time), so it adds no more delay than
    the filter's own (about 20 ms)."""

    def __init__(self, stream: Any, rate: int):
        self.stream = stream
        self._resampler = Resampler(rate)
        self._least = max(1, rate // 100)
        self._ready = np.zeros(0, np.int16)

    def __enter__(self) -> ResampledInput:
        self.stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self.stream.__exit__(*exc)

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        overflowed = False
        pieces = [self._ready]
        ready = len(self._ready)
        while ready < frames:
            wanted = math.ceil((frames - ready) * self._resampler.rate / SAMPLE_RATE)
            data, lost = self.stream.read(max(wanted, self._least))
            overflowed = overflowed or bool(lost)
            pieces.append(self._resampler.feed(data))
            ready += len(pieces[-1])
        audio = np.concatenate(pieces)
        self._ready = audio[frames:]
        return audio[:frames].reshape(-1, 1), overflowed
