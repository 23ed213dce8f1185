"""The two architectures (micro_speech-style baseline, depthwise-separable CNN) and their cost."""

from __future__ import annotations

from collections.abc import Callable

from assistant.features import CHANNELS
from model_training.settings import LABELS, SLICES


def baseline(classes: int = len(LABELS)):
    """micro_speech's tiny_conv: one strided convolution and a fully connected layer."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((SLICES, CHANNELS, 1)),
            layers.Conv2D(8, (10, 8), strides=(2, 2), padding="same", activation="relu"),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(classes, activation="softmax"),
        ],
        name="baseline",
    )


# (filters, (time stride, frequency stride)) of each separable block after the first convolution.
DS_CNN_BLOCKS: tuple[tuple[int, tuple[int, int]], ...] = ((64, (2, 2)), (96, (2, 2)), (96, (1, 1)))


def ds_cnn(
    classes: int = len(LABELS),
    first_filters: int = 16,
    first_kernel: tuple[int, int] = (5, 4),
    blocks: tuple[tuple[int, tuple[int, int]], ...] = DS_CNN_BLOCKS,
):
    """A depthwise-separable CNN sized for the nRF52840 (under 1 M MACs, small arena)."""
    import keras
    from keras import layers

    def separable(x, filters: int, strides: tuple[int, int]):
        x = layers.SeparableConv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inputs = keras.Input((SLICES, CHANNELS, 1))
    x = layers.Conv2D(first_filters, first_kernel, strides=(2, 2), padding="same", use_bias=False)(
        inputs
    )
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for filters, strides in blocks:
        x = separable(x, filters, strides)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="ds_cnn")


ARCHITECTURES: dict[str, Callable] = {"baseline": baseline, "ds_cnn": ds_cnn}


def build(name: str):
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]()


def macs(model) -> int:
    """Multiply-accumulates per inference of the convolution and dense layers."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D)):
            _, height, width, out_channels = layer.output.shape
            in_channels = layer.input.shape[-1]
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            positions = height * width
            if isinstance(layer, layers.SeparableConv2D):
                total += positions * in_channels * (kernel + out_channels)
            elif isinstance(layer, layers.DepthwiseConv2D):
                total += positions * in_channels * kernel
            else:
                total += positions * in_channels * kernel * out_channels
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
