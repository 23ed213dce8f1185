"""A tiny full-int8 keyword model for tests: it says "on" when the last second is loud.

Made with TensorFlow's full-int8 converter set up as for the real model, so the desktop pipeline
runs a real int8 TFLite model; the weights are set by hand so that its behaviour is known without
training: speech (or any sound well above the noise floor) is "on", quiet is "silence".
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from assistant.features import CHANNELS

LABELS = ("silence", "unknown", "on", "off", "up", "down", "go", "stop")
SLICES = 49
FEATURE_SCALE = 10.0 / 256.0
RECENT_SLICES = 49
LOUD = 3.0
"""Mean float feature over the recent slices above which the model says "on"."""


def _keras_model():
    import tensorflow as tf

    inputs = tf.keras.Input(shape=(SLICES, CHANNELS))
    recent = tf.keras.layers.Cropping1D((SLICES - RECENT_SLICES, 0))(inputs)
    mean = tf.keras.layers.GlobalAveragePooling1D()(recent)
    logits = tf.keras.layers.Dense(len(LABELS))(mean)
    outputs = tf.keras.layers.Softmax()(logits)
    model = tf.keras.Model(inputs, outputs)
    weights = np.zeros((CHANNELS, len(LABELS)), dtype=np.float32)
    bias = np.full(len(LABELS), -8.0, dtype=np.float32)
    gain = 2.0 / CHANNELS
    weights[:, LABELS.index("on")] = gain
    weights[:, LABELS.index("silence")] = -gain
    bias[LABELS.index("on")] = -2.0 * LOUD / 2
    bias[LABELS.index("silence")] = 2.0 * LOUD / 2
    model.layers[-2].set_weights([weights, bias])
    return model


def _representative(rng: np.random.Generator):
    for _ in range(64):
        level = rng.uniform(0, 900)
        yield [(rng.uniform(0, level, (1, SLICES, CHANNELS)) * FEATURE_SCALE).astype(np.float32)]


def convert(per_channel_dense: bool = False) -> bytes:
    """The tiny model as int8 TFLite, converted as `quantize` converts the real model, or with
    one weight scale per output of its dense layer (TensorFlow's default, which the board's
    kernels do not apply: a model `quantize` and `export` refuse)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from model_training.quantize import int8_converter

    rng = np.random.default_rng(0)
    converter = int8_converter(_keras_model(), lambda: _representative(rng))
    if per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = False
    return converter.convert()


def build(directory: str | Path) -> Path:
    """Write tiny_kws.tflite and its model card into `directory` (once); returns the model."""
    directory = Path(directory)
    path = directory / "tiny_kws.tflite"
    if path.exists():
        return path
    content = convert()
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    scale, zero_point = interpreter.get_input_details()[0]["quantization"]
    card = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "labels": list(LABELS),
        "feature_scale": FEATURE_SCALE,
        "input_scale": float(scale),
        "input_zero_point": int(zero_point),
        "slices": SLICES,
        "channels": CHANNELS,
    }
    directory.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2))
    path.write_bytes(content)
    return path


def build_conv(directory: str | Path) -> Path:
    """A small untrained int8 model built as the keyword models are (a strided CONV_2D, then a
    depthwise-separable block, pooling, a dense layer), calibrated on random features; returns
    tiny_conv.tflite."""
    directory = Path(directory)
    path = directory / "tiny_conv.tflite"
    if path.exists():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    inputs = tf.keras.Input(shape=(SLICES, CHANNELS, 1))
    x = tf.keras.layers.Conv2D(8, (10, 4), strides=2, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D((3, 3), padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(8, (1, 1), activation="relu")(x)
    x = tf.keras.layers.Conv2D(8, (3, 3), strides=2, padding="valid")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(len(LABELS), activation="softmax")(x)
    rng = np.random.default_rng(1)

    def representative():
        for _ in range(64):
            level = rng.uniform(0, 900)
            features = rng.uniform(0, level, (1, SLICES, CHANNELS, 1)) * FEATURE_SCALE
            yield [features.astype(np.float32)]

    from model_training.quantize import int8_converter

    converter = int8_converter(tf.keras.Model(inputs, outputs), representative)
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(converter.convert())
    return path


def with_card_thresholds(model: Path, directory: str | Path, thresholds: dict) -> Path:
    """A copy of `model` in `directory` whose card gives `thresholds`, as `python -m
    model_training.streaming thresholds` writes them; returns the copy."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / model.name
    copy.write_bytes(model.read_bytes())
    card = json.loads(model.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**card, "thresholds": thresholds}, indent=2))
    return copy
