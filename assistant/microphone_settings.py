"""The `microphone:` section: its settings (`ListenerSettings`), and the checks that its model
and thresholds work together, which `assistant config check` and a run make. A command's
threshold is `thresholds`' (an override), else the one the model's card gives it, else
DEFAULT_THRESHOLD."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.features import FeatureContract
from assistant.model_files import (
    DEFAULT_MODEL,
    THRESHOLDS_COMMAND,
    load_contract,
    model_card_path,
)
from assistant.model_runner import ModelError
from assistant.pipeline import RecognizerSettings
from assistant.plugin import Setting, SettingValueError
from assistant.recognizer import DEFAULT_THRESHOLD, MAX_HISTORY, command_labels
from assistant.settings import validate_settings

MICROPHONE_SETTINGS = (
    Setting(
        "device", str, "default", "input device name or number (`assistant devices` lists them)"
    ),
    Setting(
        "model",
        str,
        "default",
        "int8 .tflite model (its .json card beside it); default: the committed model",
        path=True,
    ),
    Setting(
        "thresholds",
        dict,
        {},
        "score a command needs, e.g. {up: 0.85}, instead of the one the model's card gives it "
        "(a command in neither: 0.8)",
        values=float,
    ),
    Setting(
        "average_window_ms",
        int,
        1000,
        "scores are averaged over this long",
        minimum=20,
        maximum=60_000,
    ),
    Setting(
        "suppression_ms",
        int,
        1500,
        "quiet time after a detection",
        minimum=0,
        maximum=3_600_000,
    ),
    Setting(
        "minimum_count",
        int,
        3,
        "inferences needed in the window before a detection",
        minimum=1,
        maximum=MAX_HISTORY,  # the window keeps no more: a larger count never detects
    ),
    Setting(
        "inference_every",
        int,
        5,
        "feature slices (20 ms each) between inferences",
        minimum=1,
        maximum=100,
    ),
    Setting(
        "block_ms",
        int,
        100,
        "audio read from the microphone at a time",
        minimum=10,
        maximum=1000,  # a block is held in memory, and the sound system refuses a huge one
    ),
    Setting(
        "heartbeat_ms",
        int,
        1000,
        "a heartbeat line every this much audio",
        minimum=100,
        maximum=60_000,
    ),
    Setting(
        "max_delay",
        float,
        5.0,
        "commands heard in audio handed over longer than this (s) after it was recorded are "
        "dropped",
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "retry_seconds",
        float,
        2.0,
        "first wait before opening the microphone again",
        minimum=0.01,
        maximum=3600,  # far longer overflows the system's clock in the wait
    ),
    Setting(
        "max_retry_seconds",
        float,
        30.0,
        "longest wait between attempts",
        minimum=0.01,
        maximum=3600,
    ),
    Setting(
        "keep_clips",
        int,
        0,
        "keep the audio of the newest N commands heard, to train the model with (0: none)",
        minimum=0,
        maximum=100_000,  # a second of audio each: some 3 GB
    ),
    Setting(
        "keep_near_misses",
        float,
        0.0,
        "with keep_clips: N, also keep the newest N near misses, commands whose average score "
        "reached this but not their threshold, in clips/_near_misses/ (0: none)",
        minimum=0,
        maximum=1,
    ),
)


@dataclass(frozen=True)
class ListenerSettings:
    """The `microphone:` section; the defaults live in MICROPHONE_SETTINGS."""

    device: str
    model: str
    thresholds: Mapping[str, float]
    average_window_ms: int
    suppression_ms: int
    minimum_count: int
    inference_every: int
    block_ms: int
    heartbeat_ms: int
    max_delay: float
    retry_seconds: float
    max_retry_seconds: float
    keep_clips: int
    keep_near_misses: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ListenerSettings:
        """From a `microphone:` section (validated against MICROPHONE_SETTINGS)."""
        settings, problems = validate_settings(values, MICROPHONE_SETTINGS)
        if problems:
            raise ValueError("microphone: " + "; ".join(p.message for p in problems))
        return cls(**settings)

    @property
    def model_path(self) -> Path:
        return model_file(self.model)

    def recognizer_settings(self) -> RecognizerSettings:
        return RecognizerSettings(
            thresholds=dict(self.thresholds),
            average_window_ms=self.average_window_ms,
            suppression_ms=self.suppression_ms,
            minimum_count=self.minimum_count,
        )


def model_file(model: str) -> Path:
    """The model file `microphone.model` names (`default`: the committed model)."""
    return DEFAULT_MODEL if model == "default" else Path(model)


def model_contract(values: Mapping[str, Any]) -> FeatureContract:
    """The contract of the `microphone:` section's model (its labels and thresholds), from its
    card; SettingValueError for `model` when the card cannot be used."""
    if not values["model"]:
        raise SettingValueError(
            "microphone.model is empty: give the path of an int8 .tflite model (its .json card "
            "beside it), or `default` for the committed one",
            "model",
        )
    try:
        return load_contract(ListenerSettings.from_values(values).model_path)
    except ModelError as error:
        raise SettingValueError(f"microphone.model: {error}", "model") from None


def check_near_misses(values: Mapping[str, Any]) -> None:
    """`keep_near_misses` goes with `keep_clips`, whose bound it shares; SettingValueError for
    `keep_near_misses` otherwise."""
    settings = ListenerSettings.from_values(values)
    if settings.keep_near_misses and not settings.keep_clips:
        raise SettingValueError(
            f"microphone.keep_near_misses: {settings.keep_near_misses} keeps near misses only "
            "with keep_clips: N (the newest N of them are kept); set keep_clips too, or set "
            "keep_near_misses: 0",
            "keep_near_misses",
        )


def check_thresholds(values: Mapping[str, Any], labels: tuple[str, ...]) -> None:
    """The section's thresholds work for the model's `labels` (commands it reports, 0 to 1);
    SettingValueError for `thresholds` otherwise."""
    settings = ListenerSettings.from_values(values)
    commands = command_labels(labels)
    stale = [label for label in settings.thresholds if label not in commands]
    if stale:
        raise SettingValueError(
            f"microphone.thresholds names {', '.join(map(repr, stale))}, which the model "
            f"{settings.model_path.name} does not report (its commands: {', '.join(commands)}); "
            f"remove {'them' if len(stale) > 1 else 'it'} (a command without one here uses the "
            f"threshold its model's card gives it, which `{THRESHOLDS_COMMAND}` writes, else "
            f"{DEFAULT_THRESHOLD}; model_training/README.md in the source repository)",
            "thresholds",
        )
    try:
        settings.recognizer_settings().recognizer(labels)
    except ValueError as error:
        raise SettingValueError(f"microphone.thresholds: {error}", "thresholds") from None


def overrides_note(values: Mapping[str, Any], contract: FeatureContract) -> str | None:
    """What the section's thresholds override of those its model's card gives (None: nothing):
    a choice users may make, said so that it is not made unknowingly."""
    settings = ListenerSettings.from_values(values)
    overridden = [label for label in settings.thresholds if label in contract.thresholds]
    if not overridden:
        return None
    each = ", ".join(
        f"{label} {settings.thresholds[label]:g} (card {contract.thresholds[label]:g})"
        for label in overridden
    )
    return (
        f"microphone.thresholds overrides thresholds chosen for {settings.model_path.name} "
        f"on its card {model_card_path(settings.model_path).name}: {each}; remove a command "
        "from it to use its card's"
    )


def thresholds_text(thresholds: Mapping[str, float], overrides: Collection[str]) -> str:
    """Each command's threshold, those of `overrides` (microphone.thresholds) marked: the
    log's `on:0.900 (config), off:0.760`."""
    return ", ".join(
        f"{label}:{score:.3f}{' (config)' if label in overrides else ''}"
        for label, score in thresholds.items()
    )
