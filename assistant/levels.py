"""The level of some audio as the microphone check and the recorder show it: peak and RMS in
dBFS, and whether it clips or is too quiet for speech."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.acoustics import rms

FULL_SCALE = 32768
FLOOR_DBFS = -96.0
"""The level shown for digital silence (16-bit audio's floor)."""
CLIPPING_DBFS = -1.0
"""A peak at or above this is taken for clipping."""
QUIET_DBFS = -30.0
"""A peak below this is quiet for speech said at a desk."""


def dbfs(value: float) -> float:
    """An int16 amplitude in dB relative to full scale, FLOOR_DBFS at least."""
    return max(FLOOR_DBFS, 20 * math.log10(value / FULL_SCALE)) if value > 0 else FLOOR_DBFS


@dataclass(frozen=True)
class Level:
    """The peak and RMS level of some audio, in dBFS."""

    peak: float
    rms: float

    @classmethod
    def of(cls, samples: np.ndarray) -> Level:
        peak = float(np.abs(samples.astype(np.float64)).max(initial=0))
        return cls(dbfs(peak), dbfs(rms(samples)))

    @property
    def hint(self) -> str:
        """What the level says about the input's gain."""
        if self.peak >= CLIPPING_DBFS:
            return "CLIPPING: turn the input gain down"
        if self.peak < QUIET_DBFS:
            return f"quiet (speech should peak above {QUIET_DBFS:g} dBFS)"
        return "loud enough for speech"

    @property
    def figures(self) -> str:
        """The peak and RMS, without what they say about speech."""
        return f"peak {self.peak:6.1f} dBFS, RMS {self.rms:6.1f} dBFS"

    def __str__(self) -> str:
        return f"{self.figures}, {self.hint}"
