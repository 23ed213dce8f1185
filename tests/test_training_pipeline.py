"""The pipeline's bookkeeping on a tiny synthetic data set: caches, synth marker, run checks."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiny_kws_model
from file_size_limit import file_size_limit

from assistant import protocol
from assistant.model_files import load_contract
from assistant.model_runner import model_id
from assistant.recognizer import DEFAULT_THRESHOLD
from model_training import dataset, synth
from model_training.__main__ import main
from model_training.examples import Recipe
from model_training.pipeline import Pipeline
from model_training.settings import LABELS, REPO_ROOT
from model_training.streaming.thresholds import HEADER_NAME, read_thresholds_header


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """'on' and 'stop' by a few espeak-ng voices, one other word, noise."""
    root = tmp_path_factory.mktemp("speech")
    synth.synthesize_words(["on", "stop"], root, per_word=8, seed=3)
    synth.synthesize_words(["tree"], root, 6, seed=4, folder_of=lambda w: "_unknown_")
    noise = np.random.default_rng(0).normal(0, 0.1, 32000)
    dataset.write_wav(root / "_background_noise_" / "white.wav", noise)
    return root


def tiny_pipeline(speech: Path, root: Path) -> Pipeline:
    return Pipeline(
        real=[speech], root=root, recipe=Recipe().scaled(0.001),
        validation_percent=35, testing_percent=35,
    )  # fmt: skip


def use_labels(monkeypatch, labels: tuple[str, ...]) -> None:
    """What editing LABELS in settings.py does, for every loaded model_training module."""
    for name, module in list(sys.modules.items()):
        if name.startswith("model_training"):
            for attribute, value in (("LABELS", labels), ("COMMANDS", labels[2:])):
                if hasattr(module, attribute):
                    monkeypatch.setattr(module, attribute, value)


def test_features_names_the_clips_two_folders_down_once_per_folder(speech, tmp_path, capsys):
    """The clips training does not read (a near miss left in `_near_misses/<command>/`) are
    named on stderr by every step that reads the folder, not by `index` alone, and once per
    run though the folder is indexed again (features, then train, then quantize)."""
    folder = tmp_path / "clips"
    shutil.copytree(speech, folder)
    near = folder / "_near_misses" / "go" / "desk_nohash_0.wav"
    near.parent.mkdir(parents=True)
    shutil.copy(next(speech.glob("on/*.wav")), near)
    warning = (
        f"{folder}: not read: 1 clip(s) two folders down (1 in _near_misses/go/); move each to "
        "the folder of its word (or _unknown_/) to train on it\n"
    )
    options = ["--data-dir", str(tmp_path / "data"), "--real", str(folder), "--scale", "0.001",
               "--validation-percent", "35", "--testing-percent", "35"]  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "model_training", "features", *options],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr.count(warning) == 1, run.stderr
    assert run.stdout.startswith("train: ")  # the output is unchanged
    pipeline = tiny_pipeline(folder, tmp_path / "again")
    pipeline.features()
    pipeline.features()
    assert capsys.readouterr().err.count(warning) == 1


def test_changed_labels_do_not_reuse_the_cached_features(speech, tmp_path, monkeypatch):
    pipeline = tiny_pipeline(speech, tmp_path)
    pipeline.features()
    labels = ("silence", "unknown", "stop")
    use_labels(monkeypatch, labels)
    training, validation, test = pipeline.features()
    clips = pipeline.clips(pipeline.real)
    for split, part in (("validation", validation), ("test", test)):
        words = [c.word for c in clips if c.split == split]
        assert "on" in words  # its index was 2 ("on") and is now 1 ("unknown")
        expected = [labels.index(dataset.label_of(word)) for word in words]
        np.testing.assert_array_equal(part.labels, expected)
    assert training.labels.max() == len(labels) - 1


def model_with_card(tiny_model: Path, folder: Path, **card_changes) -> Path:
    """A copy of the tiny 8-output model whose card has `card_changes`."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "kws.tflite"
    model.write_bytes(tiny_model.read_bytes())
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**card, **card_changes}))
    return model


