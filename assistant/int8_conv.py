"""TFLite Micro's int8 CONV_2D and DEPTHWISE_CONV_2D (per-channel) in numpy, bit for bit.

The keyword model's convolutions are nearly all of the interpreter's work; in numpy they are
several times faster, with TFLM's integer arithmetic: an int32 accumulator of
(input - input_zero_point) * weight plus bias, then MultiplyByQuantizedMultiplier (doubling high
multiply, then rounding right shift: two roundings), the output zero point and the fused
activation's clamp.

The sums are float32 (or float64) BLAS products of the int8 values, exact because every partial
sum is an integer below the float's 2**24 (2**53) mantissa limit; each layer checks the
worst case of its weights when it is built (`LayerBounds`) and refuses what it cannot do exactly
(UnsupportedConv: the interpreter runs that operator instead). The input zero point is folded
into the bias (sum of x * w, minus zero_point * sum of w), so the padding is the zero point
itself, and the windows are gathered with one index array per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ai_edge_litert.schema_py_generated import (
        Conv2DOptionsT,
        DepthwiseConv2DOptionsT,
        ModelT,
        OperatorT,
        TensorT,
    )

FLOAT_MANTISSA_LIMIT = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}
"""Integers of smaller magnitude, and sums of them that stay below it, are exact in the type."""
INT32_LIMIT = 2**31


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


@dataclass(frozen=True)
class LayerBounds:
    """The worst cases of a layer's arithmetic, from its weights alone (any int8 input)."""

    float_sum: int
    """Largest |partial sum of x * w| over the taps (x in [-128, 127]): the float sums' range."""
    accumulator: int
    """Largest |sum of (x - zero point) * w + bias|: TFLM's int32 accumulator."""

    @classmethod
    def of(cls, weights: np.ndarray, bias: np.ndarray, input_zero_point: int) -> LayerBounds:
        """`weights`: (taps, channels) int values; `bias`: (channels,)."""
        magnitude = np.abs(weights.astype(np.int64)).sum(axis=0)
        largest_offset = max(127 - input_zero_point, input_zero_point + 128)
        return cls(
            float_sum=int((128 * magnitude).max(initial=0)),
            accumulator=int(
                (largest_offset * magnitude + np.abs(np.asarray(bias, np.int64))).max(initial=0)
            ),
        )

    def float_type(self) -> np.dtype:
        """The smallest float type whose sums are exact for this layer."""
        for dtype, limit in FLOAT_MANTISSA_LIMIT.items():
            if self.float_sum < limit:
                return dtype
        raise UnsupportedConv(f"sums up to {self.float_sum} are not exact in a float")


