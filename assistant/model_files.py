"""A model and its card on disk: the card read and checked against its model (sha256, input
quantization, a softmax output, the thresholds it gives its commands), and the pair loaded once,
again only once either file changed. The committed model is DEFAULT_MODEL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from assistant.features import FeatureContract
from assistant.file_lookup import missing
from assistant.model_runner import Int8Model, ModelError, model_sha256
from assistant.recognizer import DEFAULT_THRESHOLD, OUTPUT_ZERO_POINT, command_labels

EXPORT_COMMAND = "python -m model_training export"
"""How a model and its card are made together."""
THRESHOLDS_COMMAND = "python -m model_training.streaming thresholds"
"""How each command's threshold is chosen for a model, on streams."""
MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "kws_int8.tflite"


def model_card_path(model_path: str | Path) -> Path:
    """The model card beside a model: kws_int8.tflite -> kws_int8.json."""
    return Path(model_path).with_suffix(".json")


def read_model(model_path: str | Path) -> bytes:
    """The bytes of the model file at `model_path`; ModelError when it is missing or cannot be
    read."""
    model = Path(model_path)
    if file := missing(model):
        if file.reason:
            raise ModelError(f"{model}: cannot look for the model file: {file.reason}")
        raise ModelError(f"{model}: no such model file")
    try:
        return model.read_bytes()
    except OSError as error:
        raise ModelError(f"{model_path}: cannot read the model: {error.strerror}") from None


def load_contract(model_path: str | Path = DEFAULT_MODEL) -> FeatureContract:
    """The feature contract of a model, from the model card beside it, with the card's
    thresholds. ModelError when the model or its card is missing, or the card is broken (its
    thresholds too) or belongs to another model (its sha256 is not the model's)."""
    return contract_of(model_path, read_model(model_path))


def contract_of(model_path: str | Path, content: bytes) -> FeatureContract:
    """The feature contract of the model at `model_path`, whose file holds `content`, from the
    card beside it; ModelError as `load_contract`."""
    card = model_card_path(model_path)
    if not card.is_file():
        raise ModelError(
            f"{card}: the model card of {Path(model_path).name} is missing; export the model "
            f"with `{EXPORT_COMMAND}` (it writes both files)"
        )
    try:
        fields = json.loads(card.read_text())
        contract = FeatureContract.from_card(fields)
        card_sha256 = fields.get("sha256")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{card}: not a valid model card ({error!r})") from error
    content_sha256 = model_sha256(content)
    if card_sha256 != content_sha256:
        raise ModelError(
            f"{card} is not the card of {model_path}: the card's sha256 is {card_sha256}, the "
            f"model's is {content_sha256}; export the model again with `{EXPORT_COMMAND}`, which "
            "writes the model and its card together"
        )
    thresholds = card_thresholds(card, contract.thresholds, contract.labels)
    return replace(contract, thresholds=thresholds)


def card_thresholds(card: Path, values: object, labels: Sequence[str]) -> dict[str, float]:
    """A card's `thresholds` as read: each a command of the model's `labels` with a number
    from 0 to 1. ModelError naming the card and the fix otherwise."""
    fix = (
        f"correct or remove `thresholds` in {card} (a command it leaves out gets "
        f"{DEFAULT_THRESHOLD}), or write those chosen for the model with `{THRESHOLDS_COMMAND}` "
        "(model_training/README.md in the source repository)"
    )
    if not isinstance(values, dict):
        raise ModelError(
            f"{card}: `thresholds` is {values!r}, not a mapping of each command to a score "
            f'from 0 to 1 such as {{"on": 0.84}}; {fix}'
        )
    commands = command_labels(labels)
    unknown = [label for label in values if label not in commands]
    if unknown:
        raise ModelError(
            f"{card}: `thresholds` names {', '.join(map(repr, unknown))}, which the model does "
            f"not report (its commands: {', '.join(commands)}); {fix}"
        )
    for label, score in values.items():
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise ModelError(
                f"{card}: `thresholds` gives {label} {score!r}, not a number from 0 to 1; {fix}"
            )
    return {label: float(score) for label, score in values.items()}


def load_model(model_path: str | Path = DEFAULT_MODEL) -> tuple[Int8Model, FeatureContract]:
    """The model and its feature contract (from the model card beside it), from one read of
    the model file."""
    content = read_model(model_path)
    contract = contract_of(model_path, content)
    model = Int8Model(model_path, content)
    expected = contract.slices * contract.channels
    if model.input_size != expected or model.output_size != len(contract.labels):
        raise ModelError(
            f"{model_path}: the model takes {model.input_size} values and gives "
            f"{model.output_size} scores, but its card says {contract.slices}x"
            f"{contract.channels} features and {len(contract.labels)} labels"
        )
    check_quantization(model, contract)
    return model, contract


def check_quantization(model: Int8Model, contract: FeatureContract) -> None:
    """ModelError unless the card's input quantization (which `to_int8` and the firmware's
    header use) is the model's own, and the output is a softmax's (zero point -128), as the
    recognizer here and on the board reads it."""
    scale, zero_point = model.input_quantization
    card = model_card_path(model.path)
    if np.float32(contract.input_scale) != np.float32(scale) or (
        contract.input_zero_point != zero_point
    ):
        raise ModelError(
            f"{card}: input scale {contract.input_scale} and zero point "
            f"{contract.input_zero_point}, but {model.path} takes scale {scale} and zero point "
            f"{zero_point}: its features would be converted wrongly; export the model again with "
            f"`{EXPORT_COMMAND}`, which writes the model and its card together"
        )
    _, output_zero_point = model.output_quantization
    if output_zero_point != OUTPUT_ZERO_POINT:
        raise ModelError(
            f"{model.path}: its output's zero point is {output_zero_point}, but the recognizer "
            f"(here and on the board) reads scores as int8 + 128: end the model with a softmax "
            f"(int8 output zero point {OUTPUT_ZERO_POINT})"
        )


class ModelFile:
    """A model and its card on disk, loaded once (`load_model`) and loaded again only once
    either file has changed: another file at the path (as an export or a copy leaves it), or
    another size or modification time."""

    def __init__(self, path: str | Path = DEFAULT_MODEL):
        self.path = Path(path)
        self._loaded: tuple[Int8Model, FeatureContract] | None = None
        self._stamp: tuple[tuple[int, ...], ...] | None = None

    def load(self) -> tuple[Int8Model, FeatureContract]:
        """The model and its contract as the files are now; ModelError as `load_model`."""
        stamp = _stamp(self.path)
        if self._loaded is None or stamp is None or stamp != self._stamp:
            self._loaded = load_model(self.path)
            self._stamp = stamp
        return self._loaded


def _stamp(model_path: Path) -> tuple[tuple[int, ...], ...] | None:
    """What tells the files of a model and its card apart from those there before (None when
    either is missing): stamped before loading, a change while loading loads again later."""
    try:
        found = [path.stat() for path in (model_path, model_card_path(model_path))]
    except OSError:
        return None
    return tuple((s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in found)