def test_evaluate_labels_the_clips_with_the_model_cards_labels(tiny_model, speech, tmp_path):
    labels = ["silence", "unknown", "tree", "off", "up", "down", "go", "stop"]
    model = model_with_card(tiny_model, tmp_path / "m", labels=labels)
    output = tmp_path / "evaluation"
    args = ["evaluate", "--model", str(model), "--folder", str(speech), "--split", "all"]
    assert main([*args, "--output", str(output)]) == 0
    report = json.loads((output / "evaluation.json").read_text())
    assert [name for name in report["int8"] if name != "accuracy"] == labels
    # "tree" is not a folder of this layout (its clips are in _unknown_); "on" is unknown here.
    assert report["int8"]["unknown"]["support"] == 8 + 6
    assert report["int8"]["stop"]["support"] == 8


def test_evaluate_compares_float_and_int8_on_a_folder(tiny_model, speech, tmp_path, capsys):
    float_model = tmp_path / "float.keras"
    tiny_kws_model._keras_model().save(float_model)  # the float model tiny_model was made from
    output = tmp_path / "evaluation"
    args = ["evaluate", "--model", str(tiny_model), "--keras", str(float_model)]
    args += ["--folder", str(speech), "--split", "all", "--output", str(output)]
    assert main(args) == 0
    report = json.loads((output / "evaluation.json").read_text())
    assert list(report["float"]) == list(report["int8"]) == ["accuracy", *tiny_kws_model.LABELS]
    for label in tiny_kws_model.LABELS:
        assert report["float"][label]["support"] == report["int8"][label]["support"]
    assert abs(report["float"]["accuracy"] - report["int8"]["accuracy"]) <= 0.1
    for kind in ("float", "int8"):
        assert (output / f"confusion_{kind}.png").read_bytes().startswith(b"\x89PNG")
    assert "float P  float R   int8 P   int8 R" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"labels": ["silence", "unknown", "stop"]}, "gives 8 scores, but its card says"),
        (None, "the model card of kws.tflite is missing"),
    ],
)
def test_evaluate_refuses_a_model_its_card_does_not_describe(
    tiny_model, speech, tmp_path, capsys, change, message
):
    model = model_with_card(tiny_model, tmp_path / "m", **(change or {}))
    if change is None:
        model.with_suffix(".json").unlink()
    args = ["evaluate", "--model", str(model), "--folder", str(speech), "--split", "all"]
    assert main([*args, "--output", str(tmp_path / "evaluation")]) == 1
    assert message in capsys.readouterr().err


def test_synth_is_redone_unless_a_finished_synth_with_the_same_options_made_the_clips(tmp_path):
    pipeline = Pipeline(real=[], root=tmp_path)
    options = {"commands": ["on"], "per_command": 2, "unknown_words": [], "sentences": 1}
    assert pipeline.synthesize(**options) == 3
    marker = json.loads((pipeline.synth_dir / synth.MARKER).read_text())
    assert marker["commands"] == ["on"] and marker["seed"] == 1234 and marker["clips"] == 3
    assert pipeline.synthesize(**options) == 0  # finished, same options: kept
    (pipeline.synth_dir / synth.MARKER).unlink()  # as after an interrupted synth
    assert pipeline.synthesize(**options) == 3
    (pipeline.synth_dir / synth.MARKER).write_text('{"commands": ["on"], "per_')  # cut short
    assert pipeline.synthesize(**options) == 3
    (pipeline.synth_dir / synth.MARKER).write_text("[]")  # JSON, but no record of options
    assert pipeline.synthesize(**options) == 3
    assert pipeline.synthesize(**{**options, "commands": ["off"]}) == 3
    assert sorted(p.parent.name for p in pipeline.synth_dir.glob("*/*.wav")) == [
        "_speech_", "off", "off",
    ]  # fmt: skip