@dataclass(frozen=True)
class Requantizer:
    """Exact float sums of x * w (..., channels) -> int8 outputs, as TFLM requantizes.

    MultiplyByQuantizedMultiplier(acc, M, shift) with acc = sum + bias (the folded zero point
    included) is, for the positive Q31 multipliers of convolutions and no int32 overflow:
    high = (acc * (M << left) + 2**30) >> 31 (the doubling high multiply; C's truncating
    division with its nudge is exactly this floor), then the rounding right shift, half away
    from zero: (high + 2**(right-1) - [high < 0]) >> right. Bias, nudge, rounding and the
    output zero point are folded into two per-channel constants. The constants are repeated
    for every output position, (positions, channels): numpy's loops then run over whole
    contiguous arrays instead of one short row of channels at a time (twice as fast).
    """

    scale: np.ndarray
    nudged_bias: np.ndarray
    right: np.ndarray
    offset: np.ndarray
    negative_mask: np.ndarray | None
    """-1 where a right shift rounds negative values (None: every channel shifts right)."""
    low: int
    high: int

    @classmethod
    def build(
        cls,
        multiplier: np.ndarray,
        shift: np.ndarray,
        bias: np.ndarray,
        output_zero_point: int,
        activation: tuple[int, int],
        accumulator_bound: int,
        positions: int,
    ) -> Requantizer:
        """`bias` is added to the float sums (it holds the folded input zero point);
        `accumulator_bound` is TFLM's largest |accumulator| (LayerBounds.accumulator);
        `positions`: output positions per input (height * width)."""
        multiplier = np.asarray(multiplier, dtype=np.int64)
        shift = np.asarray(shift, dtype=np.int64)
        if (multiplier <= 0).any() or (multiplier >= INT32_LIMIT).any():
            raise UnsupportedConv("multipliers that are not positive Q31 values")
        left = np.maximum(shift, 0)
        right = np.maximum(-shift, 0)
        if accumulator_bound << int(left.max(initial=0)) >= INT32_LIMIT:
            raise UnsupportedConv("accumulators that may overflow int32")
        if (right > 62).any():
            raise UnsupportedConv("right shifts beyond 62 bits")
        scale = multiplier << left
        bias = np.asarray(bias, dtype=np.int64)

        def tiled(values: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(values, (positions, len(values))))

        # Products above 2**63 wrap in numpy, but the sum with the bias term is exact (it is
        # |accumulator| * scale + 2**30 < 2**62): two's complement sums are exact modulo 2**64.
        return cls(
            scale=tiled(scale),
            nudged_bias=tiled(bias * scale + (1 << 30)),
            right=tiled(right),
            offset=tiled(((1 << right) >> 1) + (np.int64(output_zero_point) << right)),
            negative_mask=None if (right > 0).all() else tiled(np.where(right > 0, -1, 0)),
            low=activation[0],
            high=activation[1],
        )

    def __call__(self, sums: np.ndarray) -> np.ndarray:
        """Exact float sums (batch, positions, channels) -> int8, same shape."""
        values = self.rescale(sums)
        np.maximum(values, self.low, out=values)
        np.minimum(values, self.high, out=values)
        return values.astype(np.int8)

    def rescale(self, sums: np.ndarray) -> np.ndarray:
        """The requantized values plus the output zero point, before the clamp (int64)."""
        high = sums.astype(np.int64)
        high *= self.scale
        high += self.nudged_bias
        high >>= 31
        negative = high >> 63
        if self.negative_mask is not None:
            negative &= self.negative_mask
        high += negative
        high += self.offset
        high >>= self.right
        return high


def activation_range(
    activation: str, output_scale: float, output_zero_point: int
) -> tuple[int, int]:
    """TFLM's CalculateActivationRangeQuantized for int8 outputs."""
    low, high = -128, 127
    if activation in ("RELU", "RELU6"):
        low = max(low, output_zero_point)
    if activation == "RELU6":
        six = float(np.float32(6.0) / np.float32(output_scale))
        high = min(high, output_zero_point + math.floor(six + 0.5))
    elif activation not in ("NONE", "RELU"):
        raise UnsupportedConv(f"fused activation {activation}")
    return low, high


