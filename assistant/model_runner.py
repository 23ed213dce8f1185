"""Run the int8 keyword model on the desktop with LiteRT, as TFLite Micro runs it on the board."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, not a TFLite model, wrong input or output)."""


class Int8Model:
    """An int8-in, int8-out TFLite model run with LiteRT's reference kernels.

    TFLite Micro on the board runs the reference kernels. LiteRT's optimized kernels round
    differently (its int8 DEPTHWISE_CONV_2D, and the XNNPACK delegate), so they are not used: with
    the reference kernels the scores are the board's, bit for bit (tests/test_pipeline.py checks
    this against the TFLM interpreter).
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
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as error:
            raise ModelError(
                "the desktop model runtime is missing: pip install 'desk-kws-assistant[listen]'"
            ) from error
        try:
            self._interpreter = Interpreter(
                model_content=self.content,
                experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{self.path}: not a usable TFLite model ({error})") from error
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        for role, detail in (("input", self._input), ("output", self._output)):
            if detail["dtype"] != np.int8:
                raise ModelError(
                    f"{self.path}: the model's {role} is {np.dtype(detail['dtype']).name}, the "
                    "board runs full-int8 models only (export with int8 input and output)"
                )

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
        features = np.asarray(features, dtype=np.int8)
        if features.size != self.input_size:
            raise ModelError(
                f"{self.path}: the model takes {self.input_size} int8 values, got {features.size}"
            )
        self._interpreter.set_tensor(self._input["index"], features.reshape(self._input["shape"]))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).reshape(-1).copy()