def test_the_labels_are_ones_the_protocol_can_send():
    assert all(protocol.LABEL.fullmatch(label) for label in LABELS)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--words", "../escape"], "'../escape' cannot be a command"),
        (["--words", "a/b"], "'a/b' cannot be a command"),
        (["--words", ""], "'' cannot be a command"),
        (["--words", "two words"], "'two words' cannot be a command"),
        (["--words", "Yes"], "'Yes' cannot be a command"),
        (["--words", "seventeen_letters"], "'seventeen_letters' cannot be a command"),
        (["--words", "_unknown_"], "'_unknown_' cannot be a command: silence, unknown"),
        (["--words", "silence"], "'silence' cannot be a command: silence, unknown"),
        (["--words", "lamp", "fan", "lamp"], "given more than once: lamp"),
    ],
)
def test_synth_refuses_words_that_cannot_be_commands(tmp_path, capsys, options, message):
    assert main(["synth", "--output", str(tmp_path / "out"), *options]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert not list(tmp_path.rglob("*.wav"))


@pytest.mark.parametrize(
    "labels, message",
    [
        (("silence", "unknown", "Lamp", "fan"), "'Lamp' cannot be a command: use 1-16 characters"),
        (("silence", "unknown", "desk fan"), "'desk fan' cannot be a command"),
        (("silence", "unknown", "lamp", "lamp"), "command words given more than once: lamp"),
        (("unknown", "silence", "lamp"), "must be 'silence', 'unknown' and then the commands"),
        (("silence", "unknown"), "must be 'silence', 'unknown' and then the commands"),
        (("silence", "unknown", *(f"w{n}" for n in range(15))), "has 17 labels; "),
    ],
)
def test_every_step_refuses_labels_the_board_cannot_use_before_reading_clips(
    speech, tmp_path, capsys, monkeypatch, labels, message
):
    use_labels(monkeypatch, labels)
    line = 1 + next(
        n
        for n, text in enumerate(
            (REPO_ROOT / "model_training/settings.py").read_text().splitlines()
        )
        if text.startswith("LABELS")
    )
    pipeline = ["--data-dir", str(tmp_path), "--real", str(speech), "--scale", "0.001"]
    for step in (["index", str(speech)], ["features", *pipeline], ["train", *pipeline]):
        assert main(step) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: model_training/settings.py:{line}: LABELS")
        assert message in error
    assert not list(tmp_path.iterdir())  # no features cached, no run folder


def finished_run(
    root: Path, tiny_model: Path, run: str = "r", labels: tuple[str, ...] = LABELS
) -> Pipeline:
    """A run folder as train and quantize leave it, with the tiny model as its int8 model."""
    pipeline = Pipeline(real=[], root=root, run=run)
    pipeline.run_dir.mkdir(parents=True)
    pipeline.checkpoint_path.write_bytes(b"a checkpoint")
    tflite = tiny_model.read_bytes()
    pipeline.tflite_path.write_bytes(tflite)
    checkpoint = hashlib.sha256(b"a checkpoint").hexdigest()
    training = {"architecture": "ds_cnn", "parameters": 1, "macs": 1, "best_epoch": 1,
                "train_examples": 1, "validation_examples": 1,
                "checkpoint_sha256": checkpoint,
                "validation_clips_per_label": {name: 1 for name in labels}}  # fmt: skip
    report = {name: {"precision": 1.0, "recall": 1.0, "support": 1} for name in labels}
    scores = {"test_clips": 8, "float": {"accuracy": 1.0, **report}, "tflm_equals_litert": True,
              "int8": {"accuracy": 1.0, **report}, "checkpoint_sha256": checkpoint,
              "tflite_sha256": hashlib.sha256(tflite).hexdigest()}  # fmt: skip
    (pipeline.run_dir / "training.json").write_text(json.dumps(training))
    (pipeline.run_dir / "quantize.json").write_text(json.dumps(scores))
    return pipeline


def export_args(pipeline: Pipeline, out: Path) -> list[str]:
    return ["export", "--data-dir", str(pipeline.root), "--run", pipeline.run,
            "--real", str(out), "--models-dir", str(out / "m"),
            "--firmware-dir", str(out / "fw")]  # fmt: skip


def test_export_writes_a_run_whose_files_come_from_one_checkpoint(tiny_model, tmp_path):
    pipeline = finished_run(tmp_path / "data", tiny_model)
    assert main(export_args(pipeline, tmp_path / "out")) == 0
    card = json.loads((tmp_path / "out" / "m" / "kws_int8.json").read_text())
    assert card["sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert card["data"]["commands_without_clips"] == {"validation": [], "test": []}


def test_export_and_recipe_refuse_to_replace_a_model_for_other_labels_unless_told(
    tiny_model, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    assert main(export_args(finished_run(tmp_path / "data", tiny_model), out)) == 0
    exported = _files(out)
    labels = ("silence", "unknown", "lamp", "fan", "kettle", "radio", "blinds", "heater")
    use_labels(monkeypatch, labels)
    lamp = finished_run(tmp_path / "data", tiny_model, run="lamp", labels=labels)
    capsys.readouterr()
    assert main(export_args(lamp, out)) == 1
    error = capsys.readouterr().err
    assert (
        f"{out / 'm' / 'kws_int8.json'} is the card of a model for on, off, up, down, go, stop, "
        "and this run's model is for lamp, fan, kettle, radio, blinds, heater:"
    ) in error
    assert "--models-dir DIR --firmware-dir DIR" in error and "--replace" in error
    assert _files(out) == exported
    recipe = ["recipe", *export_args(lamp, out)[1:]]
    recipe[recipe.index("--run") + 1] = "again"
    assert main(recipe) == 1  # before it synthesizes and trains
    assert "is the card of a model for on, off" in capsys.readouterr().err
    assert (
        not (lamp.root / "synth").exists()
        and not (lamp.root / "runs" / "again" / "best.keras").exists()
    )
    assert main([*export_args(lamp, out), "--replace"]) == 0
    assert json.loads((out / "m" / "kws_int8.json").read_text())["labels"] == list(labels)


def test_a_full_disk_midway_through_export_leaves_every_file_of_the_previous_model(
    tiny_model, tmp_path, capsys, monkeypatch
):
    """All the files change together or none does: the firmware's array of one model never
    sits beside the settings header or card of another."""
    out = tmp_path / "out"
    assert main(export_args(finished_run(tmp_path / "data", tiny_model), out)) == 0
    exported = _files(out)
    use_labels(monkeypatch, OTHER_LABELS)  # a new card, settings and thresholds header
    other = finished_run(tmp_path / "data", tiny_model, run="other", labels=OTHER_LABELS)
    capsys.readouterr()
    with file_size_limit(8192):  # the model and its card fit, the C array does not
        assert main([*export_args(other, out), "--replace"]) == 1
    array = out / "fw" / "kws_model_data.cc"
    assert f"{array}: cannot write it (File too large); no file written" in (
        capsys.readouterr().err
    )
    assert _files(out) == exported  # no file changed, and none left beside them


def test_export_into_a_folder_that_cannot_be_made_says_so(tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fw").write_text("a file where the firmware folder would be\n")
    assert main(export_args(finished_run(tmp_path / "data", tiny_model), out)) == 1
    error = capsys.readouterr().err
    assert f"{out / 'fw'}: cannot make the folder (File exists); no file written" in error
    assert not (out / "m" / "kws_int8.json").exists()


def _files(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` and its bytes."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_commands_without_validation_or_test_clips_are_warned_about_and_in_the_card(
    speech, tiny_model, tmp_path, capsys
):
    tiny_pipeline(speech, tmp_path).features()  # the folder has only "on" and "stop"
    error = capsys.readouterr().err
    for split in ("validation", "test"):
        assert f"WARNING: no {split} clips of off, up, down, go:" in error
    pipeline = finished_run(tmp_path / "data", tiny_model)
    scores = json.loads((pipeline.run_dir / "quantize.json").read_text())
    scores["int8"]["go"]["support"] = 0
    (pipeline.run_dir / "quantize.json").write_text(json.dumps(scores))
    assert main(export_args(pipeline, tmp_path / "out")) == 0
    card = json.loads((tmp_path / "out" / "m" / "kws_int8.json").read_text())
    assert card["data"]["commands_without_clips"] == {"validation": [], "test": ["go"]}
    assert "WARNING: no test clips of go: the test accuracy does not measure them" in (
        capsys.readouterr().err
    )


def test_export_refuses_a_model_quantized_from_another_checkpoint(tiny_model, tmp_path, capsys):
    pipeline = finished_run(tmp_path / "data", tiny_model)
    pipeline.checkpoint_path.write_bytes(b"trained again")  # as `train` after `quantize`
    training = json.loads((pipeline.run_dir / "training.json").read_text())
    training["checkpoint_sha256"] = hashlib.sha256(b"trained again").hexdigest()
    (pipeline.run_dir / "training.json").write_text(json.dumps(training))
    assert main(export_args(pipeline, tmp_path / "out")) == 1
    assert "run quantize again" in capsys.readouterr().err
    assert not (tmp_path / "out" / "m").exists()


def test_export_refuses_a_model_whose_dense_layer_has_a_scale_per_output(tmp_path, capsys):
    per_channel = tmp_path / "per_channel.tflite"  # as `quantize` made it before
    per_channel.write_bytes(tiny_kws_model.convert(per_channel_dense=True))
    pipeline = finished_run(tmp_path / "data", per_channel)
    assert main(export_args(pipeline, tmp_path / "out")) == 1
    error = capsys.readouterr().err
    assert f"{pipeline.tflite_path}: FULLY_CONNECTED weights with one scale per output" in error
    assert "run `python -m model_training quantize --run r` again" in error
    assert not (tmp_path / "out" / "m").exists()


@pytest.mark.parametrize(
    "missing, message",
    [
        (
            "quantize.json",
            "quantize.json: not a readable record of `quantize` (No such file or directory); "
            "run `python -m model_training quantize --run r`",
        ),
        (
            "training.json",
            "training.json: not a readable record of `train` (No such file or directory); "
            "run `python -m model_training train --run r`",
        ),
    ],
)
def test_export_names_the_step_that_writes_a_missing_file(
    tiny_model, tmp_path, capsys, missing, message
):
    pipeline = finished_run(tmp_path / "data", tiny_model)
    (pipeline.run_dir / missing).unlink()
    assert main(export_args(pipeline, tmp_path / "out")) == 1
    assert message in capsys.readouterr().err


def test_export_names_the_step_that_writes_a_damaged_record(tiny_model, tmp_path, capsys):
    pipeline = finished_run(tmp_path / "data", tiny_model)
    (pipeline.run_dir / "quantize.json").write_text('{"float": ')  # cut short
    assert main(export_args(pipeline, tmp_path / "out")) == 1
    error = capsys.readouterr().err
    assert "quantize.json: not a readable record of `quantize` (not JSON: " in error
    assert error.rstrip().endswith("run `python -m model_training quantize --run r`")
    assert not (tmp_path / "out" / "m").exists()


OTHER_LABELS = ("silence", "unknown", "lamp", "fan", "heat", "cool", "go", "stop")
"""A custom command set with as many labels as the tiny model has outputs, two kept."""


def build_firmware(model_files: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`make model` (model_check.cpp with model_fits.h) on a copy of firmware/ whose model folder
    holds the files of `model_files` instead of the committed ones it replaces."""
    firmware = tmp_path / "firmware"
    shutil.copytree(REPO_ROOT / "firmware", firmware, ignore=shutil.ignore_patterns("__pycache__"))
    for path in model_files.iterdir():
        shutil.copy(path, firmware / "kws" / "src" / "model")
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(firmware), f"BUILD={tmp_path / 'build'}",
         "model"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_export_writes_the_thresholds_header_of_the_models_labels(
    tiny_model, tmp_path, monkeypatch, capsys
):
    use_labels(monkeypatch, OTHER_LABELS)
    pipeline = finished_run(tmp_path / "data", tiny_model, labels=OTHER_LABELS)
    out = tmp_path / "out"
    assert main(export_args(pipeline, out)) == 0
    header = out / "fw" / HEADER_NAME
    assert read_thresholds_header(header) == {
        "silence": 1.0, "unknown": 1.0, **dict.fromkeys(OTHER_LABELS[2:], DEFAULT_THRESHOLD)
    }  # fmt: skip
    assert _card_thresholds(out) == dict.fromkeys(OTHER_LABELS[2:], DEFAULT_THRESHOLD)
    assert "kws_thresholds.h: lamp, fan, heat, cool, go, stop get the default threshold 0.80" in (
        capsys.readouterr().out
    )
    assert "python -m model_training export" in header.read_text().splitlines()[0]

    stale = out / "without_thresholds"  # the committed header, for the default labels
    shutil.copytree(out / "fw", stale, ignore=shutil.ignore_patterns(HEADER_NAME))
    failed = build_firmware(stale, tmp_path / "stale")
    assert failed.returncode != 0
    assert "kws_thresholds.h is for other labels than kws_model_settings.h" in failed.stderr
    built = build_firmware(out / "fw", tmp_path / "exported")
    assert built.returncode == 0, built.stderr
    settings = subprocess.run(
        [tmp_path / "exported" / "build" / "model_check", "settings"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"labels={','.join(OTHER_LABELS)}" in settings.splitlines()


def test_the_firmware_tests_check_a_custom_model_against_the_model_kws_model_names(
    tiny_model, tmp_path, monkeypatch
):
    use_labels(monkeypatch, OTHER_LABELS)
    out = tmp_path / "out"
    assert (
        main(export_args(finished_run(tmp_path / "data", tiny_model, labels=OTHER_LABELS), out))
        == 0
    )
    checkout = tmp_path / "checkout"  # firmware/ with the files copied in, as README step 8 says
    assert build_firmware(out / "fw", checkout).returncode == 0
    shutil.copytree(REPO_ROOT / "assistant" / "models", checkout / "assistant" / "models")
    tests = checkout / "firmware" / "tests" / "test_firmware_model.py"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), "-k",
               "embedded_model_is_the_desktop_model or labels_and_quantization"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    environment.pop("KWS_MODEL", None)
    default = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert default.returncode == 1
    assert (
        f"firmware/kws/src/model/ holds model {model_id(tiny_model.read_bytes())}, "
        f"{checkout / 'assistant' / 'models' / 'kws_int8.tflite'} is model"
    ) in default.stdout
    assert "KWS_MODEL=PATH pytest firmware/tests" in default.stdout
    environment["KWS_MODEL"] = str(out / "m" / "kws_int8.tflite")
    custom = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert custom.returncode == 0, custom.stdout
    assert "2 passed" in custom.stdout


def test_export_keeps_the_chosen_threshold_of_each_command_the_model_still_has(
    tiny_model, tmp_path, monkeypatch
):
    committed = REPO_ROOT / "firmware" / "kws" / "src" / "model" / HEADER_NAME
    out = tmp_path / "out"
    (out / "fw").mkdir(parents=True)
    shutil.copy(committed, out / "fw")
    assert main(export_args(finished_run(tmp_path / "data", tiny_model), out)) == 0
    chosen = read_thresholds_header(committed)
    assert read_thresholds_header(out / "fw" / HEADER_NAME) == chosen  # the labels unchanged
    assert _card_thresholds(out) == {label: chosen[label] for label in LABELS[2:]}

    use_labels(monkeypatch, OTHER_LABELS)
    pipeline = finished_run(tmp_path / "data", tiny_model, run="lamp", labels=OTHER_LABELS)
    assert main([*export_args(pipeline, out), "--replace"]) == 0  # a model for other labels
    header = read_thresholds_header(out / "fw" / HEADER_NAME)
    assert list(header) == list(OTHER_LABELS)
    assert header["go"] == chosen["go"] and header["stop"] == chosen["stop"]
    assert header["lamp"] == header["cool"] == DEFAULT_THRESHOLD
    assert _card_thresholds(out) == {label: header[label] for label in OTHER_LABELS[2:]}


def _card_thresholds(out: Path) -> dict[str, float]:
    """The thresholds of the card `export` wrote into `out`, as the desktop reads them."""
    return load_contract(out / "m" / "kws_int8.tflite").thresholds


def test_quantize_without_a_checkpoint_fails_before_building_features(speech, tmp_path, capsys):
    args = ["quantize", "--data-dir", str(tmp_path), "--run", "none", "--real", str(speech)]
    assert main([*args, "--scale", "0.001"]) == 1
    assert "no trained model" in capsys.readouterr().err
    assert not (tmp_path / "features").exists()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "synthesize", interrupted)
    assert main(["synth", "--output", str(tmp_path)]) == 130
    error = capsys.readouterr().err
    assert error.startswith("interrupted; ") and error.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "0"], "argument --epochs: an integer of 1 or more, not '0'"),
        (
            ["features", "--scale", "nan"],
            "argument --scale: a finite number more than 0, not 'nan'",
        ),
        (["features", "--scale", "-1"], "argument --scale: a finite number more than 0, not '-1'"),
        (
            ["index", "--validation-percent", "150"],
            "argument --validation-percent: a finite number from 0 to 100, not '150'",
        ),
        (["train", "--run", "../other"], "argument --run: a folder's name, without '/'"),
        (["recipe", "--run", ""], "argument --run: a folder's name, without '/'"),
        (["synth", "--seed", "-1"], "argument --seed: an integer from 0 to 4294967295, not '-1'"),
        (["analyze", "--seed", "1.5"], "argument --seed: an integer from 0 to 4294967295"),
        (["synth", "--per-word", "0"], "argument --per-word: an integer of 1 or more, not '0'"),
        (
            ["synth", "--per-unknown-word", "-1"],
            "argument --per-unknown-word: an integer of 0 or more, not '-1'",
        ),
        (["synth", "--sentences", "-2"], "argument --sentences: an integer of 0 or more, not '-2'"),
    ],
)
def test_numbers_out_of_range_and_run_names_that_leave_the_runs_folder_are_refused(
    argv, message, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("KWS_DATA_DIR", str(tmp_path))  # where the steps would write
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_damaged_options_file_of_a_run_is_named_with_what_to_do(tmp_path, capsys):
    run = tmp_path / "runs" / "damaged"
    run.mkdir(parents=True)
    (run / "options.json").write_text("{not json")
    assert main(["quantize", "--data-dir", str(tmp_path), "--run", "damaged"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {run / 'options.json'}: not a readable options file of ")
    assert "remove it and give the run's options again (`train --run damaged ...`)" in error
    assert (run / "options.json").read_text() == "{not json"


def test_a_data_folder_that_is_a_file_is_named_not_a_traceback(speech, tmp_path, capsys):
    data = tmp_path / "data"
    data.write_text("a file")
    args = ["features", "--data-dir", str(data), "--real", str(speech), "--scale", "0.001"]
    assert main(args) == 1
    expected = f"error: {data / 'features'}: cannot use it (Not a directory)\n"
    assert capsys.readouterr().err.endswith(expected)
    assert data.read_text() == "a file"


def test_evaluate_names_a_missing_float_model_before_reading_clips(tiny_model, tmp_path, capsys):
    missing = tmp_path / "best.keras"
    args = ["evaluate", "--model", str(tiny_model), "--keras", str(missing)]
    assert main([*args, "--folder", str(tmp_path / "no clips"), "--output", str(tmp_path)]) == 1
    assert f"error: {missing}: no such float model (a run's best.keras" in capsys.readouterr().err
