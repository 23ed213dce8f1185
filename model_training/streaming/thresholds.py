"""Choose each command's threshold from the sweep over validation-speaker (tuning) streams; what
the model's card, the config and the firmware header become with them, each checked before any
is written."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from assistant.model_files import EXPORT_COMMAND, THRESHOLDS_COMMAND
from assistant.recognizer import command_labels
from assistant.yaml_lines import YamlSyntaxError, load_located
from model_training.settings import FIRMWARE_MODEL_DIR, REPO_ROOT
from model_training.streaming import REPORTING_SPLIT, TUNING_SPLIT

HEADER_NAME = "kws_thresholds.h"
REPORT_REMEDY = "give the streaming_report.json `evaluate` wrote (its --out folder)"
"""What to give `thresholds --report` instead of a file that is no evaluation report."""


ZERO_COUNT_BOUND = 3.0
"""With no false accept in T hours, the rate is below 3/T per hour with 95% confidence
(-ln 0.05 = 3.0): the hours of tuning streams a budget needs before meeting it means anything."""


@dataclass(frozen=True)
class Choice:
    """Thresholds chosen on tuning streams, and what they gave there (in-sample, optimistic)."""

    thresholds: dict[str, float]
    hours: float
    allowed_false_accepts: int
    """The budget in false accepts over the tuning streams, all commands together."""
    false_accepts: int
    mean_false_reject_rate: float
    """Over the commands, each counting the same whatever its number of words."""


def check_tuning_report(report: dict, path: str | Path) -> None:
    """Refuse a report of streams other than validation-speaker ones: thresholds chosen on the
    test streams would then be reported on the audio that chose them; and a file that is no
    streaming evaluation report (without its model and its sweep of thresholds)."""
    if not isinstance(report.get("model"), str) or not report.get("sweep"):
        raise ValueError(
            f"{path}: not a streaming evaluation report (no model or no sweep of thresholds); "
            f"{REPORT_REMEDY}"
        )
    splits = report.get("splits", [f"{REPORTING_SPLIT} (streams that do not record their split)"])
    if splits != [TUNING_SPLIT]:
        raise ValueError(
            f"{path}: an evaluation of {' and '.join(splits)}-split streams; thresholds are "
            f"chosen on {TUNING_SPLIT}-speaker streams only, so that the test streams stay held "
            f"out: build them with `build --split {TUNING_SPLIT}`, run `evaluate` on them alone "
            "and pass its report"
        )


def _rows(sweep: list[dict], command: str) -> list[tuple[float, int, Fraction]]:
    """(threshold, false accepts, false-reject rate) of one command, lowest threshold first."""
    rows = []
    for outcome in sweep:
        row = outcome["per_command"][command]
        rejected = round(row["false_reject_rate"] * row["events"])
        rows.append(
            (outcome["thresholds"], row["false_accepts"], Fraction(rejected, row["events"]))
        )
    return rows


def choose_thresholds(report: dict, max_false_accepts_per_hour: float = 0.5) -> Choice:
    """One swept threshold per command: the false accepts of all commands together stay within
    the budget over the report's hours (floor(budget x hours) of them), and the mean false-reject
    rate over the commands is the lowest (ties: fewer false accepts, then lower thresholds).
    When even the highest thresholds give more, the budget becomes what they give."""
    if max_false_accepts_per_hour < 0:
        raise ValueError(f"max false accepts per hour {max_false_accepts_per_hour}: give 0 or more")
    sweep = sorted(report["sweep"], key=lambda outcome: outcome["thresholds"])
    hours, commands = sweep[0]["hours"], list(sweep[0]["per_command"])
    unheard = [c for c in commands if not sweep[0]["per_command"][c]["events"]]
    if unheard:
        raise ValueError(
            f"the streams hold no {', '.join(unheard)}: build a stream from a folder with "
            "validation-split clips of it (`python -m model_training.streaming build --data "
            "FOLDER --split validation`, without --command-share 0; a stream a folder) and "
            "evaluate it beside the others (evaluate takes several streams)"
        )
    rows = {command: _rows(sweep, command) for command in commands}
    allowed = math.floor(max_false_accepts_per_hour * hours + 1e-9)
    budget = max(allowed, sum(min(fa for _, fa, _ in r) for r in rows.values()))
    # Over the commands so far: false accepts used -> (sum of their false-reject rates, choice).
    best: dict[int, tuple[Fraction, dict[str, float]]] = {0: (Fraction(0), {})}
    for command, options in rows.items():
        following: dict[int, tuple[Fraction, dict[str, float]]] = {}
        for used, (missed, chosen) in sorted(best.items()):
            for threshold, false_accepts, rate in options:
                total = used + false_accepts
                if total <= budget and (
                    total not in following or missed + rate < following[total][0]
                ):
                    following[total] = (missed + rate, {**chosen, command: threshold})
        best = following
    used, (missed, chosen) = min(best.items(), key=lambda item: (item[1][0], item[0]))
    return Choice(chosen, hours, allowed, used, float(missed) / len(commands))


def card_with_thresholds(card: Mapping, thresholds: Mapping[str, float]) -> dict:
    """The model card `card` with `thresholds` (in thousandths, as the recognizer and the
    firmware's header take them) after its labels, replacing any it had."""
    entries = [(key, value) for key, value in card.items() if key != "thresholds"]
    at = [key for key, _ in entries].index("labels") + 1
    chosen = {label: round(value, 3) for label, value in thresholds.items()}
    return dict([*entries[:at], ("thresholds", chosen), *entries[at:]])


def card_with_chosen_thresholds(
    path: str | Path, thresholds: Mapping[str, float], model_sha256: str | None
) -> dict:
    """The model card at `path` with `thresholds`, to write in its place. ValueError when it is
    not the card of the model evaluated: its sha256 is not `model_sha256` (which a report made
    before it was recorded lacks), or its commands are not those the thresholds are for."""
    path = Path(path)
    again = "Evaluate the model there again and choose from that report"
    try:
        card = json.loads(path.read_text())
        commands = command_labels(card["labels"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: cannot read the card of the model evaluated ({error!r}); export the model "
            f"again with `{EXPORT_COMMAND}`, which writes it and its card. {again}"
        ) from None
    if model_sha256 is not None and card.get("sha256") != model_sha256:
        raise ValueError(
            f"{path} is the card of another model (sha256 {card.get('sha256')}) than the one "
            f"evaluated (sha256 {model_sha256}): exported again since? {again}"
        )
    if set(thresholds) != set(commands):
        raise ValueError(
            f"{path} is the card of a model for {', '.join(commands)}, and the report chose "
            f"thresholds for {', '.join(thresholds)}: the report is of another model than the "
            f"one there (exported again since?). {again}"
        )
    return card_with_thresholds(card, thresholds)


def card_text(card: Mapping) -> str:
    """A model card as its file holds it."""
    return json.dumps(card, indent=2) + "\n"


def header_path(given: str | Path, labels: Sequence[str]) -> Path:
    """The thresholds header `--header` names (the header, or the folder to hold it), for a
    model of `labels`. ValueError when its folder is missing, or it is the header of a model
    for other labels."""
    header = Path(given)
    if header.is_dir():
        header = header / HEADER_NAME
    if not header.parent.is_dir():
        raise ValueError(
            f"{header.parent}: no such folder for {header.name}; give the folder `export` wrote "
            "the model's firmware files into (its --firmware-dir; the committed model's: "
            f"{FIRMWARE_MODEL_DIR.relative_to(REPO_ROOT)})"
        )
    try:
        before = list(read_thresholds_header(header))
    except OSError as error:
        raise ValueError(f"{header}: cannot read it ({error}); nothing written") from None
    if before and before != list(labels):
        raise ValueError(
            f"{header} is the thresholds header of a model for {', '.join(before)}, not of the "
            f"model evaluated ({', '.join(labels)}): give the folder `export` wrote that "
            "model's firmware files into"
        )
    return header


def _flow_mapping(thresholds: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{label}: {value:.2f}" for label, value in thresholds.items()) + "}"


def config_with_thresholds(path: str | Path, thresholds: Mapping[str, float]) -> str:
    """The config file at `path` with `thresholds:` set in its `microphone:` section, to write
    in its place: only that line changes (and the lines of a block mapping it replaces).
    ValueError when it cannot be read or edited so."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the config file ({error})") from None
    try:
        section = next(
            i for i, line in enumerate(lines) if re.match(r"microphone:\s*(#.*)?$", line)
        )
    except StopIteration:
        raise ValueError(
            f"{path}: no `microphone:` section; add one (see docs/desktop-listening.md) and run "
            "this again"
        ) from None
    end = next(
        (i for i in range(section + 1, len(lines)) if re.match(r"[^\s#]", lines[i])), len(lines)
    )
    children = [line for line in lines[section + 1 : end] if re.match(r"\s+[^\s#]", line)]
    child_indent = len(children[0]) - len(children[0].lstrip()) if children else 2
    new_line = " " * child_indent + f"thresholds: {_flow_mapping(thresholds)}\n"
    for index in range(section + 1, end):
        match = re.match(r"(\s+)thresholds:", lines[index])
        if match:
            indent = len(match.group(1))
            stop = index + 1
            while stop < end and (
                not lines[stop].strip() or len(lines[stop]) - len(lines[stop].lstrip()) > indent
            ):
                stop += 1
            while stop > index + 1 and not lines[stop - 1].strip():
                stop -= 1
            lines[index:stop] = [" " * indent + new_line.lstrip()]
            break
    else:
        lines.insert(section + 1, new_line)
    text = "".join(lines)
    try:
        load_located(text, path)
    except YamlSyntaxError as error:
        raise ValueError(
            f"{path}: not changed, its layout is not one this command can edit ({error.message}); "
            f"set microphone.thresholds by hand: {_flow_mapping(thresholds)}"
        ) from None
    return text


def thresholds_header(
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    source: str,
    command: str = THRESHOLDS_COMMAND,
) -> str:
    """The firmware's default thresholds, in thousandths, in the order of the model's labels
    (labels the board never reports get 1000), and the labels they are for."""
    values = [round(thresholds.get(label, 1.0) * 1000) for label in labels]
    rows = "\n".join(
        f"    {value},  // {label}" for value, label in zip(values, labels, strict=True)
    )
    names = ", ".join(f'"{label}"' for label in labels)
    return (
        f"// Generated by `{command}` from {source};\n// do not edit.\n"
        "#ifndef KWS_THRESHOLDS_H_\n#define KWS_THRESHOLDS_H_\n\n#include <cstdint>\n\n"
        "namespace kws {\n\n"
        "// Default detection threshold of each label in thousandths, in the order of kLabels.\n"
        f"constexpr uint16_t kDefaultThresholdPermille[] = {{\n{rows}\n}};\n"
        "// The labels they are for: model_fits.h checks that they are kLabels.\n"
        f"constexpr const char* kThresholdLabels[] = {{{names}}};\n\n"
        "}  // namespace kws\n\n#endif  // KWS_THRESHOLDS_H_\n"
    )


def read_thresholds_header(path: str | Path) -> dict[str, float]:
    """The thresholds a header from thresholds_header gives each label (none when the file is
    missing)."""
    path = Path(path)
    if not path.exists():
        return {}
    rows = re.findall(r"^\s*(\d+),\s*//\s*(\w+)\s*$", path.read_text(), re.M)
    return {label: int(permille) / 1000 for permille, label in rows}
