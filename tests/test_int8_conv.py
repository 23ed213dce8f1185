"""The numpy int8 convolutions (assistant/int8_conv.py) against TFLM's kernels, and the bounds
that make their float sums exact."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from assistant.int8_conv import (
    FLOAT_MANTISSA_LIMIT,
    INT32_LIMIT,
    DepthwiseConv2D,
    Int8Layer,
    LayerBounds,
    Requantizer,
    UnsupportedConv,
    activation_range,
    layer_from_operator,
    quantize_multiplier,
)
from assistant.model_files import DEFAULT_MODEL
from model_training.quantize import run_tflm

schema = pytest.importorskip("ai_edge_litert.schema_py_generated", reason="LiteRT is missing")
flatbuffers = pytest.importorskip("flatbuffers", reason="flatbuffers is missing")
pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="no TFLM")


def _reference_requantize(value: int, multiplier: int, shift: int) -> int:
    """TFLite's reference MultiplyByQuantizedMultiplier, step by step on Python integers."""
    left, right = max(shift, 0), max(-shift, 0)
    product = value * (1 << left) * multiplier
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    high = (abs(total) >> 31) * (1 if total >= 0 else -1)  # C's division truncates
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def test_quantized_multipliers_are_tflite_s():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    assert quantize_multiplier(3.0) == (3 << 29, 2)


@pytest.mark.parametrize(
    "reals",
    [
        (0.000123, 0.0087, 0.0311),  # every channel shifts right
        (0.000123, 0.0087, 0.5, 0.731, 1.7),  # no shift and a left shift among them
    ],
)
def test_requantization_rounds_as_the_reference_kernels(reals):
    quantized = [quantize_multiplier(real) for real in reals]
    multipliers = np.array([m for m, _ in quantized])
    shifts = np.array([s for _, s in quantized])
    bias = np.arange(len(reals)) * 1000 - 1500
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.integers(-(2**24), 2**24, 3000), np.arange(-700, 700)])
    requantizer = Requantizer.build(multipliers, shifts, bias, -7, (-128, 127), 2**25, 1)
    sums = np.repeat(values[:, None], len(reals), axis=1).astype(np.float64)[:, None, :]
    got = requantizer.rescale(sums)[:, 0, :]
    for channel, (multiplier, shift) in enumerate(quantized):
        expected = [
            _reference_requantize(int(v) + int(bias[channel]), multiplier, shift) - 7
            for v in values
        ]
        np.testing.assert_array_equal(got[:, channel], expected)
    clamped = requantizer(sums)
    assert clamped.dtype == np.int8
    np.testing.assert_array_equal(clamped[:, 0, :], np.clip(got, -128, 127))


def test_requantization_refuses_accumulators_that_could_overflow_int32():
    multiplier, shift = quantize_multiplier(1.7)  # a left shift by 1
    assert shift == 1
    build = Requantizer.build
    build(np.array([multiplier]), np.array([shift]), np.zeros(1), 0, (-128, 127), 2**29, 1)
    with pytest.raises(UnsupportedConv, match="overflow int32"):
        build(np.array([multiplier]), np.array([shift]), np.zeros(1), 0, (-128, 127), 2**30, 1)


def test_layer_bounds_pick_a_float_type_whose_sums_are_exact():
    small = LayerBounds.of(np.full((96, 4), -128), np.zeros(4), -128)
    assert small.float_sum == 128 * 128 * 96
    assert small.accumulator == 255 * 128 * 96
    assert small.float_type() == np.float32
    wide = LayerBounds.of(np.full((1100, 2), 127), np.zeros(2), 0)
    assert wide.float_sum >= 2**24
    assert wide.float_type() == np.float64
    with pytest.raises(UnsupportedConv, match="not exact"):
        LayerBounds(float_sum=2**53, accumulator=0).float_type()


def _operators(content: bytes):
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    return model, model.subgraphs[0].operators


def _numpy_layers(content: bytes) -> list[tuple[int, Int8Layer]]:
    """(operator index, numpy layer) for every operator that runs in numpy."""
    model, operators = _operators(content)
    layers = []
    for index, op in enumerate(operators):
        with contextlib.suppress(UnsupportedConv):
            layers.append((index, layer_from_operator(model, op, schema)))
    return layers


