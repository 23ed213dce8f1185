"""`python -m model_training.streaming build|evaluate|thresholds` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from model_training import command_line, settings
from model_training.command_line import number, seed, share, whole
from model_training.settings import FIRMWARE_MODEL_DIR, REPO_ROOT, SHARED_DIR, data_dir
from model_training.streaming import REPORTING_SPLIT, STREAM_SPLITS

DEFAULT_DATA = SHARED_DIR / "speech_commands_subset"
DEFAULT_STREAMS = data_dir() / "streams"
DEFAULT_MODEL = REPO_ROOT / "assistant" / "models" / "kws_int8.tflite"


def _thresholds(text: str) -> dict:
    """An argparse type: --thresholds, a JSON object (each value is checked with the rest of
    the recognizer's settings)."""
    try:
        thresholds = json.loads(text)
    except ValueError:
        thresholds = None
    if not isinstance(thresholds, dict):
        raise argparse.ArgumentTypeError(
            f"""a JSON object of a threshold per command, such as '{{"on": 0.85}}', not {text!r}"""
        )
    return thresholds


def _add_recognizer_options(parser: argparse.ArgumentParser) -> None:
    """The recognizer's options (--average-window-ms, ...): the `microphone:` section's settings
    of the same names, with their bounds and defaults."""
    from assistant.microphone_settings import MICROPHONE_SETTINGS

    names = ("average_window_ms", "suppression_ms", "minimum_count", "inference_every")
    for setting in (s for s in MICROPHONE_SETTINGS if s.name in names):
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            type=whole(int(setting.minimum), int(setting.maximum)),
            default=setting.default,
            help=f"{setting.help}; as microphone.{setting.name} (default: %(default)s)",
        )


def _recognizer_settings(args):
    from assistant.pipeline import RecognizerSettings

    thresholds = args.thresholds or args.threshold
    return RecognizerSettings(
        thresholds, args.average_window_ms, args.suppression_ms, args.minimum_count
    )


def cmd_build(args) -> None:
    from model_training.streaming.build import StreamRecipe, build_stream

    settings.check_labels(settings.LABELS)
    recipe = StreamRecipe(
        minutes=args.minutes,
        snr_db=tuple(args.snr),
        command_share=args.command_share,
        unknown_share=args.unknown_share,
        seed=args.seed,
        split=args.split,
    )
    out = Path(args.out)
    truth = build_stream(args.data, args.noise or args.data, out, recipe)
    kinds = {}
    for event in truth.events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    print(
        f"{out.with_suffix('.wav')}: {truth.duration_ms / 60000:.1f} min of {truth.split}-split "
        f"speakers, events {kinds}"
    )
    print(f"ground truth: {out.with_suffix('.json')}")


def cmd_evaluate(args) -> None:
    from model_training.streaming.evaluate import evaluate

    report = evaluate(
        args.streams, args.model, args.out, _recognizer_settings(args), args.inference_every
    )
    print(format_report(report))
    print(f"report: {Path(args.out) / 'streaming_report.json'}; plot: {report['plot']}")


