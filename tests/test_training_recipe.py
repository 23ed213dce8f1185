"""The whole recipe through the command line on a tiny synthetic data set, and its outputs."""

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.model_files import load_contract
from model_training import dataset, synth
from model_training.__main__ import main
from model_training.settings import COMMANDS, LABELS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    synth.synthesize(root, per_command=6, unknown_words=["tree", "cat"], per_unknown_word=4,
                     sentences=0, seed=11)  # fmt: skip
    noise = np.random.default_rng(0).normal(0, 0.2, 48000)
    dataset.write_wav(root / "_background_noise_" / "white_noise.wav", noise)
    return root


@pytest.mark.slow
def test_recipe_writes_a_model_the_interpreters_and_the_firmware_agree_on(speech, tmp_path):
    data = tmp_path / "data"
    synth.synthesize(data / "synth", commands=["on"], per_command=2, unknown_words=[],
                     sentences=2, seed=12)  # fmt: skip
    models, firmware = tmp_path / "models", tmp_path / "fw"
    common = ["--data-dir", str(data), "--real", str(speech), "--epochs", "2",
              "--validation-percent", "25", "--testing-percent", "25"]  # fmt: skip
    args = ["recipe", *common, "--scale", "0.01", "--models-dir", str(models)]
    assert main([*args, "--firmware-dir", str(firmware)]) == 0

    card = json.loads((models / "kws_int8.json").read_text())
    tflite = (models / "kws_int8.tflite").read_bytes()
    assert card["model_bytes"] == len(tflite) and card["labels"] == list(LABELS)
    assert card["accuracy"]["tflm_equals_litert"] is True
    assert card["macs"] < 1_000_000 and card["arena_bytes"] < 24 * 1024
    assert set(card["accuracy"]["int8"]) == {"accuracy", *LABELS}
    contract = load_contract(models / "kws_int8.tflite")
    assert contract.input_multiplier == card["input_multiplier"]
    settings = (firmware / "kws_model_settings.h").read_text()
    assert f'kModelId = "{card["model_id"]}"' in settings
    data_cc = (firmware / "kws_model_data.cc").read_text()
    assert f"g_kws_model_data_len = {len(tflite)};" in data_cc
    assert (data / "runs" / "default" / "confusion_int8.png").read_bytes().startswith(PNG)

    again = ["export", "--data-dir", str(data), "--models-dir", str(tmp_path / "again")]
    assert main([*again, "--firmware-dir", str(tmp_path / "fw2")]) == 0  # the run's options
    described = json.loads((tmp_path / "again" / "kws_int8.json").read_text())["data"]
    assert described == card["data"] and described["training"]["epochs"] == 2

    evaluation = tmp_path / "evaluation"
    args = ["evaluate", "--model", str(models / "kws_int8.tflite"), "--folder", str(speech)]
    assert main([*args, "--split", "all", "--output", str(evaluation)]) == 0
    report = json.loads((evaluation / "evaluation.json").read_text())
    assert report["clips"] == len(dataset.index_folder(speech))
    assert sum(report["int8"][c]["support"] for c in COMMANDS) == 6 * len(COMMANDS)
    assert (evaluation / "confusion_int8.png").read_bytes().startswith(PNG)


def test_analyze_writes_each_figure_and_the_sheet(speech, tmp_path, capsys):
    assert main(["analyze", "--folder", str(speech), "--output", str(tmp_path), "--seed", "1"]) == 0
    clip = capsys.readouterr().out.splitlines()[0].removeprefix("clip: ")
    assert Path(clip).parent.parent == speech  # the random clip drawn is named
    names = {p.name for p in tmp_path.glob("*.png")}
    assert names == {
        "waveform.png", "periodogram.png", "welch_psd.png", "fft.png", "log_spectrogram.png",
        "mel_spectrogram.png", "clip_sheet.png", "dataset_distribution.png",
    }  # fmt: skip
    assert all(p.read_bytes().startswith(PNG) for p in tmp_path.glob("*.png"))


def test_log_spectrogram_uses_20_ms_hann_windows_every_10_ms():
    from model_training.analyze import log_spectrogram

    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    freqs, times, logpower = log_spectrogram(tone)
    assert freqs[1] - freqs[0] == pytest.approx(50.0)  # 320-sample (20 ms) windows
    assert times[1] - times[0] == pytest.approx(0.010)
    assert freqs[np.argmax(logpower.mean(axis=1))] == pytest.approx(1000.0)


def test_index_cli_prints_the_summary(speech, capsys):
    assert main(["index", str(speech)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["per_word"]["on"] == 6


def test_evaluate_counts_speakers_not_silence_clips(speech, tmp_path):
    folder = tmp_path / "words"
    synth.synthesize_words(["stop"], folder, per_word=3, seed=7)
    for n in range(2):
        dataset.write_wav(folder / "_silence_" / f"{n:04d}.wav", np.zeros(16000))
    output = tmp_path / "evaluation"
    args = ["evaluate", "--folder", str(folder), "--split", "all", "--output", str(output)]
    assert main(args) == 0  # the committed model
    report = json.loads((output / "evaluation.json").read_text())
    spoken = {p.name.split("_nohash_")[0] for p in (folder / "stop").glob("*.wav")}
    assert report["clips"] == 5 and report["speakers"] == len(spoken)
    assert report["int8"]["silence"]["support"] == 2


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "none.tflite")]) == 1
    assert "none.tflite: no such model" in capsys.readouterr().err
