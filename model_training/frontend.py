"""The TFLite Micro audio frontend (TensorFlow's microfrontend op: the firmware's C code)."""

from __future__ import annotations

import numpy as np

from assistant.features import FRONTEND_PARAMS


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1) to the 16-bit samples a microphone delivers."""
    return np.clip(np.round(np.asarray(audio) * 32768.0), -32768, 32767).astype(np.int16)


def microfrontend(samples: np.ndarray) -> np.ndarray:
    """16-bit samples to uint16 features, shape (frames, channels), from a fresh frontend state."""
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import (
        audio_microfrontend_op as frontend_op,
    )

    params = {**FRONTEND_PARAMS, "out_type": getattr(tf, FRONTEND_PARAMS["out_type"])}
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise TypeError(f"microfrontend needs int16 samples, got {samples.dtype}")
    return np.asarray(frontend_op.audio_microfrontend(tf.constant(samples), **params))
