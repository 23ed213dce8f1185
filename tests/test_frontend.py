"""The desktop frontend against the board's C frontend (TensorFlow's microfrontend op)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from assistant.features import FRONTEND_PARAMS
from assistant.frontend import Frontend

SAMPLE_RATE = 16000
ODD_CHUNKS = (1, 7, 479, 480, 481, 319, 320, 321, 1000, 3, 4097, 160)


def _speech(text: str) -> np.ndarray:
    from model_training.frontend import to_int16
    from model_training.synth import espeak_available, speak

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return to_int16(speak(text, "en", 50, 150) * 0.6)


def _streamed(samples: np.ndarray, params=FRONTEND_PARAMS) -> np.ndarray:
    """Features from feeding `samples` in chunks of awkward sizes."""
    frontend = Frontend(params)
    parts, position, turn = [], 0, 0
    while position < len(samples):
        size = ODD_CHUNKS[turn % len(ODD_CHUNKS)]
        parts.append(frontend.process(samples[position : position + size]))
        position, turn = position + size, turn + 1
    return np.concatenate(parts)


def _test_audio() -> np.ndarray:
    """Noise, tones, speech, silence and full-scale extremes, one after the other."""
    rng = np.random.default_rng(7)
    second = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sweep = 0.3 * np.sin(2 * np.pi * (200 + 3000 * second) * second)
    parts = [
        rng.normal(0, 0.05, SAMPLE_RATE),
        0.25 * np.sin(2 * np.pi * 440 * second) + 0.1 * np.sin(2 * np.pi * 3100 * second),
        sweep,
        np.zeros(SAMPLE_RATE // 2),
        rng.normal(0, 0.0005, SAMPLE_RATE // 2),
    ]
    from model_training.frontend import to_int16

    audio = [to_int16(part) for part in parts]
    audio.append(_speech("turn the lights on, then stop the music and go"))
    square = np.where((np.arange(SAMPLE_RATE // 2) // 20) % 2 == 0, 32767, -32768)
    impulses = np.zeros(SAMPLE_RATE // 2)
    impulses[::300] = -32768
    audio += [square.astype(np.int16), impulses.astype(np.int16)]
    audio.append(rng.integers(-32768, 32768, SAMPLE_RATE // 2).astype(np.int16))
    return np.concatenate(audio)


@pytest.fixture(scope="module")
def tensorflow_frontend():
    pytest.importorskip("tensorflow", reason="tensorflow is not installed: no reference to compare")
    from model_training.frontend import microfrontend

    return microfrontend


def test_streamed_features_equal_tensorflow_op_bit_for_bit(tensorflow_frontend):
    audio = _test_audio()
    expected = tensorflow_frontend(audio)
    ours = _streamed(audio)
    assert len(audio) > 6 * SAMPLE_RATE
    assert ours.dtype == np.uint16
    assert ours.shape == expected.shape
    mismatched = np.argwhere(ours != expected)
    assert mismatched.size == 0, f"{len(mismatched)} values differ, first at {mismatched[:3]}"
    assert expected.max() > 500  # the audio exercised the frontend, not only silence


def _tensorflow_features(samples: np.ndarray, params) -> np.ndarray:
    """TensorFlow's microfrontend op with `params` other than the board's."""
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import (
        audio_microfrontend_op as frontend_op,
    )

    features = frontend_op.audio_microfrontend(
        tf.constant(samples), **{**params, "out_type": tf.uint16}
    )
    return np.asarray(features)


def test_other_frontend_parameters_match_too(tensorflow_frontend):
    params = {
        **FRONTEND_PARAMS,
        "window_size": 25,
        "window_step": 10,
        "num_channels": 32,
        "enable_pcan": False,
    }
    audio = _speech("go up, then down")
    np.testing.assert_array_equal(_streamed(audio, params), _tensorflow_features(audio, params))


def test_the_log_equals_tensorflow_op_to_its_last_bit(tensorflow_frontend):
    """With scale_shift 16 each feature is the log itself, in Q16 (its low 16 bits), not
    rounded to the board's 6 bits: every entry of the log table shows, with and without PCAN."""
    audio = _test_audio()
    for enable_pcan in (True, False):
        params = {**FRONTEND_PARAMS, "scale_shift": 16, "enable_pcan": enable_pcan}
        expected = _tensorflow_features(audio, params)
        np.testing.assert_array_equal(_streamed(audio, params), expected)


