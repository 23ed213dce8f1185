"""Audio at another sample rate made 16 kHz with soxr's streaming resampler (python-soxr): a
microphone that records only its own rate (44.1 or 48 kHz), or a WAV file at such a rate. The
filter's state is kept from one piece to the next, so pieces of any size give the audio that
resampling it whole gives, without clicks where they meet. Audio already at 16 kHz never passes
here: the frontend hears exactly what it would have heard."""

from __future__ import annotations

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
