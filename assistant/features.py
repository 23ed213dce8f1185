"""The feature contract between training, the desktop and the board.

The audio frontend (TFLite Micro's microfrontend: 30 ms window, 20 ms stride, 40 channels, noise
reduction, PCAN, log) turns audio into uint16 values. The model's int8 input is derived from them
with integer arithmetic only, so that Python and the firmware's C++ agree bit for bit:

    int8 = clamp(((value * input_multiplier + 2**(INPUT_SHIFT-1)) >> INPUT_SHIFT) + zero_point)

`input_multiplier` is `round(feature_scale / input_scale * 2**INPUT_SHIFT)`, where
`feature_scale` turns the frontend's uint16 into the float features the model was trained on and
`input_scale`/`input_zero_point` are the int8 model's input quantization. The model card (JSON)
written by `model_training export` holds all of them; the firmware's generated header holds the
same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

INPUT_SHIFT = 16

SAMPLE_RATE = 16000
WINDOW_MS = 30
STRIDE_MS = 20
CHANNELS = 40

# The microfrontend's parameters (the micro_speech firmware defaults), named as the arguments of
# TensorFlow's `audio_microfrontend` op. Training, the desktop frontend, the model card and the
# firmware's generated header all read them from here.
FRONTEND_PARAMS = MappingProxyType(
    {
        "sample_rate": SAMPLE_RATE,
        "window_size": WINDOW_MS,
        "window_step": STRIDE_MS,
        "num_channels": CHANNELS,
        "upper_band_limit": 7500.0,
        "lower_band_limit": 125.0,
        "smoothing_bits": 10,
        "even_smoothing": 0.025,
        "odd_smoothing": 0.06,
        "min_signal_remaining": 0.05,
        "enable_pcan": True,
        "pcan_strength": 0.95,
        "pcan_offset": 80.0,
        "gain_bits": 21,
        "enable_log": True,
        "scale_shift": 6,
        "out_scale": 1,
        "out_type": "uint16",
    }
)


def input_multiplier(feature_scale: float, input_scale: float) -> int:
    """The integer multiplier for `to_int8`, from the two float scales."""
    return round(feature_scale / input_scale * 2**INPUT_SHIFT)


@dataclass(frozen=True)
class FeatureContract:
    """What a model expects as input and gives as output (read from its model card)."""

    labels: tuple[str, ...]
    feature_scale: float
    input_scale: float
    input_zero_point: int
    slices: int = 49
    channels: int = CHANNELS
    window_ms: int = WINDOW_MS
    stride_ms: int = STRIDE_MS
    sample_rate: int = SAMPLE_RATE
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """The card's threshold of each command it names (`thresholds`); `from_card` reads
    them as written, assistant/model_files.py `load_contract` checks them against the labels."""

    @property
    def input_multiplier(self) -> int:
        return input_multiplier(self.feature_scale, self.input_scale)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> FeatureContract:
        """The contract a model card's fields (as its JSON file holds them) give."""
        fields = {name: card[name] for name in ("labels", "feature_scale", "input_scale")}
        optional = ("slices", "channels", "window_ms", "stride_ms", "sample_rate")
        fields.update({name: card[name] for name in optional if name in card})
        thresholds = card.get("thresholds")
        return cls(
            input_zero_point=int(card["input_zero_point"]),
            thresholds={} if thresholds is None else thresholds,
            **{**fields, "labels": tuple(card["labels"])},
        )

    @cached_property
    def int8_table(self) -> np.ndarray:
        """`to_int8` of every uint16 value: a lookup that replaces the arithmetic."""
        return to_int8(np.arange(0x10000), self.input_multiplier, self.input_zero_point)

    def to_int8(self, frontend_output: np.ndarray) -> np.ndarray:
        """Frontend uint16 values (any shape) to the model's int8 input, exactly as the board."""
        values = np.asarray(frontend_output)
        if values.dtype == np.uint16:
            return np.take(self.int8_table, values)
        return to_int8(values, self.input_multiplier, self.input_zero_point)


def to_int8(frontend_output: np.ndarray, multiplier: int, zero_point: int) -> np.ndarray:
    """The integer feature-to-int8 conversion that the firmware's C++ repeats."""
    values = np.asarray(frontend_output, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() > 0xFFFF):
        raise ValueError("frontend output must be uint16")
    scaled = (values * multiplier + (1 << (INPUT_SHIFT - 1))) >> INPUT_SHIFT
    return np.clip(scaled + zero_point, -128, 127).astype(np.int8)
