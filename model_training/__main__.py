"""`python -m model_training <step>`: one command per step, `recipe` for the whole path."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from model_training import command_line, settings
from model_training.command_line import folder_name, number, percent, seed, whole
from model_training.json_files import read_object
from model_training.settings import FIRMWARE_MODEL_DIR, MODELS_DIR, SHARED_DIR, data_dir

if TYPE_CHECKING:
    from model_training.pipeline import Pipeline


def _recipe_defaults() -> dict:
    """The options that make a run, with the values taken when neither the command line nor
    the run gives them. `train` stores a run's options in its folder (options.json) and the
    later steps take the stored ones unless given again."""
    from model_training.pipeline import Pipeline
    from model_training.train import TrainConfig

    trained = TrainConfig()
    return {
        "architecture": trained.architecture,
        "epochs": trained.epochs,
        "seed": trained.seed,
        "real": None,  # the default folders (pipeline.default_real_folders)
        "scale": 1.0,
        "validation_percent": Pipeline.validation_percent,
        "testing_percent": Pipeline.testing_percent,
    }


def _run_options(args: argparse.Namespace) -> dict:
    """The run's options as given on the command line, else as the run stored them, else the
    recipe's."""
    stored_file = Path(args.data_dir) / "runs" / args.run / "options.json"
    remedy = f"remove it and give the run's options again (`train --run {args.run} ...`)"
    stored = (
        read_object(stored_file, "options file of the run", remedy) if stored_file.exists() else {}
    )
    options = {}
    for name, default in _recipe_defaults().items():
        given = getattr(args, name)
        options[name] = given if given is not None else stored.get(name, default)
    return options


def _pipeline(args: argparse.Namespace, store_options: bool = False) -> Pipeline:
    """The pipeline of `args`' run; `store_options` (train, recipe) writes its options.json."""
    from model_training.examples import Recipe
    from model_training.pipeline import Pipeline
    from model_training.train import TrainConfig

    settings.check_labels(settings.LABELS)
    options = _run_options(args)
    for name, value in options.items():
        setattr(args, name, value)
    config = TrainConfig(architecture=args.architecture, epochs=args.epochs, seed=args.seed)
    recipe = Recipe().scaled(args.scale)
    pipeline = Pipeline(
        root=Path(args.data_dir),
        run=args.run,
        config=config,
        recipe=recipe,
        models_dir=Path(args.models_dir),
        firmware_dir=Path(args.firmware_dir),
        validation_percent=args.validation_percent,
        testing_percent=args.testing_percent,
    )
    pipeline.replace = getattr(args, "replace", False)
    if args.real:
        pipeline.real = [Path(p) for p in args.real]
    if store_options:
        pipeline.run_dir.mkdir(parents=True, exist_ok=True)
        (pipeline.run_dir / "options.json").write_text(json.dumps(options, indent=2))
    return pipeline


def cmd_download(args: argparse.Namespace) -> None:
    from model_training.download import download_speech_commands

    sha256 = None if args.sha256.lower() == "none" else args.sha256
    folder = download_speech_commands(Path(args.data_dir), args.url, sha256)
    print(f"Speech Commands in {folder}")


def cmd_index(args: argparse.Namespace) -> None:
    from model_training import dataset

    settings.check_labels(settings.LABELS)
    clips = dataset.index_folder(args.folder, args.validation_percent, args.testing_percent)
    print(json.dumps(dataset.summary(clips), indent=2))
    if args.output:
        dataset.save_index(clips, args.output)
        print(f"wrote {args.output}")


def cmd_synth(args: argparse.Namespace) -> None:
    from model_training import synth

    count = synth.synthesize(
        args.output,
        commands=args.words,
        per_command=args.per_word,
        per_unknown_word=args.per_unknown_word,
        sentences=args.sentences,
        seed=args.seed,
    )
    print(f"wrote {count} clips to {args.output}")


def cmd_record(args: argparse.Namespace) -> int:
    from model_training.record import record

    return record(
        Path(args.output),
        args.device,
        args.window,
        args.speaker,
        args.words,
        args.takes,
        args.noise,
    )


def cmd_analyze(args: argparse.Namespace) -> None:
    from model_training import analyze

    clip, written = analyze.analyze(args.clip, args.folder, args.output, args.seed)
    print(f"clip: {clip}")
    for path in written:
        print(f"wrote {path}")


