"""A microphone read in the device's own format (its rate, its channels) as the pipeline hears
it: 16 kHz mono int16 blocks. Channels are mixed to mono (their mean), then a rate other than
16 kHz is resampled (`assistant/resample.py`). A device that records 16 kHz mono never passes
here."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from assistant.features import SAMPLE_RATE


class Feeder(Protocol):
    """A streaming resampler (`assistant.resample.Resampler`)."""

    rate: int

    def feed(self, samples: np.ndarray, last: bool = False) -> np.ndarray: ...


def mixed(frames: np.ndarray) -> np.ndarray:
    """The mean of the channels of int16 `frames` (shape (frames, channels)), as int16 mono:
    summed exactly in int32 (no overflow below 65536 channels), then divided rounding to the
    nearest integer, halves up (floor((sum + channels // 2) / channels)). The mean of int16
    values is within int16's range, so nothing is clipped."""
    channels = frames.shape[1]
    total = frames.astype(np.int32).sum(axis=1)
    return ((total + channels // 2) // channels).astype(np.int16)


class DeviceInput:
    """A sounddevice input stream opened in the device's format, read as 16 kHz mono:
    `read(frames)` gives `frames` samples (an int16 array of shape (frames, 1), and whether the
    input overflowed meanwhile), as the stream's own `read` does in its format. With a
    `resampler` (the device's rate is not 16 kHz) it reads the device only as much as those
    frames need (at least 10 ms at a time), so it adds no more delay than the filter's own
    (about 20 ms)."""

    def __init__(self, stream: Any, resampler: Feeder | None = None):
        self.stream = stream
        self._resampler = resampler
        self._rate = resampler.rate if resampler else SAMPLE_RATE
        self._least = max(1, self._rate // 100)
        self._ready = np.zeros(0, np.int16)

    def __enter__(self) -> DeviceInput:
        self.stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self.stream.__exit__(*exc)

    @property
    def read_available(self) -> int:
        """The 16 kHz frames a read can give without waiting, as the stream's own
        `read_available` (fewer when the resampler's output lags its input): a read of more
        waits for the device."""
        return len(self._ready) + self.stream.read_available * SAMPLE_RATE // self._rate

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        overflowed = False
        pieces = [self._ready]
        ready = len(self._ready)
        while ready < frames:
            wanted = math.ceil((frames - ready) * self._rate / SAMPLE_RATE)
            data, lost = self.stream.read(max(wanted, self._least))
            overflowed = overflowed or bool(lost)
            mono = mixed(data)
            pieces.append(self._resampler.feed(mono) if self._resampler else mono)
            ready += len(pieces[-1])
        audio = np.concatenate(pieces)
        self._ready = audio[frames:]
        return audio[:frames].reshape(-1, 1), overflowed