def window_positions(
    input_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    same_padding: bool,
) -> tuple[np.ndarray, tuple[int, int]]:
    """For each output position, the flat input positions (row * width + column) of its window
    in (kernel row, kernel column) order, shape (outputs, taps); height * width marks a tap in
    the padding. Also the output's (height, width). Padding as TFLM's ComputePaddingHeightWidth
    (the odd pixel at the bottom and right)."""
    positions = []
    for size, k, s in zip(input_hw, kernel, stride, strict=True):
        out = -(-size // s) if same_padding else (size - k + s) // s
        before = max((out - 1) * s + k - size, 0) // 2
        positions.append(np.arange(out)[:, None] * s - before + np.arange(k)[None, :])
    rows, cols = positions
    height, width = input_hw
    r = rows[:, None, :, None]
    c = cols[None, :, None, :]
    inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
    flat = np.where(inside, r * width + c, height * width)
    return flat.reshape(len(rows) * len(cols), -1), (len(rows), len(cols))


@dataclass(frozen=True)
class Geometry:
    """Where a layer's windows lie in its input."""

    input_shape: tuple[int, int, int]
    """Height, width, channels."""
    output_hw: tuple[int, int]
    positions: np.ndarray | None
    """window_positions (None: each output reads its own input position, a 1x1 convolution)."""
    input_zero_point: int

    @classmethod
    def of(
        cls,
        input_shape: tuple[int, int, int],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        same_padding: bool,
        input_zero_point: int,
    ) -> Geometry:
        height, width, _ = input_shape
        positions, output_hw = window_positions((height, width), kernel, stride, same_padding)
        if np.array_equal(positions.ravel(), np.arange(height * width)):
            positions = None
        return cls(tuple(input_shape), output_hw, positions, int(input_zero_point))

    def windows(self, inputs: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """int8 (batch, height, width, channels) -> (batch, outputs, taps, channels) as floats,
        taps in the padding holding the input zero point."""
        batch = len(inputs)
        height, width, channels = self.input_shape
        if self.positions is None:
            return inputs.astype(dtype).reshape(batch, height * width, 1, channels)
        flat = np.empty((batch, height * width + 1, channels), dtype=dtype)
        flat[:, :-1] = inputs.reshape(batch, height * width, channels)
        flat[:, -1] = self.input_zero_point
        return np.take(flat, self.positions, axis=1)


@dataclass(frozen=True)
class Int8Layer:
    """An int8 convolution: int8 (batch, height, width, channels) -> int8 (batch, h, w, out)."""

    geometry: Geometry
    weights: np.ndarray
    """Float weights, (taps * in_channels, out_channels) or for a depthwise layer (taps,
    channels), taps in (kernel row, kernel column) order."""
    requantize: Requantizer
    bounds: LayerBounds

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        windows = self.geometry.windows(inputs, self.weights.dtype)
        sums = self.sums(windows)
        return self.requantize(sums).reshape(len(inputs), *self.geometry.output_hw, -1)

    def sums(self, windows: np.ndarray) -> np.ndarray:
        """Exact sums of x * w (batch, positions, channels) of the windows."""
        raise NotImplementedError


class Conv2D(Int8Layer):
    """int8 CONV_2D (per-channel weights)."""

    def sums(self, windows: np.ndarray) -> np.ndarray:
        # One matrix product per input: each stays below OpenBLAS's threading threshold
        # (threads only slow these small products down, the more so on a busy machine).
        return windows.reshape(*windows.shape[:2], -1) @ self.weights


class DepthwiseConv2D(Int8Layer):
    """int8 DEPTHWISE_CONV_2D (per-channel weights, depth multiplier 1)."""

    def sums(self, windows: np.ndarray) -> np.ndarray:
        return np.einsum("bptc,tc->bpc", windows, self.weights)


def layer_from_operator(model: ModelT, op: OperatorT, schema: ModuleType) -> Int8Layer:
    """The numpy layer for one CONV_2D or DEPTHWISE_CONV_2D of a flatbuffer model (object API;
    `schema` is its generated module); UnsupportedConv for anything else."""
    graph = model.subgraphs[0]
    code = model.operatorCodes[op.opcodeIndex]
    code = max(code.builtinCode, code.deprecatedBuiltinCode)
    ops = schema.BuiltinOperator
    if code not in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D):
        raise UnsupportedConv(f"operator {code}")
    depthwise = code == ops.DEPTHWISE_CONV_2D
    inputs = [graph.tensors[t] if t >= 0 else None for t in op.inputs]
    source, weights = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    output = graph.tensors[op.outputs[0]]
    types = [t.type for t in (source, weights, output)]
    if types != [schema.TensorType.INT8] * 3 or (
        bias is not None and bias.type != schema.TensorType.INT32
    ):
        raise UnsupportedConv("only int8 convolutions with int32 bias")
    filters = _constant(model, weights, np.int8)
    if np.any(np.asarray(weights.quantization.zeroPoint) != 0):
        raise UnsupportedConv("weights with a zero point")
    options = op.builtinOptions
    if (options.dilationHFactor, options.dilationWFactor) != (1, 1):
        raise UnsupportedConv("dilated convolution")
    in_channels, out_channels = int(source.shape[-1]), int(output.shape[-1])
    matrix = _weight_matrix(filters, depthwise, options, in_channels, out_channels)
    input_zero_point = int(source.quantization.zeroPoint[0])
    geometry = Geometry.of(
        tuple(int(n) for n in source.shape[1:]),
        (int(filters.shape[1]), int(filters.shape[2])),
        (options.strideH, options.strideW),
        options.padding == schema.Padding.SAME,
        input_zero_point,
    )
    if geometry.output_hw != tuple(int(n) for n in output.shape[1:3]):
        raise UnsupportedConv("an output shape that does not follow from the input's")
    biases = np.zeros(out_channels, np.int64) if bias is None else _constant(model, bias, np.int32)
    bounds = LayerBounds.of(matrix, biases, input_zero_point)
    dtype = bounds.float_type()
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items() if k.isupper()}
    folded_bias = biases.astype(np.int64) - input_zero_point * matrix.astype(np.int64).sum(axis=0)
    requantize = _requantizer(
        source,
        weights,
        output,
        folded_bias,
        activations[options.fusedActivationFunction],
        bounds.accumulator,
        geometry.output_hw[0] * geometry.output_hw[1],
    )
    layer = DepthwiseConv2D if depthwise else Conv2D
    return layer(geometry, matrix.astype(dtype), requantize, bounds)


