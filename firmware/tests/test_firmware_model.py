"""The generated model files (firmware/kws/src/model/) build, fit the board's budgets and agree
with the model the desktop runs (assistant/models/, or the .tflite named by $KWS_MODEL: the one
`export --models-dir` wrote beside the firmware files of a model of your own)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from assistant.features import FRONTEND_PARAMS, input_multiplier
from assistant.model_files import load_contract

REPO = Path(__file__).resolve().parents[2]
TFLITE = Path(os.environ.get("KWS_MODEL", REPO / "assistant" / "models" / "kws_int8.tflite"))
CARD = TFLITE.with_suffix(".json")

# The board's budgets (nRF52840: 1 MB flash, 256 KB RAM, shared with Mbed OS and the USB stack).
MODEL_BUDGET_BYTES = 40 * 1024
ARENA_BUDGET_BYTES = 24 * 1024


@pytest.fixture(scope="module")
def model_check(build_dir, firmware_make):
    firmware_make("model")

    def run(mode: str) -> bytes:
        return subprocess.run(
            [str(build_dir / "model_check"), mode], capture_output=True, check=True, timeout=60
        ).stdout

    return run


@pytest.fixture(scope="module")
def settings(model_check) -> dict[str, str]:
    lines = model_check("settings").decode().splitlines()
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


def test_model_and_arena_fit_the_budgets(settings):
    assert int(settings["model_bytes"]) < MODEL_BUDGET_BYTES
    assert int(settings["tensor_arena_bytes"]) < ARENA_BUDGET_BYTES


def test_the_embedded_model_is_the_desktop_model(model_check, settings, card):
    data = model_check("data")
    assert data == TFLITE.read_bytes(), (
        f"firmware/kws/src/model/ holds model {settings['model_id']}, {TFLITE} is model "
        f"{card['model_id']}: export both from one run, or name the .tflite exported with the "
        "firmware's files: KWS_MODEL=PATH pytest firmware/tests"
    )
    assert settings["model_id"] == hashlib.sha256(data).hexdigest()[:8] == card["model_id"]


def test_labels_and_quantization_match_the_model_card(settings, card):
    assert settings["labels"].split(",") == card["labels"]
    labels = card["labels"]
    assert int(settings["silence_index"]) == labels.index("silence")
    assert int(settings["unknown_index"]) == labels.index("unknown")
    assert int(settings["input_zero_point"]) == card["input_zero_point"]
    assert int(settings["input_multiplier"]) == input_multiplier(
        card["feature_scale"], card["input_scale"]
    )
    shape = {name: int(settings[name]) for name in ("slices", "channels", "sample_rate")}
    assert shape == {name: card[name] for name in shape}


def test_the_frontend_is_configured_as_in_training(settings):
    board = {
        k.removeprefix("frontend."): v for k, v in settings.items() if k.startswith("frontend.")
    }
    expected = {
        name: str(int(value)) if isinstance(value, bool) else str(value)
        for name, value in FRONTEND_PARAMS.items()
    }
    assert board.keys() == expected.keys()
    for name, value in board.items():
        if isinstance(FRONTEND_PARAMS[name], float):
            assert float(value) == pytest.approx(FRONTEND_PARAMS[name], rel=1e-6), name
        else:
            assert value == expected[name], name
    # The sketch feeds the C frontend's uint16 output straight into to_int8.
    assert (board["out_scale"], board["out_type"]) == ("1", "uint16")


def test_to_int8_with_the_header_constants_matches_the_desktop(model_check):
    cpp = np.frombuffer(model_check("to_int8"), np.int8)
    contract = load_contract(TFLITE)
    python = contract.to_int8(np.arange(65536))
    assert np.array_equal(cpp, python)


def test_the_sketch_registers_exactly_the_model_operators(model_check, settings):
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(TFLITE))._get_ops_details()
    needed = {
        "".join(part if part[0].isdigit() else part.capitalize() for part in op.split("_"))
        for op in (detail["op_name"] for detail in details)
    }
    registered = model_check("ops").decode().split()
    assert set(registered) == needed, "update firmware/kws/src/model_ops.h"
    assert len(registered) == int(settings["op_count"])


def test_the_embedded_model_has_one_weight_scale_per_dense_layer():
    from model_training.quantize import require_board_kernels

    # The board's CMSIS-NN FULLY_CONNECTED applies a single scale; the desktop's TFLM would
    # apply one per output, so no test comparing the desktop with TFLM sees the difference.
    fix = "run `python -m model_training quantize` and `export` again"
    require_board_kernels(TFLITE.read_bytes(), str(TFLITE), fix)


def test_the_model_runs_in_tflite_micro_within_the_header_arena(settings):
    from tflite_micro.python.tflite_micro import runtime

    # What this shows: the pip TFLM's reference kernels fit in the header's arena. The board
    # runs another TFLM snapshot with CMSIS-NN kernels, which can ask for scratch buffers of
    # their own; by CMSIS-NN's buffer rules this model's convolutions need about 80 bytes (the
    # first CONV_2D; none for 1x1 and depthwise 3x3), well within the header's 1 KiB reserve,
    # but that is a reading of the rules, not a measurement: the board reports the arena it
    # uses in INFO (`arena=`, firmware/README.md).
    interpreter = runtime.Interpreter.from_bytes(
        TFLITE.read_bytes(), arena_size=int(settings["tensor_arena_bytes"])
    )
    interpreter.set_input(np.zeros((1, 49, 40, 1), np.int8), 0)
    interpreter.invoke()
    assert interpreter.get_output(0).shape == (1, len(settings["labels"].split(",")))


@pytest.mark.skipif("KWS_MODEL" in os.environ, reason="the README describes the committed model")
def test_the_firmware_readme_describes_the_embedded_model(card):
    readme = (REPO / "firmware" / "README.md").read_text()
    model_ids = set(re.findall(r"model[= ]`?([0-9a-f]{8})\b", readme))
    assert model_ids == {card["model_id"]}
    assert f"| model (flash) | {card['model_bytes']:,} bytes |" in readme
    assert (
        f"{card['arena_bytes']:,} bytes used, reserved | {card['tensor_arena_bytes']:,} bytes"
        in readme
    )


@pytest.mark.parametrize("label", ["stop_the_music_now", "Stop", "stop-now"])
def test_a_label_the_protocol_cannot_carry_stops_the_build(firmware_refused, tmp_path, label):
    """The assistant refuses a HELLO or DET with a label other than 1-16 characters of a-z, 0-9
    and _: a model with one must not build into firmware the assistant would never accept."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "firmware" / "kws" / "src", src)
    for header in ("kws_model_settings.h", "kws_thresholds.h"):
        path = src / "model" / header
        path.write_text(path.read_text().replace('"stop"', f'"{label}"'))
    errors = firmware_refused("model", f"SRC={src}", build=tmp_path / "build")
    assert "a label is not 1-16 characters of a-z, 0-9 and _" in errors
    assert "thresholds.h is for other labels" not in errors  # the two headers agree
