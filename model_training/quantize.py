"""Full-integer int8 conversion and its checks in the real interpreters (TFLM and LiteRT)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from assistant.features import FeatureContract
from model_training.settings import FEATURE_SCALE, LABELS
from model_training.train import to_float

BOARD_KERNELS = (
    "the board's TFLM library (tflite-micro-arduino-examples, CMSIS-NN kernels) applies one "
    "weight scale per FULLY_CONNECTED layer, so the board would score differently from the desktop"
)


def int8_converter(model, dataset):
    """TensorFlow's full-integer converter (int8 input and output) for the Keras `model`,
    calibrated on `dataset` (a generator of float inputs), set up for the board's kernels:
    convolutions keep one weight scale per output channel (every CMSIS-NN version has them),
    FULLY_CONNECTED layers get one per tensor (the board's CMSIS-NN kernel takes no more)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter


def convert(model, representative: np.ndarray, samples: int = 400, seed: int = 0) -> bytes:
    """The Keras model as int8 TFLite (int8 input and output) calibrated on `representative`.

    `representative` holds frontend uint16 features (n, slices, channels).
    """
    rng = np.random.default_rng(seed)
    picked = representative[rng.permutation(len(representative))[:samples]]

    def dataset():
        for features in picked:
            yield [to_float(features[None])]

    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the exported signature
        tflite = int8_converter(model, dataset).convert()
    fix = "the converter did not quantize them per tensor: check the tensorflow version"
    require_board_kernels(tflite, "the converted model", fix)
    return tflite


@dataclass(frozen=True)
class Weights:
    """An operator's weight tensor: how many scales it has, over how many output channels."""

    operator: str
    tensor: str
    scales: int
    channels: int


def weights_of(tflite: bytes) -> list[Weights]:
    """The weights of each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, in model order."""
    interpreter = litert_interpreter(tflite)
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    found = []
    for operator in interpreter._get_ops_details():
        if operator["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            weights = tensors[operator["inputs"][1]]
            quantization = weights["quantization_parameters"]
            channels = int(weights["shape"][quantization["quantized_dimension"]])
            scales = len(quantization["scales"])
            found.append(Weights(operator["op_name"], weights["name"], scales, channels))
    return found


def per_channel_fully_connected(tflite: bytes) -> dict[str, int]:
    """The FULLY_CONNECTED weight tensors with more than one scale, and how many they have."""
    return {
        weights.tensor: weights.scales
        for weights in weights_of(tflite)
        if weights.operator == "FULLY_CONNECTED" and weights.scales > 1
    }


def require_board_kernels(tflite: bytes, what: str, fix: str) -> None:
    """ValueError naming `what` and `fix` when the model's FULLY_CONNECTED weights have one
    scale per output channel, which the board's kernels do not apply."""
    found = per_channel_fully_connected(tflite)
    if found:
        tensors = ", ".join(f"{name} ({scales} scales)" for name, scales in found.items())
        raise ValueError(
            f"{what}: FULLY_CONNECTED weights with one scale per output channel: {tensors}; "
            f"{BOARD_KERNELS}; {fix}"
        )


@dataclass(frozen=True)
class Quantization:
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int

    def contract(self) -> FeatureContract:
        return FeatureContract(LABELS, FEATURE_SCALE, self.input_scale, self.input_zero_point)


def quantization_of(tflite: bytes) -> Quantization:
    interpreter = litert_interpreter(tflite)
    (scale_in, zero_in) = interpreter.get_input_details()[0]["quantization"]
    (scale_out, zero_out) = interpreter.get_output_details()[0]["quantization"]
    return Quantization(float(scale_in), int(zero_in), float(scale_out), int(zero_out))


def litert_interpreter(tflite: bytes):
    """LiteRT with its reference kernels, the closest to TFLM's arithmetic.

    They still differ from TFLM by 1 LSB now and then in a FULLY_CONNECTED requantization (per
    channel LiteRT rounds once where TFLM rounds twice; per tensor they differ too); the optimized
    kernels and XNNPACK round differently on more operators (see docs/desktop-listening.md).
    `quantize` records whether the two agreed.
    """
    from ai_edge_litert import interpreter as litert

    interpreter = litert.Interpreter(
        model_content=tflite,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    interpreter.allocate_tensors()
    return interpreter


def run_litert(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    """int8 outputs (n, classes) for int8 inputs (n, slices, channels)."""
    interpreter = litert_interpreter(tflite)
    detail_in = interpreter.get_input_details()[0]
    detail_out = interpreter.get_output_details()[0]
    outputs = []
    for example in inputs:
        interpreter.set_tensor(detail_in["index"], example.reshape(detail_in["shape"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(detail_out["index"]).reshape(-1))
    return np.array(outputs, dtype=np.int8)


def run_tflm(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    """int8 outputs (n, values) from the TensorFlow Lite for Microcontrollers interpreter."""
    from assistant.model_runner import InterpreterStep, tflm_interpreter

    outputs = InterpreterStep(tflm_interpreter(tflite))(inputs)
    return outputs.reshape(len(inputs), -1).astype(np.int8)


def capture_fd2(action) -> str:
    """What C code writes to file descriptor 2 while `action()` runs."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            action()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode(errors="replace")


def arena_bytes(tflite: bytes) -> int:
    """The arena TFLM needs for this model (from its allocation report)."""
    from assistant.model_runner import tflm_interpreter

    interpreter = tflm_interpreter(tflite)
    report = capture_fd2(interpreter.print_allocations)
    match = re.search(r"Arena allocation total (\d+) bytes", report)
    if match is None:
        raise RuntimeError(f"no arena size in TFLM's allocation report:\n{report}")
    return int(match.group(1))