def test_chunked_and_whole_give_the_same_features():
    rng = np.random.default_rng(3)
    audio = rng.normal(0, 3000, 3 * SAMPLE_RATE).astype(np.int16)
    whole = Frontend().process(audio)  # a whole recording, from a fresh state
    assert whole.shape == ((len(audio) - 480) // 320 + 1, 40)
    np.testing.assert_array_equal(_streamed(audio), whole)


def test_a_slice_appears_once_its_window_is_complete():
    frontend = Frontend()
    assert frontend.process(np.zeros(479, np.int16)).shape == (0, 40)
    assert frontend.process(np.zeros(1, np.int16)).shape == (1, 40)
    assert frontend.process(np.zeros(319, np.int16)).shape == (0, 40)
    assert frontend.process(np.zeros(1, np.int16)).shape == (1, 40)


def test_the_noise_estimate_is_carried_across_chunks():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 2000, 2 * SAMPLE_RATE).astype(np.int16)
    carried = Frontend()
    carried.process(noise[:SAMPLE_RATE])
    fresh = Frontend()
    # The same second of audio after a second of noise gives lower values than from a fresh
    # state: the noise estimate learnt in the first chunk is subtracted.
    later = carried.process(noise[SAMPLE_RATE:])
    first = fresh.process(noise[SAMPLE_RATE:])
    assert later[:10].mean() < first[:10].mean()


def test_samples_that_are_not_int16_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="int16"):
        Frontend().process(np.zeros(480, dtype=np.float32))


