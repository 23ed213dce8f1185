"""Run the int8 keyword model on the desktop with LiteRT, as TFLite Micro runs it on the board."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from assistant.int8_conv import Conv2D, UnsupportedConv


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, not a TFLite model, wrong input or output)."""


class Int8Model:
    """An int8-in, int8-out TFLite model run with LiteRT's reference kernels.

    TFLite Micro on the board runs the reference kernels, so with them the scores are the
    board's, bit for bit (tests/test_pipeline.py checks this against the TFLM interpreter). A
    leading CONV_2D, the costliest operator, runs in numpy with the same integer arithmetic
    (assistant/int8_conv.py), the rest in the interpreter.
    LiteRT's optimized kernels are 3x faster but not exact: the int8 DEPTHWISE_CONV_2D rounds
    differently (up to 11 LSB at the model's output), and even FULLY_CONNECTED and CONV_2D are off
    by one now and then (when a requantization lands on a tie).
    """

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
            whole = _reference_interpreter(self.content)
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{self.path}: not a usable TFLite model ({error})") from error
        self._input = whole.get_input_details()[0]
        self._output = whole.get_output_details()[0]
        for role, detail in (("input", self._input), ("output", self._output)):
            if detail["dtype"] != np.int8:
                raise ModelError(
                    f"{self.path}: the model's {role} is {np.dtype(detail['dtype']).name}, the "
                    "board runs full-int8 models only (export with int8 input and output)"
                )
        split = _split_leading_conv(self.content)
        if split is None:
            self._head, self._interpreter, self._rest_input = None, whole, self._input
        else:
            self._head, rest = split
            self._interpreter = _reference_interpreter(rest)
            self._rest_input = self._interpreter.get_input_details()[0]

    @property
    def model_id(self) -> str:
        """The first 8 hex digits of the model's sha256 (the board's HELLO `model=`)."""
        return hashlib.sha256(self.content).hexdigest()[:8]

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
        if self._head is not None:
            inputs = self._head(inputs)
        scores = np.empty((len(batch), self.output_size), dtype=np.int8)
        for row, example in enumerate(inputs):
            self._interpreter.set_tensor(self._rest_input["index"], example[None])
            self._interpreter.invoke()
            scores[row] = self._interpreter.get_tensor(self._output["index"]).reshape(-1)
        return scores


def _reference_interpreter(content: bytes):
    """LiteRT with the reference kernels (those of TFLite Micro)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as error:
        raise ModelError(
            "the desktop model runtime is missing: pip install 'desk-kws-assistant[listen]'"
        ) from error
    interpreter = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    return interpreter


def _split_leading_conv(content: bytes) -> tuple[Conv2D, bytes] | None:
    """The model's first operator as a numpy Conv2D and the model without it, when the first
    operator is an int8 CONV_2D feeding only the next ones; None otherwise."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    first = graph.operators[0]
    code = model.operatorCodes[first.opcodeIndex]
    code = max(code.builtinCode, code.deprecatedBuiltinCode)
    if len(model.subgraphs) != 1 or code != schema.BuiltinOperator.CONV_2D:
        return None
    inputs = [graph.tensors[t] if t >= 0 else None for t in first.inputs]
    source, weights = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    output = graph.tensors[first.outputs[0]]
    if list(first.inputs[:1]) != list(graph.inputs) or any(
        t is not None and t.type not in (schema.TensorType.INT8, schema.TensorType.INT32)
        for t in (*inputs, output)
    ):
        return None

    def data(tensor, dtype):
        raw = model.buffers[tensor.buffer].data
        return np.frombuffer(bytes(raw), dtype=dtype).reshape(tensor.shape)

    options = first.builtinOptions
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items() if k.isupper()}
    try:
        conv = Conv2D.from_tensors(
            tuple(source.shape),
            data(weights, np.int8),
            None if bias is None else data(bias, np.int32),
            (options.strideH, options.strideW),
            options.padding == schema.Padding.SAME,
            (options.dilationHFactor, options.dilationWFactor),
            (
                np.float32(source.quantization.scale[0]),
                np.asarray(weights.quantization.scale, np.float32),
                np.float32(output.quantization.scale[0]),
            ),
            (int(source.quantization.zeroPoint[0]), int(output.quantization.zeroPoint[0])),
            activations[options.fusedActivationFunction],
        )
    except (UnsupportedConv, TypeError, IndexError):
        return None
    graph.operators = graph.operators[1:]
    graph.inputs = np.array([first.outputs[0]], dtype=np.int32)
    model.signatureDefs = []
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return conv, bytes(builder.Output())
