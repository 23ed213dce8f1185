"""The desktop frontend against the board's C frontend (TensorFlow's microfrontend op)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from assistant.features import FRONTEND_PARAMS
from assistant.frontend import Frontend, compute_features

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


def test_other_frontend_parameters_match_too(tensorflow_frontend):
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import (
        audio_microfrontend_op as frontend_op,
    )

    params = {
        **FRONTEND_PARAMS,
        "window_size": 25,
        "window_step": 10,
        "num_channels": 32,
        "enable_pcan": False,
    }
    audio = _speech("go up, then down")
    expected = frontend_op.audio_microfrontend(
        tf.constant(audio), **{**params, "out_type": tf.uint16}
    )
    np.testing.assert_array_equal(_streamed(audio, params), np.asarray(expected))


def test_chunked_and_whole_give_the_same_features():
    rng = np.random.default_rng(3)
    audio = rng.normal(0, 3000, 3 * SAMPLE_RATE).astype(np.int16)
    whole = compute_features(audio)
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
        "assistant.model_runner, assistant.daemon, assistant.cli, assistant.rooms.roles; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