def _test_inputs(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """Uniform, quiet, mid-range and saturated int8 inputs."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.integers(-128, 128, (count, *shape)),
        np.clip(rng.normal(-100, 25, (count, *shape)), -128, 127),
        np.clip(rng.normal(0, 60, (count, *shape)), -128, 127),
        np.full((1, *shape), -128),
        np.full((1, *shape), 127),
        np.where(rng.random((2, *shape)) < 0.5, -128, 127),
    ]
    return np.concatenate(parts).astype(np.int8)


def _each_layer_equals_tflm(content: bytes) -> int:
    from assistant.model_runner import _submodel

    layers = _numpy_layers(content)
    for position, (index, layer) in enumerate(layers):
        single = _submodel(content, [index], schema, flatbuffers)
        inputs = _test_inputs(layer.geometry.input_shape, 30, seed=position)
        expected = run_tflm(single, inputs)
        flat = layer(inputs).reshape(len(inputs), -1)
        np.testing.assert_array_equal(flat, expected, err_msg=f"operator {index}")
        one_at_a_time = np.concatenate([layer(example[None]) for example in inputs[:5]])
        np.testing.assert_array_equal(one_at_a_time.reshape(5, -1), expected[:5])
        assert len(np.unique(expected)) > 20, "the inputs should exercise the layer"
    return len(layers)


def test_each_layer_of_the_default_model_equals_its_tflm_kernel():
    layers = _each_layer_equals_tflm(DEFAULT_MODEL.read_bytes())
    assert layers == 7  # four CONV_2D, three DEPTHWISE_CONV_2D


def test_each_layer_of_a_conv_model_with_activations_equals_its_tflm_kernel(tmp_path):
    """A 10x4 strided SAME convolution, RELU everywhere, a VALID 3x3 strided one."""
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    import tiny_kws_model

    content = tiny_kws_model.build_conv(tmp_path).read_bytes()
    assert _each_layer_equals_tflm(content) == 4


def test_the_default_model_runs_in_float32_with_exact_sums_at_its_worst_inputs():
    """Fails if a layer's worst-case sum could leave the float mantissa or TFLM's int32."""
    for index, layer in _numpy_layers(DEFAULT_MODEL.read_bytes()):
        bounds = layer.bounds
        assert layer.weights.dtype == np.float32, f"operator {index}"
        assert bounds.float_sum < FLOAT_MANTISSA_LIMIT[layer.weights.dtype], f"operator {index}"
        assert bounds.accumulator < INT32_LIMIT, f"operator {index}"
        weights = layer.weights.astype(np.int64)  # (taps [* channels], channels)
        for sign in (1, -1):  # the inputs that make each channel's sum largest, either way
            worst = np.where(sign * weights >= 0, 127, -128)
            exact = (worst * weights).sum(axis=0)
            assert np.abs(exact).max() <= bounds.float_sum
            if isinstance(layer, DepthwiseConv2D):  # one window: (taps, channels)
                sums = layer.sums(worst[None, None].astype(np.float32))[0, 0]
            else:  # one window per output channel, each with that channel's worst input
                windows = worst.T[None, :, :, None].astype(np.float32)
                sums = np.diagonal(layer.sums(windows)[0])
            np.testing.assert_array_equal(sums, exact, err_msg=f"operator {index}")


def test_the_whole_default_model_equals_the_tflm_interpreter():
    from assistant.model_runner import Int8Model

    content = DEFAULT_MODEL.read_bytes()
    model = Int8Model(DEFAULT_MODEL, content)
    assert model.numpy_layers == 7
    inputs = _test_inputs((model.input_size,), 60, seed=9)
    np.testing.assert_array_equal(model.run_batch(inputs), run_tflm(content, inputs))


def test_quantized_multipliers_of_zero_and_one_are_tflite_s():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)


@pytest.mark.parametrize(("zero_point", "largest_offset"), [(-128, 255), (0, 128), (127, 255)])
def test_the_accumulator_bound_is_the_largest_input_offset_times_the_weights(
    zero_point, largest_offset
):
    """x - zero point over int8 x reaches 127 - zero point and -128 - zero point."""
    bounds = LayerBounds.of(np.array([[3, -2], [-5, 1]]), np.array([-7, 4]), zero_point)
    assert bounds.accumulator == largest_offset * 8 + 7
    assert bounds.float_sum == 128 * 8


def test_activation_ranges_are_tflm_s():
    """TFLM's CalculateActivationRangeQuantized: RELU from the output zero point, RELU6 up to
    six in the output's scale (rounded), no further than int8."""
    assert activation_range("NONE", 0.05, -20) == (-128, 127)
    assert activation_range("RELU", 0.05, -20) == (-20, 127)
    assert activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert activation_range("RELU6", 0.0473, -128) == (-128, -1)  # 6 / 0.0473 = 126.8
    assert activation_range("RELU6", 0.01, -128) == (-128, 127)
    with pytest.raises(UnsupportedConv, match="TANH"):
        activation_range("TANH", 0.05, 0)


def _first_convolution(change) -> Int8Layer:
    """layer_from_operator for the default model's first CONV_2D after `change(graph, op)`."""
    model, operators = _operators(DEFAULT_MODEL.read_bytes())
    change(model, model.subgraphs[0], operators[0])
    return layer_from_operator(model, operators[0], schema)


def _retype(position: int, tensor_type: int):
    def change(model, graph, op):
        graph.tensors[op.inputs[position]].type = tensor_type

    return change


def _weights_data(data):
    def change(model, graph, op):
        model.buffers[graph.tensors[op.inputs[1]].buffer].data = data

    return change


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (_retype(0, schema.TensorType.INT16), "only int8 convolutions"),
        (_retype(2, schema.TensorType.INT64), "only int8 convolutions"),
        (_weights_data(None), "not constant"),
        (_weights_data(np.array([], np.uint8)), "not constant"),
    ],
)
def test_convolutions_other_than_constant_int8_are_left_to_the_interpreter(change, refusal):
    assert isinstance(_first_convolution(lambda model, graph, op: None), Int8Layer)
    with pytest.raises(UnsupportedConv, match=refusal):
        _first_convolution(change)
