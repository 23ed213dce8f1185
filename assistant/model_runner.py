"""Run the int8 keyword model on the desktop exactly as the board runs it.

The board runs the model with TensorFlow Lite for Microcontrollers; so does the desktop, with
the TFLM Python interpreter (the same kernels, so the same scores, bit for bit). LiteRT is not
used to run it: its optimized kernels round differently (int8 DEPTHWISE_CONV_2D by up to 11 LSB),
and even its reference kernels do not always agree with TFLM (per-channel FULLY_CONNECTED rounds
once where TFLM rounds twice). The model's first CONV_2D, the costliest operator, runs in numpy
with TFLM's integer arithmetic (assistant/int8_conv.py), and TFLM runs the rest.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from assistant.int8_conv import Conv2D, UnsupportedConv, conv_from_operator

HEAD_BATCH = 8
"""Inputs given to the numpy convolution at a time (its temporaries stay in the CPU's cache)."""


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, not a TFLite model, wrong input or output)."""


def _tflm(content: bytes):
    """A TFLM interpreter for a model."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as error:
        raise ModelError(
            "the desktop model runtime is missing: pip install 'desk-kws-assistant[listen]' "
            "(it needs tflite-micro)"
        ) from error
    return runtime.Interpreter.from_bytes(content)


class Int8Model:
    """An int8-in, int8-out TFLite model, run with the board's arithmetic."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.content = self.path.read_bytes()
        except OSError as error:
            raise ModelError(
                f"{self.path}: cannot read the model ({error.strerror}); train and export one "
                "with `python -m model_training export` or point `model:` at a .tflite file"
            ) from error
        try:
            whole = _tflm(self.content)
            self._input = whole.get_input_details(0)
            self._output = whole.get_output_details(0)
            split = _split_leading_conv(self.content)
        except ModelError:
            raise
        except (ValueError, RuntimeError, struct.error, IndexError, AttributeError) as error:
            raise ModelError(f"{self.path}: not a usable TFLite model ({error})") from error
        for role, detail in (("input", self._input), ("output", self._output)):
            if detail["dtype"] != np.int8:
                raise ModelError(
                    f"{self.path}: the model's {role} is {np.dtype(detail['dtype']).name}, the "
                    "board runs full-int8 models only (export with int8 input and output)"
                )
        if split is None:
            self._conv, self._interpreter = None, whole
        else:
            self._conv, rest = split
            self._interpreter = _tflm(rest)
        self._rest_shape = self._interpreter.get_input_details(0)["shape"]

    @property
    def model_id(self) -> str:
        """The first 8 hex digits of the model's sha256 (the board's HELLO `model=`)."""
        return hashlib.sha256(self.content).hexdigest()[:8]

    @property
    def first_conv_in_numpy(self) -> bool:
        """True when the model's first CONV_2D runs in numpy (assistant/int8_conv.py)."""
        return self._conv is not None

    @property
    def input_size(self) -> int:
        return int(np.prod(self._input["shape"]))

    @property
    def output_size(self) -> int:
        return int(np.prod(self._output["shape"]))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """int8 scores (one per label) for one int8 input (any shape with the right size)."""
        return self.run_batch(np.asarray(features, dtype=np.int8).reshape(1, -1))[0]

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """int8 scores (n, labels) for n int8 inputs (n, ...) of the right size each."""
        batch = np.asarray(batch, dtype=np.int8)
        if batch.size != len(batch) * self.input_size:
            raise ModelError(
                f"{self.path}: the model takes {self.input_size} int8 values per input, got "
                f"{batch.shape}"
            )
        inputs = batch.reshape(len(batch), *self._input["shape"][1:])
        if self._conv is not None:
            starts = range(0, len(inputs), HEAD_BATCH)
            inputs = np.concatenate([self._conv(inputs[i : i + HEAD_BATCH]) for i in starts])
        scores = np.empty((len(batch), self.output_size), dtype=np.int8)
        for row, example in enumerate(inputs):
            self._interpreter.set_input(example.reshape(self._rest_shape), 0)
            self._interpreter.invoke()
            scores[row] = np.asarray(self._interpreter.get_output(0)).reshape(-1)
        return scores


def _split_leading_conv(content: bytes) -> tuple[Conv2D, bytes] | None:
    """The model's first operator as a numpy Conv2D and the model of the operators after it,
    when the model starts with an int8 CONV_2D that only the next operators read; else None."""
    try:  # the flatbuffer schema comes with LiteRT; without it TFLM runs the whole model
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    if len(model.subgraphs) != 1 or len(graph.operators) < 2:
        return None
    first = graph.operators[0]
    if int(first.inputs[0]) != int(graph.inputs[0]) or len(first.outputs) != 1:
        return None
    try:
        conv = conv_from_operator(model, first, schema)
    except UnsupportedConv:
        return None
    graph.operators = graph.operators[1:]
    graph.inputs = np.array([first.outputs[0]], dtype=np.int32)
    model.signatureDefs = []
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return conv, bytes(builder.Output())