def format_report(report: dict) -> str:
    from model_training.streaming.evaluate import ceiling_lines

    at = report["at_thresholds"]
    splits = " and ".join(report.get("splits", [REPORTING_SPLIT]))
    lines = [
        f"{at['hours']:.2f} h of streams ({splits}-split speakers), thresholds {at['thresholds']}",
        f"{'command':<8} {'events':>6} {'FRR %':>6} {'FA':>4} {'FA/h':>6}",
    ]
    for command, row in at["per_command"].items():
        lines.append(
            f"{command:<8} {row['events']:>6} {100 * row['false_reject_rate']:>6.1f} "
            f"{row['false_accepts']:>4} {row['false_accepts_per_hour']:>6.2f}"
        )
    lines.append(
        f"{'all':<8} {sum(r['events'] for r in at['per_command'].values()):>6} "
        f"{100 * at['false_reject_rate']:>6.1f} "
        f"{sum(r['false_accepts'] for r in at['per_command'].values()):>4} "
        f"{at['false_accepts_per_hour']:>6.2f}"
    )
    by_snr = ", ".join(
        f"{snr} dB {100 * rate:.0f}%" for snr, rate in at["false_reject_rate_by_snr_db"].items()
    )
    lines.append(f"false-reject rate by SNR: {by_snr}")
    latency = at["latency_ms"]
    lines.append(
        f"latency after the word ends: median {latency['median']:.0f} ms, p90 "
        f"{latency['p90']:.0f} ms"
        if not math.isnan(latency["median"])  # NaN when no command was accepted
        else "latency after the word ends: no command was accepted"
    )
    lines.append("commands whose own score reaches a level (the most a threshold there accepts):")
    lines += [f"  {name}: {shares}" for name, shares in ceiling_lines(report["ceiling"])]
    return "\n".join(lines)


def cmd_thresholds(args) -> None:
    """Choose the thresholds, and write them into the card of the model evaluated (and with
    --config, --header into those files) once every destination has been checked: all of
    them, or none when one cannot be written."""
    from assistant.atomic_files import write_all_or_none_explained
    from assistant.model_files import model_card_path
    from model_training.json_files import read_object
    from model_training.streaming.thresholds import (
        HEADER_NAME,
        REPORT_REMEDY,
        card_text,
        card_with_chosen_thresholds,
        check_tuning_report,
        choose_thresholds,
        config_with_thresholds,
        header_path,
        thresholds_header,
    )

    report_path = Path(args.report)
    report = read_object(report_path, "evaluation report", REPORT_REMEDY)
    check_tuning_report(report, report_path)
    budget = args.max_false_accepts_per_hour
    choice = choose_thresholds(report, budget)
    print(format_choice(choice, budget))
    card_path = model_card_path(report["model"])
    card = card_with_chosen_thresholds(card_path, choice.thresholds, report.get("model_sha256"))
    writes = {card_path: (card_text(card), "(thresholds), which the desktop uses")}
    if args.config:
        config = Path(args.config)
        text = config_with_thresholds(config, choice.thresholds)
        writes[config] = (text, "(microphone.thresholds), overriding the card's")
    if args.header:
        header = header_path(args.header, card["labels"])
        source = "/".join(report_path.parts[-2:])  # the tuning evaluation's folder and file
        writes[header] = (thresholds_header(card["labels"], choice.thresholds, source), "")
    write_all_or_none_explained({path: text for path, (text, _) in writes.items()})
    for path, (_, what) in writes.items():
        print(f"written to {path} {what}".rstrip())
    if not args.header:
        print(
            f"NOTE: the board's {HEADER_NAME} still holds the thresholds it had: write these "
            "there too with --header FOLDER, the folder `export` wrote the model's firmware "
            f"files into (the committed model's: {FIRMWARE_MODEL_DIR.relative_to(REPO_ROOT)}); "
            "the next `export` into those folders writes the card's into it",
            file=sys.stderr,
        )


