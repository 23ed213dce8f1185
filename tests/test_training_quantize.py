"""int8 conversion checked in the real interpreters, and the C files the firmware compiles."""

import hashlib
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import tiny_kws_model

from assistant.features import FRONTEND_PARAMS
from assistant.model_files import load_contract
from model_training import export, models, quantize
from model_training.evaluate import predict_float
from model_training.settings import LABELS
from model_training.streaming.thresholds import HEADER_NAME, read_thresholds_header


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    """Frontend-like uint16 features: a noise floor plus a loud band that sets the class."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 200, (240, 49, 40))
    for i, row in enumerate(values):
        row[:, (i % 8) * 5 : (i % 8) * 5 + 5] += 60
    return values.astype(np.uint16)


@pytest.fixture(scope="module")
def trained(features):
    import keras

    keras.utils.set_random_seed(0)
    model = models.build("baseline")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = np.arange(len(features)) % 8
    model.fit(features.astype(np.float32)[..., None] / 25.6, labels, epochs=3, verbose=0)
    return model


@pytest.fixture(scope="module")
def tflite(trained, features) -> bytes:
    return quantize.convert(trained, features, samples=100)


def test_tflm_and_litert_agree_bit_for_bit(tflite, features):
    contract = quantize.quantization_of(tflite).contract()
    inputs = contract.to_int8(features)
    tflm = quantize.run_tflm(tflite, inputs)
    litert = quantize.run_litert(tflite, inputs)
    assert tflm.shape == (len(features), len(LABELS))
    assert len(np.unique(tflm, axis=0)) > 8  # the outputs really vary
    np.testing.assert_array_equal(tflm, litert)


def test_int8_agrees_with_float(trained, tflite, features):
    contract = quantize.quantization_of(tflite).contract()
    int8 = np.argmax(quantize.run_tflm(tflite, contract.to_int8(features)), axis=1)
    assert np.mean(int8 == predict_float(trained, features)) >= 0.95


def test_quantization_is_int8_in_and_out(tflite):
    q = quantize.quantization_of(tflite)
    assert -128 <= q.input_zero_point <= 127 and q.input_scale > 0
    assert q.output_scale == pytest.approx(1 / 256) and q.output_zero_point == -128


@pytest.fixture(scope="module")
def ds_cnn():
    return models.build("ds_cnn")


@pytest.fixture(scope="module")
def ds_cnn_tflite(ds_cnn) -> bytes:
    rng = np.random.default_rng(1)
    return quantize.convert(ds_cnn, rng.integers(0, 700, (20, 49, 40)).astype(np.uint16))


def test_ds_cnn_fits_the_board(ds_cnn, ds_cnn_tflite):
    assert len(ds_cnn_tflite) < 40 * 1024
    assert 4 * 1024 < quantize.arena_bytes(ds_cnn_tflite) < 24 * 1024
    assert models.macs(ds_cnn) < 1_000_000


def test_convolutions_keep_a_scale_per_channel_and_dense_layers_get_one(ds_cnn_tflite):
    found = quantize.weights_of(ds_cnn_tflite)
    kinds = {weights.operator for weights in found}
    assert kinds == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    for weights in found:
        per_channel = weights.operator != "FULLY_CONNECTED"
        assert weights.scales == (weights.channels if per_channel else 1), weights
    assert quantize.per_channel_fully_connected(ds_cnn_tflite) == {}


def test_a_per_channel_dense_layer_is_refused_with_the_fix():
    per_channel = tiny_kws_model.convert(per_channel_dense=True)
    assert list(quantize.per_channel_fully_connected(per_channel).values()) == [len(LABELS)]
    with pytest.raises(ValueError) as refused:
        quantize.require_board_kernels(per_channel, "m.tflite", "quantize it again")
    message = str(refused.value)
    assert message.startswith("m.tflite: FULLY_CONNECTED weights with one scale per output")
    assert f"({len(LABELS)} scales)" in message and "CMSIS-NN" in message
    assert message.endswith("; quantize it again")
    quantize.require_board_kernels(tiny_kws_model.convert(), "m.tflite", "")


def _card(tflite: bytes) -> dict:
    q = quantize.quantization_of(tflite)
    return export.model_card(tflite, q, quantize.arena_bytes(tflite), {"macs": 1})


def test_model_card_holds_the_input_contract(tflite, tmp_path):
    paths = export.write_artifacts(tflite, _card(tflite), tmp_path / "m", tmp_path / "fw")
    card_path = next(p for p in paths if p.suffix == ".json")
    card = json.loads(card_path.read_text())
    assert card["sha256"] == hashlib.sha256(tflite).hexdigest()
    assert card["model_id"] == card["sha256"][:8]
    assert card["labels"] == list(LABELS) and card["frontend"] == dict(FRONTEND_PARAMS)
    model = tmp_path / "m" / "kws_int8.tflite"
    assert load_contract(model).input_multiplier == card["input_multiplier"]
    assert model.read_bytes() == tflite


def test_export_takes_the_thresholds_of_the_card_it_replaces(tflite, tmp_path):
    """The card is the one source of the thresholds: chosen into it alone (`streaming
    thresholds` without --header), an export again writes them into the header too, rather
    than the header's back into the card."""
    models, firmware = tmp_path / "m", tmp_path / "fw"
    export.write_artifacts(tflite, _card(tflite), models, firmware)
    card_path = models / "kws_int8.json"
    card = json.loads(card_path.read_text())
    chosen = {**card["thresholds"], "on": 0.9, "stop": 0.655}
    card_path.write_text(json.dumps({**card, "thresholds": chosen}))
    export.write_artifacts(tflite, _card(tflite), models, firmware)
    assert json.loads(card_path.read_text())["thresholds"] == chosen
    header = firmware / HEADER_NAME
    assert {label: read_thresholds_header(header)[label] for label in chosen} == chosen
    assert "the previous kws_int8.json" in header.read_text()

    before = header.read_text()
    card_path.write_text(json.dumps({**card, "thresholds": {"on": 2}}))
    with pytest.raises(ValueError, match=r"gives on 2, not a number from 0 to 1.*nothing exported"):
        export.write_artifacts(tflite, _card(tflite), models, firmware)
    assert header.read_text() == before


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_generated_c_files_compile_and_match_the_model(tflite, tmp_path):
    card = _card(tflite)
    export.write_artifacts(tflite, card, tmp_path / "m", tmp_path / "fw")
    header = (tmp_path / "fw" / "kws_model_settings.h").read_text()
    assert "python -m model_training export" in header.splitlines()[0]
    program = tmp_path / "dump.cc"
    program.write_text(
        '#include <cstdio>\n#include "kws_model_data.h"\n#include "kws_model_settings.h"\n'
        "int main() {\n"
        "  for (unsigned i = 0; i < kws::g_kws_model_data_len; ++i)"
        ' std::printf("%02x", kws::g_kws_model_data[i]);\n'
        '  std::printf("\\n%d %d %d %s %d %d %d %.9g %d %d %s %d %d\\n", kws::kFeatureSlices,'
        " kws::kFeatureChannels, kws::kLabelCount, kws::kLabels[2], kws::kInputZeroPoint,"
        " (int)kws::kInputMultiplier, kws::kTensorArenaBytes, (double)kws::kInputScale,"
        " kws::kSilenceIndex, kws::kUnknownIndex, kws::kModelId, kws::kFrontendWindowStep,"
        " (int)kws::kFrontendEnablePcan);\n"
        "  return (reinterpret_cast<unsigned long>(kws::g_kws_model_data) % 16) != 0;\n}\n"
    )
    binary = tmp_path / "dump"
    subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Werror", f"-I{tmp_path / 'fw'}", str(program),
         str(tmp_path / "fw" / "kws_model_data.cc"), "-o", str(binary)],
        check=True,
    )  # fmt: skip
    output = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
    data, constants = output.split("\n")[:2]
    assert bytes.fromhex(data) == tflite
    fields = constants.split()
    assert fields[:4] == ["49", "40", "8", "on"]
    assert int(fields[4]) == card["input_zero_point"]
    assert int(fields[5]) == card["input_multiplier"]
    assert int(fields[6]) == card["tensor_arena_bytes"] >= card["arena_bytes"]
    assert float(fields[7]) == pytest.approx(card["input_scale"], rel=1e-7)
    assert fields[8:] == ["0", "1", card["model_id"], "20", "1"]
    assert re.search(r"constexpr int kInputShift = 16;", header)
