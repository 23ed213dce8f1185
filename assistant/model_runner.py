"""Run the int8 keyword model on the desktop exactly as the board runs it.

The board runs the model with TensorFlow Lite for Microcontrollers; so does the desktop, with
the TFLM Python interpreter (its reference kernels; the board's are TFLM's CMSIS-NN kernels, which
are meant to give the same integers but which no test here runs). LiteRT is not used to run it:
its optimized kernels round differently (int8 DEPTHWISE_CONV_2D by up to 11 LSB), and even its
reference kernels do not always agree with TFLM (FULLY_CONNECTED's requantization, now and then by
1 LSB). The model's CONV_2D and DEPTHWISE_CONV_2D operators, nearly all of
its work, run in numpy with TFLM's integer arithmetic (assistant/int8_conv.py, several times
faster); TFLM runs the other operators, each run of them cut out of the same flatbuffer as a
model of its own.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

from assistant import INSTALL_LISTEN
from assistant.int8_conv import Int8Layer, UnsupportedConv, layer_from_operator

NUMPY_BATCH = 8
"""Inputs given to a numpy layer at a time (its temporaries stay in the CPU's cache)."""


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, not a TFLite model, wrong input or output)."""


def model_sha256(content: bytes) -> str:
    """The sha256 (hex) of the model whose .tflite file is `content`, as its card records it."""
    return hashlib.sha256(content).hexdigest()


def model_id(content: bytes) -> str:
    """The id of the model whose .tflite file is `content`: the first 8 hex digits of its
    sha256, as a board's HELLO `model=` gives it."""
    return model_sha256(content)[:8]


def tflm_interpreter(content: bytes):
    """A TFLM interpreter for a model (ModelError with the fix when tflite-micro is missing)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as error:
        raise ModelError(
            f"the desktop model runtime is missing: {INSTALL_LISTEN} (it needs tflite-micro)"
        ) from error
    return runtime.Interpreter.from_bytes(content)


class Int8Model:
    """An int8-in, int8-out TFLite model, run with the board's arithmetic."""

    def __init__(self, path: str | Path, content: bytes):
        """`content`: the bytes of the .tflite file at `path` (which its errors name)."""
        self.path = Path(path)
        self.content = content
        try:
            whole = tflm_interpreter(self.content)
            self._input = whole.get_input_details(0)
            self._output = whole.get_output_details(0)
            steps = _plan(self.content)
        except ModelError:
            raise
        except (
            ValueError,
            RuntimeError,
            struct.error,
            IndexError,
            AttributeError,
            TypeError,
        ) as error:
            raise ModelError(f"{self.path}: not a usable TFLite model ({error})") from error
        for role, detail in (("input", self._input), ("output", self._output)):
            if detail["dtype"] != np.int8:
                raise ModelError(
                    f"{self.path}: the model's {role} is {np.dtype(detail['dtype']).name}, the "
                    "board runs full-int8 models only (export with int8 input and output)"
                )
        self._input_shape = tuple(int(n) for n in self._input["shape"][1:])
        self.input_size = int(np.prod(self._input_shape))
        self.output_size = int(np.prod(self._output["shape"]))
        self._steps = (
            [InterpreterStep(whole)]
            if steps is None
            else [
                step if isinstance(step, Int8Layer) else InterpreterStep(tflm_interpreter(step))
                for step in steps
            ]
        )

    @property
    def model_id(self) -> str:
        """The model's id (the board's HELLO `model=`)."""
        return model_id(self.content)

    @property
    def input_quantization(self) -> tuple[float, int]:
        """(scale, zero point) of the model's int8 input."""
        return _quantization(self._input)

    @property
    def output_quantization(self) -> tuple[float, int]:
        """(scale, zero point) of the model's int8 output."""
        return _quantization(self._output)

    @property
    def numpy_layers(self) -> int:
        """How many operators (convolutions) run in numpy (assistant/int8_conv.py)."""
        return sum(isinstance(step, Int8Layer) for step in self._steps)

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
        values = batch.reshape(len(batch), *self._input_shape)
        for step in self._steps:
            if len(values) <= NUMPY_BATCH or not isinstance(step, Int8Layer):
                values = step(values)
            else:
                starts = range(0, len(values), NUMPY_BATCH)
                values = np.concatenate([step(values[i : i + NUMPY_BATCH]) for i in starts])
        return values.reshape(len(batch), self.output_size)


def _quantization(detail: dict) -> tuple[float, int]:
    parameters = detail["quantization_parameters"]
    return float(parameters["scales"][0]), int(parameters["zero_points"][0])


class InterpreterStep:
    """A TFLM interpreter run over a batch, one input at a time: (batch, ...) -> (batch, ...)."""

    def __init__(self, interpreter):
        self.interpreter = interpreter
        self.shape = tuple(interpreter.get_input_details(0)["shape"])

    def __call__(self, values: np.ndarray) -> np.ndarray:
        outputs = []
        for example in values:
            self.interpreter.set_input(example.reshape(self.shape), 0)
            self.interpreter.invoke()
            outputs.append(np.asarray(self.interpreter.get_output(0))[0])
        return np.array(outputs)


def _plan(content: bytes) -> list[Int8Layer | bytes] | None:
    """The model as steps: numpy layers and flatbuffers of the operators between them, in
    order. None (TFLM runs the whole model) unless the operators form a chain, each reading the
    one before, with a convolution among them."""
    try:  # the flatbuffer schema comes with LiteRT; without it TFLM runs the whole model
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    tensor = int(graph.inputs[0])
    chain: list[Int8Layer | list[int]] = []
    for index, op in enumerate(graph.operators):
        variable = [t for t in op.inputs if t >= 0 and not _is_constant(model, graph, t)]
        if len(model.subgraphs) != 1 or variable != [tensor] or len(op.outputs) != 1:
            return None
        tensor = int(op.outputs[0])
        try:
            chain.append(layer_from_operator(model, op, schema))
        except UnsupportedConv:
            if chain and isinstance(chain[-1], list):
                chain[-1].append(index)
            else:
                chain.append([index])
    if [int(t) for t in graph.outputs] != [tensor] or all(isinstance(s, list) for s in chain):
        return None
    return [
        step if isinstance(step, Int8Layer) else _submodel(content, step, schema, flatbuffers)
        for step in chain
    ]


def _is_constant(model, graph, tensor: int) -> bool:
    data = model.buffers[graph.tensors[tensor].buffer].data
    return data is not None and len(data) > 0


def _submodel(content: bytes, indices: list[int], schema, flatbuffers) -> bytes:
    """A model of consecutive operators of a chain (input: the first one's, output: the last's)."""
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    operators = [graph.operators[i] for i in indices]
    graph.inputs = np.array(
        [t for t in operators[0].inputs if t >= 0 and not _is_constant(model, graph, t)],
        dtype=np.int32,
    )
    graph.outputs = np.array(operators[-1].outputs, dtype=np.int32)
    graph.operators = operators
    model.signatureDefs = []
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