def cmd_features(args: argparse.Namespace) -> None:
    training, validation, test = _pipeline(args).features()
    for name, part in (("train", training), ("validation", validation), ("test", test)):
        print(f"{name}: {len(part.labels)} examples, features {part.features.shape}")


def cmd_train(args: argparse.Namespace) -> None:
    summary = _pipeline(args, store_options=True).train()
    print(
        f"best epoch {summary['best_epoch']}: validation balanced accuracy "
        f"{summary['val_balanced_accuracy']:.4f}; {summary['parameters']} parameters, "
        f"{summary['macs']} MACs"
    )


def cmd_quantize(args: argparse.Namespace) -> None:
    report = _pipeline(args).quantize()
    print(
        f"TFLM == LiteRT: {report['tflm_equals_litert']}; int8 - float: "
        f"{report['int8_minus_float_points']:+.2f} points"
    )


def cmd_export(args: argparse.Namespace) -> None:
    card = _pipeline(args).export()
    print(
        f"model {card['model_id']}: {card['model_bytes']} bytes, arena {card['arena_bytes']} "
        f"bytes, {card['macs']} MACs"
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from model_training.evaluate_folder import evaluate_folder

    evaluate_folder(args.model, args.folder, args.split, args.keras, Path(args.output))


def cmd_recipe(args: argparse.Namespace) -> None:
    pipeline = _pipeline(args, store_options=True)
    pipeline.check_replacing()  # before the training, not after it
    start = time.monotonic()
    seconds = {}
    steps = [
        ("synth", pipeline.synthesize),
        ("features", pipeline.features),
        ("train", pipeline.train),
        ("quantize", pipeline.quantize),
        ("export", pipeline.export),
    ]
    for name, step in steps:
        began = time.monotonic()
        print(f"== {name}", flush=True)
        step()
        seconds[name] = round(time.monotonic() - began, 1)
        print(f"== {name} done in {seconds[name]:.0f} s", flush=True)
    seconds["total"] = round(time.monotonic() - start, 1)
    (pipeline.run_dir / "recipe.json").write_text(json.dumps({"seconds": seconds}, indent=2))
    print(f"recipe done in {seconds['total']:.0f} s")


def _add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=str(data_dir()),
        help="cache, runs, synth clips (default: $KWS_DATA_DIR, else data/ here: %(default)s)",
    )
    parser.add_argument(
        "--run",
        type=folder_name,
        default="default",
        help="name of the run folder (default: %(default)s)",
    )
    run = "default: the run's (stored by train), else the recipe's"
    parser.add_argument("--architecture", choices=["ds_cnn", "baseline"], help=run)
    parser.add_argument("--epochs", type=whole(1), help=run)
    parser.add_argument("--seed", type=seed, help=run)
    parser.add_argument(
        "--real", nargs="+", help=f"folders of speech in Speech Commands layout; {run} (../shared)"
    )
    parser.add_argument(
        "--scale", type=number(0, above=True), help=f"share of the example counts; {run} (1)"
    )
    parser.add_argument("--validation-percent", type=percent, help=run)
    parser.add_argument("--testing-percent", type=percent, help=run)
    parser.add_argument(
        "--models-dir",
        default=str(MODELS_DIR),
        help="model and card go here (default: %(default)s)",
    )
    parser.add_argument(
        "--firmware-dir",
        default=str(FIRMWARE_MODEL_DIR),
        help="C files go here (default: %(default)s)",
    )


