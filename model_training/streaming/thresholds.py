"""Choose each command's threshold from the streaming sweep; write them to config and firmware."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from assistant.yaml_lines import YamlSyntaxError, load_located

REGENERATE = "python -m model_training.streaming thresholds"
HEADER_NAME = "kws_thresholds.h"


def choose_thresholds(report: dict, max_false_accepts_per_hour: float = 0.5) -> dict[str, float]:
    """Per command, the lowest swept threshold whose own false accepts stay within an equal share
    of the budget (the highest swept one when none does): fewest rejects within the budget."""
    sweep = sorted(report["sweep"], key=lambda outcome: outcome["thresholds"])
    commands = list(sweep[0]["per_command"])
    share = max_false_accepts_per_hour / len(commands)
    chosen = {}
    for command in commands:
        fitting = [
            o["thresholds"]
            for o in sweep
            if o["per_command"][command]["false_accepts_per_hour"] <= share
        ]
        chosen[command] = fitting[0] if fitting else sweep[-1]["thresholds"]
    return chosen


def _flow_mapping(thresholds: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{label}: {value:.2f}" for label, value in thresholds.items()) + "}"


def write_config_thresholds(path: str | Path, thresholds: Mapping[str, float]) -> None:
    """Set `thresholds:` in the `microphone:` section of a config file, changing only that line
    (and the lines of a block mapping it replaces)."""
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
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
    path.write_text(text)


def thresholds_header(labels: Sequence[str], thresholds: Mapping[str, float], source: str) -> str:
    """The firmware's default thresholds, in thousandths, in the order of the model's labels
    (labels the board never reports get 1000)."""
    values = [round(thresholds.get(label, 1.0) * 1000) for label in labels]
    rows = "\n".join(
        f"    {value},  // {label}" for value, label in zip(values, labels, strict=True)
    )
    return (
        f"// Generated from {source} by `{REGENERATE}`;\n// do not edit.\n"
        "#ifndef KWS_THRESHOLDS_H_\n#define KWS_THRESHOLDS_H_\n\n#include <cstdint>\n\n"
        "namespace kws {\n\n"
        "// Default detection threshold of each label in thousandths, in the order of kLabels.\n"
        f"constexpr uint16_t kDefaultThresholdPermille[] = {{\n{rows}\n}};\n\n"
        "}  // namespace kws\n\n#endif  // KWS_THRESHOLDS_H_\n"
    )