def format_choice(choice, budget: float) -> str:
    """The chosen thresholds, what they gave on the tuning streams, and what those can show."""
    from model_training.streaming.thresholds import ZERO_COUNT_BOUND

    chosen = ", ".join(f"{k}={v:.2f}" for k, v in choice.thresholds.items())
    as_json = json.dumps({k: round(v, 2) for k, v in choice.thresholds.items()})
    lines = [
        f"chosen thresholds: {chosen}",
        f"  (for evaluate on the test streams: --thresholds '{as_json}')",
        f"tuning streams: {choice.hours:.2f} h; a budget of {budget:g} false accepts per hour "
        f"allows {choice.allowed_false_accepts} over them, all commands together",
        f"on the tuning streams (in-sample, optimistic): {choice.false_accepts} false accepts, "
        f"{100 * choice.mean_false_reject_rate:.1f}% of each command missed on average",
    ]
    if choice.false_accepts > choice.allowed_false_accepts:
        lines.append("WARNING: even the highest swept thresholds pass the budget")
    if budget > 0 and choice.hours < ZERO_COUNT_BOUND / budget:
        lines.append(
            f"NOTE: {choice.hours:.2f} h cannot show {budget:g} false accepts per hour: none "
            f"at all only bounds the rate below {ZERO_COUNT_BOUND / choice.hours:.1f} per hour "
            f"(95%); {ZERO_COUNT_BOUND / budget:g} h of tuning streams can (more `build --split "
            "validation --command-share 0 --unknown-share 0.4` streams, other seeds)"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m model_training.streaming", description=__doc__)
    steps = top.add_subparsers(dest="step", required=True)

    build = steps.add_parser("build", help="mix a long stream with its ground truth")
    build.add_argument(
        "--data", default=str(DEFAULT_DATA), help="Speech Commands folder (default: %(default)s)"
    )
    build.add_argument("--noise", help="folder holding _background_noise_/ (default: --data)")
    build.add_argument(
        "--out",
        default=str(DEFAULT_STREAMS / "mixed"),
        help="path without .wav (default: %(default)s)",
    )
    build.add_argument(
        "--minutes", type=number(0, above=True), default=60.0, help="default: %(default)s"
    )
    build.add_argument(
        "--snr", type=number(), nargs="+", default=[5.0, 10.0, 20.0], help="dB (default: 5 10 20)"
    )
    build.add_argument(
        "--command-share",
        type=share,
        default=0.35,
        help="share of the events placed that are command words (default: %(default)s)",
    )
    build.add_argument(
        "--unknown-share",
        type=share,
        default=0.3,
        help="share that are other words; the rest are sentences (default: %(default)s)",
    )
    build.add_argument("--seed", type=seed, default=0, help="default: %(default)s")
    build.add_argument(
        "--split",
        choices=STREAM_SPLITS,
        default=REPORTING_SPLIT,
        help="whose words: validation speakers to tune thresholds, test speakers to report "
        "(default: %(default)s)",
    )
    build.set_defaults(func=cmd_build)

    evaluate = steps.add_parser("evaluate", help="run the pipeline over streams and report")
    evaluate.add_argument("streams", nargs="+", help="stream WAVs (their .json beside them)")
    default = "default: %(default)s"
    evaluate.add_argument("--model", default=str(DEFAULT_MODEL), help=default)
    evaluate.add_argument("--out", default=str(data_dir() / "streaming"), help=default)
    evaluate.add_argument(
        "--threshold",
        type=number(0.0, 1.0),
        default=0.8,
        help="of every command, 0 to 1, when --thresholds is not given (default: %(default)s)",
    )
    evaluate.add_argument(
        "--thresholds", type=_thresholds, help="per command, JSON: '{\"on\": 0.85}'"
    )
    _add_recognizer_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    thresholds = steps.add_parser(
        "thresholds", help="choose thresholds from an evaluation of validation-speaker streams"
    )
    thresholds.add_argument(
        "--report",
        default=str(data_dir() / "streaming" / "streaming_report.json"),
        help="evaluate's report of validation-speaker streams (default: %(default)s)",
    )
    thresholds.add_argument(
        "--max-false-accepts-per-hour",
        type=number(0),
        default=0.5,
        help="budget of all commands together over the report's streams (default: %(default)s)",
    )
    thresholds.add_argument(
        "--config",
        help="config file whose microphone.thresholds to set too, overriding the card's",
    )
    thresholds.add_argument(
        "--header", help=f"firmware header or folder (e.g. {FIRMWARE_MODEL_DIR})"
    )
    thresholds.set_defaults(func=cmd_thresholds)
    return top


def main(argv: list[str] | None = None) -> int:
    return command_line.run(parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