def parser() -> argparse.ArgumentParser:
    from model_training.download import SPEECH_COMMANDS_SHA256, SPEECH_COMMANDS_URL
    from model_training.record import MIN_NOISE_SECONDS, MIN_WINDOW
    from model_training.settings import COMMANDS

    top = argparse.ArgumentParser(prog="python -m model_training", description=__doc__)
    steps = top.add_subparsers(dest="step", required=True)

    p = steps.add_parser("download", help="fetch and unpack Speech Commands v0.02")
    p.add_argument("--url", default=SPEECH_COMMANDS_URL, help="default: %(default)s")
    p.add_argument(
        "--sha256",
        default=SPEECH_COMMANDS_SHA256,
        help="expected checksum ('none': skip; default: %(default)s)",
    )
    p.add_argument(
        "--data-dir",
        default=str(data_dir()),
        help="the archive goes here, unpacked in speech_commands/ (default: %(default)s)",
    )
    p.set_defaults(func=cmd_download)

    p = steps.add_parser("index", help="clips, speakers, durations and split of a folder")
    p.add_argument(
        "folder",
        nargs="?",
        default=str(SHARED_DIR / "speech_commands_subset"),
        help="a folder in the Speech Commands layout (default: %(default)s)",
    )
    split = "share of the speakers (SHA1 rule; the folder's own lists win; default: %(default)s)"
    p.add_argument("--validation-percent", type=percent, default=10.0, help=split)
    p.add_argument("--testing-percent", type=percent, default=20.0, help=split)
    p.add_argument("--output", help="write the index as JSON here")
    p.set_defaults(func=cmd_index)

    p = steps.add_parser("synth", help="espeak-ng clips in Speech Commands layout")
    p.add_argument("--output", default=str(data_dir() / "synth"), help="default: %(default)s")
    p.add_argument(
        "--words", nargs="+", default=list(COMMANDS), help="command words (default: %(default)s)"
    )
    p.add_argument("--per-word", type=whole(1), default=120, help="clips per command (%(default)s)")
    p.add_argument(
        "--per-unknown-word", type=whole(0), default=8, help="clips per other word (%(default)s)"
    )
    p.add_argument(
        "--sentences", type=whole(0), default=300, help="sentences without a command (%(default)s)"
    )
    p.add_argument("--seed", type=seed, default=0, help="default: %(default)s")
    p.set_defaults(func=cmd_synth)

    p = steps.add_parser("record", help="your own takes of words (or the room's noise)")
    p.add_argument("--output", required=True, help="the folder (Speech Commands layout)")
    p.add_argument("--speaker", help="who speaks (the split is by speaker: one name each)")
    p.add_argument(
        "--words", nargs="+", default=list(COMMANDS), help="the words (default: %(default)s)"
    )
    p.add_argument("--takes", type=whole(1), default=10, help="takes of each word (%(default)s)")
    p.add_argument(
        "--device",
        default="default",
        help="the microphone, as microphone.device names it: `assistant devices` lists them "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--window",
        type=number(MIN_WINDOW),
        default=2.0,
        help=f"seconds recorded per take, {MIN_WINDOW:g} or more: room for a clip's second "
        "(%(default)s)",
    )
    p.add_argument(
        "--noise",
        type=number(MIN_NOISE_SECONDS),
        metavar="SECONDS",
        help="record the room's noise this long into _background_noise_/ instead of words "
        f"({MIN_NOISE_SECONDS:g} or more)",
    )
    p.set_defaults(func=cmd_record)

    p = steps.add_parser("analyze", help="the article's figures for a clip and a data set")
    p.add_argument("--clip", help="a 16 kHz mono WAV file (default: a random clip of --folder)")
    p.add_argument(
        "--folder",
        default=str(SHARED_DIR / "speech_commands_subset"),
        help="Speech Commands layout folder whose distribution is drawn (default: %(default)s)",
    )
    p.add_argument("--output", default=str(data_dir() / "analysis"), help="default: %(default)s")
    p.add_argument("--seed", type=seed, default=None, help="picks the random clip")
    p.set_defaults(func=cmd_analyze)

    for name, func, text in (
        ("features", cmd_features, "compute and cache the frontend features"),
        ("train", cmd_train, "train and keep the best checkpoint"),
        ("quantize", cmd_quantize, "int8 TFLite, checked in TFLM and LiteRT"),
        ("export", cmd_export, "write the model, its card and the firmware's C files"),
        ("recipe", cmd_recipe, "the whole path: synth, features, train, quantize, export"),
    ):
        p = steps.add_parser(name, help=text)
        _add_pipeline_options(p)
        if name in ("export", "recipe"):
            p.add_argument(
                "--replace",
                action="store_true",
                help="replace a model for other labels in --models-dir (refused without it)",
            )
        p.set_defaults(func=func)

    p = steps.add_parser("evaluate", help="per-class precision/recall, confusion matrix")
    p.add_argument("--model", default=None, help="int8 .tflite (default: the committed model)")
    p.add_argument("--keras", default=None, help="float .keras model to compare with")
    p.add_argument(
        "--folder", nargs="+", default=None, help="Speech Commands layout folders (../shared)"
    )
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "validation", "test", "all"],
        help="whose clips: a split's speakers, or all (default: %(default)s)",
    )
    p.add_argument("--output", default=str(data_dir() / "evaluation"), help="default: %(default)s")
    p.set_defaults(func=cmd_evaluate)
    return top


def main(argv: list[str] | None = None) -> int:
    return command_line.run(parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
