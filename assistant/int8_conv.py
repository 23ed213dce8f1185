"""TFLite's reference int8 CONV_2D (per-channel) in numpy, bit for bit.

The first convolution of the keyword model is most of the reference interpreter's time; as an
im2col matrix product it is ten times faster, with the same integer arithmetic: int32
accumulation of (input - input_zero_point) * weight plus bias, then the reference
MultiplyByQuantizedMultiplier (doubling high multiply and rounding right shift), the output zero
point and the fused activation's clamp.
"""

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
    """The reference kernels' requantization of int32 accumulators (int64 arrays in and out):
    SaturatingRoundingDoublingHighMul then RoundingDivideByPOT. The multipliers are positive Q31
    values below 2**31, so the doubling multiply never saturates."""
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = _wrap32(values << left) if left.any() else values
    product = x * multiplier
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = (nudged + ((nudged >> 63) & (2**31 - 1))) >> 31  # division rounding toward zero
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


@dataclass(frozen=True)
class Conv2D:
    weights: np.ndarray
    """(kernel_h * kernel_w * in_channels, out_channels) in im2col order, as exact float64."""
    bias: np.ndarray
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    """Top, bottom, left, right."""
    input_zero_point: int
    output_zero_point: int
    multiplier: np.ndarray
    shift: np.ndarray
    activation: tuple[int, int]

    @classmethod
    def from_tensors(
        cls,
        input_shape: tuple[int, ...],
        weights: np.ndarray,
        bias: np.ndarray | None,
        stride: tuple[int, int],
        same_padding: bool,
        dilation: tuple[int, int],
        scales: tuple[float, np.ndarray, float],
        zero_points: tuple[int, int],
        activation: str,
    ) -> Conv2D:
        """From the operator's tensors and options (as TFLite's Prepare computes its params).
        `scales`: input scale, per-channel filter scales, output scale (float32 values)."""
        if dilation != (1, 1):
            raise UnsupportedConv("dilated convolution")
        _, height, width, channels = input_shape
        out_channels, kernel_h, kernel_w, in_channels = weights.shape
        if in_channels != channels:
            raise UnsupportedConv("grouped convolution")
        if kernel_h * kernel_w * in_channels > 2**24:
            raise UnsupportedConv("too many products per output for exact float sums")
        if same_padding:
            out_h, out_w = -(-height // stride[0]), -(-width // stride[1])
            pad_h = max((out_h - 1) * stride[0] + kernel_h - height, 0)
            pad_w = max((out_w - 1) * stride[1] + kernel_w - width, 0)
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
        return cls(
            weights=weights.astype(np.float64).transpose(1, 2, 3, 0).reshape(-1, out_channels),
            bias=np.zeros(out_channels, np.int64) if bias is None else bias.astype(np.int64),
            kernel=(kernel_h, kernel_w),
            stride=stride,
            padding=padding,
            input_zero_point=int(zero_points[0]),
            output_zero_point=output_zero_point,
            multiplier=np.array([q for q, _ in quantized], dtype=np.int64),
            shift=np.array([s for _, s in quantized], dtype=np.int64),
            activation=(low, high),
        )

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """int8 (batch, height, width, channels) -> int8 (batch, out_h, out_w, out_channels)."""
        top, bottom, left, right = self.padding
        shifted = inputs.astype(np.float64) - self.input_zero_point
        padded = np.pad(shifted, ((0, 0), (top, bottom), (left, right), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.kernel, axis=(1, 2))
        windows = windows[:, :: self.stride[0], :: self.stride[1]]
        batch, out_h, out_w = windows.shape[:3]
        # (batch, out_h, out_w, channels, kh, kw) -> rows in (kh, kw, channels) order.
        rows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(batch, out_h * out_w, -1)
        # Sums of at most 2**24 products of |values| < 2**8 and 2**7 are exact in float64. One
        # input at a time: BLAS stays single-threaded, faster here than its threads.
        products = np.stack([example @ self.weights for example in rows])
        accumulators = products.reshape(batch * out_h * out_w, -1).astype(np.int64) + self.bias
        scaled = multiply_by_quantized_multiplier(accumulators, self.multiplier, self.shift)
        out = np.clip(scaled + self.output_zero_point, *self.activation)
        return out.astype(np.int8).reshape(batch, out_h, out_w, -1)
