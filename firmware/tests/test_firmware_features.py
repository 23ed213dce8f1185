"""C++ to_int8 (firmware/kws/src/feature_window.h) equals assistant.features.to_int8 bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.features import input_multiplier, to_int8

ALL_UINT16 = np.arange(65536, dtype=np.uint16)


@pytest.mark.parametrize(
    ("multiplier", "zero_point"),
    [
        (input_multiplier(10 / 256, 0.1), -128),  # a typical micro_speech-style quantization
        (input_multiplier(10 / 256, 0.0975), -93),
        (1 << 16, 0),  # identity: saturates above 127
        (1, 127),  # rounds everything to 0 or 1
        (2**31 - 1, -128),  # largest multiplier: needs 64-bit products
        (-25600, 5),  # a negative scale still floors like numpy
        (32767, -1),  # exact .5 cases round half up
    ],
)
def test_to_int8_matches_python_for_every_uint16(host_tool, multiplier, zero_point):
    cpp = np.frombuffer(host_tool.raw("to_int8", str(multiplier), str(zero_point)), np.int8)
    python = to_int8(ALL_UINT16, multiplier, zero_point)
    assert cpp.shape == (65536,)
    mismatches = np.flatnonzero(cpp != python)
    assert mismatches.size == 0, f"first mismatch at value {mismatches[:1]}"
