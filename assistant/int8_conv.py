"""TFLite Micro's int8 CONV_2D (per-channel) in numpy, bit for bit.

The keyword model's convolutions (the first over the one-channel feature image, then the 1x1
ones of each depthwise-separable block) are most of the interpreter's time; as im2col matrix
products they are several times faster, with TFLM's integer arithmetic: int32 accumulation of
(input - input_zero_point) * weight plus bias, then MultiplyByQuantizedMultiplier (doubling high
multiply, then rounding right shift: two roundings), the output zero point and the fused
activation's clamp."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class UnsupportedConv(ValueError):
    """A convolution this module does not reproduce (the interpreter runs it instead)."""


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (Q31 significand, power-of-two shift)."""
    if real_multiplier == 0.0:
        return 0, 0
    significand, shift = math.frexp(real_multiplier)
    fixed = math.floor(abs(significand) * (1 << 31) + 0.5) * (1 if significand > 0 else -1)
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def _wrap32(values: np.ndarray) -> np.ndarray:
    return ((values + 2**31) & 0xFFFFFFFF) - 2**31


def multiply_by_quantized_multiplier(
    values: np.ndarray, multiplier: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """The reference kernels' requantization of int32 accumulators (int64 arrays in and out).

    SaturatingRoundingDoublingHighMul rounds x * multiplier / 2**31 half away from zero (the
    multipliers are positive Q31 values below 2**31, so it never saturates); RoundingDivideByPOT
    then rounds that half away from zero again by 2**-shift. Both on magnitudes, then the sign.
    """
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = _wrap32(values << left) if left.any() else values
    product = x * multiplier
    negative = product < 0
    high = (np.abs(product) + ((1 << 30) - negative)) >> 31
    result = (high + ((1 << right) >> 1)) >> right
    return np.where(negative, -result, result)


@dataclass(frozen=True)
class Quantized:
    """A convolution's geometry, zero points and output requantization."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    """Top, bottom, left, right."""
    input_zero_point: int
    output_zero_point: int
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    activation: tuple[int, int]

    @staticmethod
    def settings(
        input_shape: tuple[int, ...],
        kernel: tuple[int, int],
        out_channels: int,
        bias: np.ndarray | None,
        stride: tuple[int, int],
        same_padding: bool,
        scales: tuple[float, np.ndarray, float],
        zero_points: tuple[int, int],
        activation: str,
    ) -> dict:
        """The shared fields from the operator's tensors and options, as TFLM's Prepare
        computes them. `scales`: input, per-channel filter and output scales (float32)."""
        _, height, width, _ = input_shape
        if same_padding:
            out_h, out_w = -(-height // stride[0]), -(-width // stride[1])
            pad_h = max((out_h - 1) * stride[0] + kernel[0] - height, 0)
            pad_w = max((out_w - 1) * stride[1] + kernel[1] - width, 0)
            padding = (pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2)
        else:
            padding = (0, 0, 0, 0)
        input_scale, filter_scales, output_scale = scales
        filter_scales = np.broadcast_to(np.asarray(filter_scales, np.float32), (out_channels,))
        quantized = [
            quantize_multiplier(float(input_scale) * float(s) / float(output_scale))
            for s in filter_scales
        ]
        output_zero_point = int(zero_points[1])
        low, high = -128, 127
        if activation in ("RELU", "RELU6"):
            low = max(low, output_zero_point)
        if activation == "RELU6":
            high = min(high, output_zero_point + round(float(np.float32(6.0) / output_scale)))
        elif activation not in ("NONE", "RELU"):
            raise UnsupportedConv(f"fused activation {activation}")
        return {
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "input_zero_point": int(zero_points[0]),
            "output_zero_point": output_zero_point,
            "bias": np.zeros(out_channels, np.int64) if bias is None else bias.astype(np.int64),
            "multiplier": np.array([q for q, _ in quantized], dtype=np.int64),
            "shift": np.array([s for _, s in quantized], dtype=np.int64),
            "activation": (low, high),
        }

    def padded(self, inputs: np.ndarray) -> np.ndarray:
        """(input - zero point) as exact float64, zero-padded (padding adds nothing)."""
        top, bottom, left, right = self.padding
        shifted = inputs.astype(np.float64) - self.input_zero_point
        return np.pad(shifted, ((0, 0), (top, bottom), (left, right), (0, 0)))

    def finish(self, sums: np.ndarray) -> np.ndarray:
        """Exact float sums (..., channels) -> int8 outputs."""
        accumulators = sums.astype(np.int64) + self.bias
        scaled = multiply_by_quantized_multiplier(accumulators, self.multiplier, self.shift)
        return np.clip(scaled + self.output_zero_point, *self.activation).astype(np.int8)


@dataclass(frozen=True)
class Conv2D(Quantized):
    weights: np.ndarray = None
    """(kernel_h * kernel_w * in_channels, out_channels) in im2col order, as exact float64."""

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """int8 (batch, height, width, channels) -> int8 (batch, out_h, out_w, out_channels)."""
        padded = self.padded(inputs)
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.kernel, axis=(1, 2))
        windows = windows[:, :: self.stride[0], :: self.stride[1]]
        batch, out_h, out_w = windows.shape[:3]
        # (batch, out_h, out_w, channels, kh, kw) -> rows in (kh, kw, channels) order.
        rows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(batch, out_h * out_w, -1)
        # Sums of at most 2**24 products of |values| < 2**8 and 2**7 are exact in float64. One
        # input at a time: BLAS stays single-threaded, faster here than its threads.
        sums = np.stack([example @ self.weights for example in rows])
        return self.finish(sums).reshape(batch, out_h, out_w, -1)


def conv_from_operator(model, op, schema) -> Conv2D:
    """The numpy layer for one CONV_2D of a flatbuffer model (object API); UnsupportedConv for
    anything else."""
    graph = model.subgraphs[0]
    code = model.operatorCodes[op.opcodeIndex]
    code = max(code.builtinCode, code.deprecatedBuiltinCode)
    if code != schema.BuiltinOperator.CONV_2D:
        raise UnsupportedConv(f"operator {code}")
    inputs = [graph.tensors[t] if t >= 0 else None for t in op.inputs]
    source, weights = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    output = graph.tensors[op.outputs[0]]
    types = [t.type for t in (source, weights, output)]
    if types != [schema.TensorType.INT8] * 3 or (
        bias is not None and bias.type != schema.TensorType.INT32
    ):
        raise UnsupportedConv("only int8 convolutions with int32 bias")

    def data(tensor, dtype):
        raw = model.buffers[tensor.buffer].data
        if raw is None or len(raw) == 0:
            raise UnsupportedConv("weights that are not constant")
        return np.frombuffer(bytes(raw), dtype=dtype).reshape(tensor.shape)

    filters = data(weights, np.int8)
    options = op.builtinOptions
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items() if k.isupper()}
    if (options.dilationHFactor, options.dilationWFactor) != (1, 1):
        raise UnsupportedConv("dilated convolution")
    out_channels = int(output.shape[-1])
    settings = Quantized.settings(
        tuple(source.shape),
        (int(filters.shape[1]), int(filters.shape[2])),
        out_channels,
        None if bias is None else data(bias, np.int32),
        (options.strideH, options.strideW),
        options.padding == schema.Padding.SAME,
        (
            np.float32(source.quantization.scale[0]),
            np.asarray(weights.quantization.scale, np.float32),
            np.float32(output.quantization.scale[0]),
        ),
        (int(source.quantization.zeroPoint[0]), int(output.quantization.zeroPoint[0])),
        activations[options.fusedActivationFunction],
    )
    if filters.shape[3] != source.shape[3]:
        raise UnsupportedConv("grouped convolution")
    if filters[0].size > 2**24:
        raise UnsupportedConv("too many products per output for exact float sums")
    matrix = filters.astype(np.float64).transpose(1, 2, 3, 0).reshape(-1, out_channels)
    return Conv2D(**settings, weights=matrix)
