"""Names, paths and numbers every step of the recipe shares."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from assistant.protocol import LABEL as LABEL_RULE
from assistant.recognizer import MAX_LABELS

LABELS: tuple[str, ...] = ("silence", "unknown", "on", "off", "up", "down", "go", "stop")
COMMANDS: tuple[str, ...] = LABELS[2:]
SILENCE_LABEL = "silence"
UNKNOWN_LABEL = "unknown"
SILENCE_FOLDER = "_silence_"
UNKNOWN_FOLDER = "_unknown_"
NOISE_FOLDER = "_background_noise_"

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second
SLICES = 49
# The float features the model sees are the frontend's uint16 output times this (micro_speech).
FEATURE_SCALE = 10.0 / 256.0

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
MODELS_DIR = REPO_ROOT / "assistant" / "models"
FIRMWARE_MODEL_DIR = REPO_ROOT / "firmware" / "kws" / "src" / "model"
MODEL_BASENAME = "kws_int8"


def data_dir() -> Path:
    """Where downloads, synthetic clips, cached features and runs go (ignored by git)."""
    return Path(os.environ.get("KWS_DATA_DIR", REPO_ROOT / "data"))


def check_commands(words: Sequence[str]) -> None:
    """ValueError unless every word can be a command: a label the protocol allows (lower-case
    a-z, 0-9 and _, at most 16 characters), not silence/unknown or a `_folder_` of the layout,
    each given once. (The rule also keeps every clip inside the output folder.)"""
    for word in words:
        if not LABEL_RULE.fullmatch(word):
            raise ValueError(
                f"{word!r} cannot be a command: use 1-16 characters of a-z, 0-9 and _ "
                "(the labels the board protocol allows)"
            )
        if word in (SILENCE_LABEL, UNKNOWN_LABEL) or (word.startswith("_") and word.endswith("_")):
            raise ValueError(
                f"{word!r} cannot be a command: silence, unknown and _folders_ are taken"
            )
    repeated = sorted({word for word in words if list(words).count(word) > 1})
    if repeated:
        raise ValueError(f"command words given more than once: {', '.join(repeated)}")


def check_labels(labels: Sequence[str]) -> None:
    """ValueError, at the line of this file that sets LABELS, unless `labels` are silence,
    unknown and then one to 14 commands `check_commands` takes (the board's and the desktop
    recognizer's limit is 16 labels)."""
    source = Path(__file__)
    lines = source.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("LABELS"))
    where = f"{source.relative_to(REPO_ROOT)}:{line}: LABELS"
    if tuple(labels[:2]) != (SILENCE_LABEL, UNKNOWN_LABEL) or len(labels) < 3:
        raise ValueError(
            f"{where} must be {SILENCE_LABEL!r}, {UNKNOWN_LABEL!r} and then the commands, got "
            f"{tuple(labels)}"
        )
    if len(labels) > MAX_LABELS:
        raise ValueError(
            f"{where} has {len(labels)} labels; the board and the desktop take at most "
            f"{MAX_LABELS} ({MAX_LABELS - 2} commands)"
        )
    try:
        check_commands(labels[2:])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