def test_the_daemon_modules_do_not_import_tensorflow():
    code = (
        "import sys; import assistant.frontend, assistant.pipeline, assistant.listener, "
        "assistant.model_runner, assistant.daemon, assistant.cli, assistant.rooms.roles, "
        "assistant.own_voice_worker; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_square_root_is_the_same_on_its_fast_and_wide_paths():
    """Below 2**52 the filterbank's root comes from the float square root; it must round as
    the integer (C) one does, at perfect squares, halfway points and the 0xFFFF cap."""
    from assistant.frontend import _rounded_sqrt, _rounded_sqrt_wide

    rng = np.random.default_rng(11)
    roots = np.concatenate(
        [rng.integers(0, 2**26, 20_000), np.arange(70_000), [0xFFFF, 0x10000, 2**26 - 1]]
    )
    near = [roots * roots + roots + d for d in (-1, 0, 1)] + [roots * roots + d for d in (-1, 0)]
    values = np.concatenate([*near, rng.integers(0, 2**52, 50_000)])
    values = np.unique(values[(values >= 0) & (values < 2**52)])
    fast = _rounded_sqrt(values.astype(np.float64))
    np.testing.assert_array_equal(fast, _rounded_sqrt_wide(values.astype(np.uint64)))
    assert fast[values == 0xFFFF**2 + 0xFFFF + 1].tolist() == [0xFFFF]  # the cap: no round up
    # A sum that wrapped around (negative) or is too wide for the float path.
    wide = np.array([-5.0, 2.0**52 + 2.0**30])
    np.testing.assert_array_equal(
        _rounded_sqrt(wide), _rounded_sqrt_wide(wide.astype(np.int64).view(np.uint64))
    )


U32 = 0xFFFFFFFF


def _reference_log_scale(value: int, correction: int, scale_shift: int) -> int:
    """The microfrontend's LogScale of one value, on Python integers (bit_length for the MSB)."""
    from assistant.frontend import LOG_LUT

    value = value >> -correction if correction < 0 else (value << correction) & U32
    if value <= 1:
        return 0
    integer = value.bit_length() - 1
    frac = value - (1 << integer)
    frac = frac << (16 - integer) if integer < 16 else frac >> (integer - 16)
    segment = frac >> 9
    c0, c1 = int(LOG_LUT[segment]), int(LOG_LUT[segment + 1])
    log2 = ((integer << 16) + frac + c0 + (((c1 - c0) * (frac - 512 * segment)) >> 16)) & U32
    loge = ((45426 * log2 + 32768) >> 16) & U32
    return ((((loge << scale_shift) & U32) + 32768) & U32) >> 16


def _reference_pcan(signal: int, estimate: int, lut: list[int], snr_shift: int) -> int:
    """PCAN's gain (the wide dynamic function) and SNR shrink of one value, on Python integers."""
    if estimate <= 2:
        gain = lut[estimate]
    else:
        interval = estimate.bit_length()
        index = max(4 * interval - 6, 0)
        shifted = estimate << (11 - interval) if interval < 11 else estimate >> (interval - 11)
        frac = shifted & 0x3FF
        result = (((lut[index + 2] * frac) >> 5) + lut[index + 1] * 32) * frac
        result = ((result + (1 << 14)) >> 15) + lut[index]
        gain = ((result + 0x8000) & 0xFFFF) - 0x8000  # stored as int16
    snr = ((signal * (gain & U32)) >> snr_shift) & U32
    shrunk = (snr * snr) >> 20 if snr < 2 << 12 else (snr >> 6) - 64
    return shrunk & U32


def test_pcan_and_the_log_equal_their_integer_definitions_over_the_uint32_range():
    """Both find the leading bit and the bits below it from the float's exponent and
    mantissa; that must equal the integer shifts for every uint32 (exact below 2**53)."""
    from assistant.frontend import _log_scale, _pcan

    tables = Frontend().tables
    rng = np.random.default_rng(13)
    powers = 2 ** np.arange(33, dtype=np.int64)
    values = np.concatenate(
        [rng.integers(0, 2**32, 4000), np.arange(70), powers - 1, powers[:32], powers[:32] + 1]
    ).astype(np.int64)
    signals = rng.integers(0, 2**20, len(values)).astype(np.int64)
    config = tables.config
    expected_log = [
        _reference_log_scale(int(v), tables.correction_bits, config.scale_shift) for v in values
    ]
    np.testing.assert_array_equal(_log_scale(values, tables), expected_log)
    lut = [int(v) for v in tables.pcan_lut]
    expected_pcan = [
        _reference_pcan(int(s), int(e), lut, tables.snr_shift)
        for s, e in zip(signals, values, strict=True)
    ]
    np.testing.assert_array_equal(_pcan(signals, values, tables), expected_pcan)


def test_the_fft_skips_only_twiddles_that_change_nothing():
    """Every value the butterflies meet is kissfft's division by 4 of an int16 (|x| <= 8192);
    the twiddle (32767, 0), which the first stage and each unrotated input get, leaves all of
    them unchanged, so the FFT does not multiply by it."""
    divided = ((np.arange(-32768, 32768) * 8191 + (1 << 14)) >> 15).astype(np.int64)
    assert np.abs(divided).max() <= 8192
    x = np.arange(-8192, 8193, dtype=np.int64)
    np.testing.assert_array_equal((x * 32767 + (1 << 14)) >> 15, x)
    stages = Frontend().tables.fft_stages
    assert stages[0][1] is None and all(first is not None for _, first, _ in stages[1:])
    for m, first, _ in stages[1:]:
        unrotated = first.reshape(2, -1, 4, m)[:, :, 0]  # each group's first input
        assert (unrotated[0] == 32767).all() and (unrotated[1] == 0).all()


def test_the_filterbank_product_is_refused_where_float64_sums_would_not_be_exact():
    from assistant.frontend import FrontendTables

    tables = Frontend().tables
    bins, weights = tables.filterbank_matrix
    first, exact = tables.filterbank
    assert (bins.start, bins.stop) == (first, first + exact.shape[1])
    np.testing.assert_array_equal(weights.T, exact)  # the float matrix holds the same integers
    assert (1 << 31) * exact.sum(axis=1).max() < 2**53
    too_wide = FrontendTables(tables.config)
    too_wide.__dict__["filterbank"] = (first, np.full((40, 5000), 4096, dtype=np.int64))
    with pytest.raises(ValueError, match="not exact in float64"):
        _ = too_wide.filterbank_matrix