def _constant(model: ModelT, tensor: TensorT, dtype: type[np.generic]) -> np.ndarray:
    """A constant tensor's values from the model's buffers, in its shape."""
    raw = model.buffers[tensor.buffer].data
    if raw is None or len(raw) == 0:
        raise UnsupportedConv("weights that are not constant")
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(tensor.shape)


def _weight_matrix(
    filters: np.ndarray,
    depthwise: bool,
    options: Conv2DOptionsT | DepthwiseConv2DOptionsT,
    in_channels: int,
    out_channels: int,
) -> np.ndarray:
    """The filters as the layer multiplies them: (taps * in_channels, out_channels), or for a
    depthwise layer (taps, channels), taps in (kernel row, kernel column) order."""
    if depthwise:
        if options.depthMultiplier != 1 or out_channels != in_channels:
            raise UnsupportedConv("depth multiplier other than 1")
        return filters.reshape(-1, out_channels)  # (1, kh, kw, channels) -> (taps, channels)
    if filters.shape[3] != in_channels:
        raise UnsupportedConv("grouped convolution")
    return filters.transpose(1, 2, 3, 0).reshape(-1, out_channels)


def _requantizer(
    source: TensorT,
    weights: TensorT,
    output: TensorT,
    folded_bias: np.ndarray,
    activation: str,
    accumulator_bound: int,
    positions: int,
) -> Requantizer:
    """The layer's Requantizer, from the scales and zero points of its input, per-channel
    weights and output (TFLM's float32 scales, one multiplier per output channel)."""
    out_channels = len(folded_bias)
    input_scale = float(np.float32(source.quantization.scale[0]))
    output_scale = float(np.float32(output.quantization.scale[0]))
    output_zero_point = int(output.quantization.zeroPoint[0])
    filter_scales = np.broadcast_to(
        np.asarray(weights.quantization.scale, np.float32), (out_channels,)
    )
    multipliers = [
        quantize_multiplier(input_scale * float(s) / output_scale) for s in filter_scales
    ]
    return Requantizer.build(
        np.array([m for m, _ in multipliers]),
        np.array([s for _, s in multipliers]),
        folded_bias,
        output_zero_point,
        activation_range(activation, output_scale, output_zero_point),
        accumulator_bound,
        positions,
    )
