"""The model's artifacts: the .tflite, its model card (JSON) and the firmware's C files; the card
and the firmware's thresholds header give each command the same threshold, the card's before."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from assistant.atomic_files import write_all_or_none_explained
from assistant.features import FRONTEND_PARAMS, INPUT_SHIFT
from assistant.model_files import EXPORT_COMMAND, THRESHOLDS_COMMAND, card_thresholds
from assistant.model_runner import ModelError, model_id, model_sha256
from assistant.recognizer import DEFAULT_THRESHOLD, command_labels
from model_training.quantize import Quantization
from model_training.settings import (
    FEATURE_SCALE,
    FIRMWARE_MODEL_DIR,
    LABELS,
    MODEL_BASENAME,
    MODELS_DIR,
    SILENCE_LABEL,
    SLICES,
    UNKNOWN_LABEL,
)
from model_training.streaming.thresholds import (
    HEADER_NAME,
    card_text,
    card_with_thresholds,
    read_thresholds_header,
    thresholds_header,
)

# TFLM on the board needs a little more than the host's recording allocator reports.
ARENA_HEADROOM_BYTES = 1024


def tensor_arena_bytes(measured: int) -> int:
    """The arena to reserve on the board: the measured size plus headroom, in whole KiB."""
    return int(math.ceil((measured + ARENA_HEADROOM_BYTES) / 1024) * 1024)


def model_card(tflite: bytes, quantization: Quantization, arena: int, extra: dict) -> dict:
    """Everything a consumer needs to run the model, plus what it was made from and scores."""
    contract = quantization.contract()
    return {
        "model_id": model_id(tflite),
        "sha256": model_sha256(tflite),
        "model_bytes": len(tflite),
        "arena_bytes": arena,
        "tensor_arena_bytes": tensor_arena_bytes(arena),
        "labels": list(LABELS),
        "feature_scale": FEATURE_SCALE,
        "input_scale": quantization.input_scale,
        "input_zero_point": quantization.input_zero_point,
        "input_multiplier": contract.input_multiplier,
        "input_shift": INPUT_SHIFT,
        "output_scale": quantization.output_scale,
        "output_zero_point": quantization.output_zero_point,
        "slices": SLICES,
        "channels": FRONTEND_PARAMS["num_channels"],
        "window_ms": FRONTEND_PARAMS["window_size"],
        "stride_ms": FRONTEND_PARAMS["window_step"],
        "sample_rate": FRONTEND_PARAMS["sample_rate"],
        "frontend": dict(FRONTEND_PARAMS),
        **extra,
    }


def _generated_notice(source: str) -> str:
    return (
        f"// Generated from {source} by `{EXPORT_COMMAND}`; do not edit.\n"
        f"// Regenerate: {EXPORT_COMMAND}\n"
    )


def model_data_cc(tflite: bytes, source: str) -> str:
    rows = [
        "    " + ", ".join(f"0x{byte:02x}" for byte in tflite[i : i + 12]) + ","
        for i in range(0, len(tflite), 12)
    ]
    return (
        _generated_notice(source)
        + '#include "kws_model_data.h"\n\nnamespace kws {\n\n'
        + "alignas(16) const unsigned char g_kws_model_data[] = {\n"
        + "\n".join(rows)
        + "\n};\n"
        + f"const unsigned int g_kws_model_data_len = {len(tflite)};\n\n}}  // namespace kws\n"
    )


def model_data_h(source: str) -> str:
    return (
        _generated_notice(source)
        + "#ifndef KWS_MODEL_DATA_H_\n#define KWS_MODEL_DATA_H_\n\nnamespace kws {\n\n"
        + "alignas(16) extern const unsigned char g_kws_model_data[];\n"
        + "extern const unsigned int g_kws_model_data_len;\n\n"
        + "}  // namespace kws\n\n#endif  // KWS_MODEL_DATA_H_\n"
    )


def _c_float(value: float) -> str:
    text = f"{value:.9g}"
    return (text if any(c in text for c in ".e") else text + ".0") + "f"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _frontend_constant(name: str, value) -> str:
    if isinstance(value, bool):
        return f"constexpr bool kFrontend{_camel(name)} = {'true' if value else 'false'};"
    if isinstance(value, int):
        return f"constexpr int kFrontend{_camel(name)} = {value};"
    if isinstance(value, float):
        return f"constexpr float kFrontend{_camel(name)} = {_c_float(value)};"
    return f'constexpr const char* kFrontend{_camel(name)} = "{value}";'


def model_settings_h(card: dict, source: str) -> str:
    labels = ", ".join(f'"{label}"' for label in card["labels"])
    lines = [
        "#ifndef KWS_MODEL_SETTINGS_H_",
        "#define KWS_MODEL_SETTINGS_H_",
        "",
        "#include <cstdint>",
        "",
        "namespace kws {",
        "",
        f"constexpr int kSampleRate = {card['sample_rate']};",
        f"constexpr int kFeatureWindowMs = {card['window_ms']};",
        f"constexpr int kFeatureStrideMs = {card['stride_ms']};",
        f"constexpr int kFeatureChannels = {card['channels']};",
        f"constexpr int kFeatureSlices = {card['slices']};",
        "constexpr int kFeatureElementCount = kFeatureChannels * kFeatureSlices;",
        "",
        f"constexpr int kLabelCount = {len(card['labels'])};",
        f"constexpr const char* kLabels[] = {{{labels}}};",
        f"constexpr int kSilenceIndex = {card['labels'].index(SILENCE_LABEL)};",
        f"constexpr int kUnknownIndex = {card['labels'].index(UNKNOWN_LABEL)};",
        "",
        "// int8 input = clamp(((uint16 * kInputMultiplier + (1 << (kInputShift - 1)))",
        "//                     >> kInputShift) + kInputZeroPoint, -128, 127)",
        f"constexpr float kFeatureScale = {_c_float(card['feature_scale'])};",
        f"constexpr float kInputScale = {_c_float(card['input_scale'])};",
        f"constexpr int kInputZeroPoint = {card['input_zero_point']};",
        f"constexpr int32_t kInputMultiplier = {card['input_multiplier']};",
        f"constexpr int kInputShift = {card['input_shift']};",
        f"constexpr float kOutputScale = {_c_float(card['output_scale'])};",
        f"constexpr int kOutputZeroPoint = {card['output_zero_point']};",
        "",
        f"constexpr int kTensorArenaBytes = {card['tensor_arena_bytes']};",
        f'constexpr const char* kModelId = "{card["model_id"]}";',
        "",
        "// Audio frontend (TFLite Micro microfrontend) parameters.",
        *(_frontend_constant(name, value) for name, value in card["frontend"].items()),
        "",
        "}  // namespace kws",
        "",
        "#endif  // KWS_MODEL_SETTINGS_H_",
    ]
    return _generated_notice(source) + "\n".join(lines) + "\n"


def previous_thresholds(card: Path, header: Path) -> tuple[dict[str, float], str]:
    """The thresholds the export replaces, and what gave them: those of the model card `card`
    (the one source of truth, which `streaming thresholds` writes, with or without the header),
    else, from a card without them, those of the thresholds header `header`."""
    try:
        before = json.loads(card.read_text())
        labels, values = before["labels"], before["thresholds"]
    except (OSError, ValueError, KeyError, TypeError):
        return read_thresholds_header(header), HEADER_NAME
    try:
        return card_thresholds(card, values, labels), card.name
    except ModelError as error:
        raise ValueError(f"{error}; nothing exported") from None


def thresholds_for_export(card: dict, previous: Path, header: Path) -> tuple[dict[str, float], str]:
    """Each command's threshold, and kws_thresholds.h with them for the card's labels: each
    command keeps the threshold the card `previous` gave it (the card the export replaces; from
    one without thresholds, the thresholds header `header`'s), all of them when the labels are
    unchanged, and the others get DEFAULT_THRESHOLD, the desktop's default; says which got it."""
    kept, kept_from = previous_thresholds(previous, header)
    thresholds = {
        label: kept.get(label, DEFAULT_THRESHOLD) for label in command_labels(card["labels"])
    }
    new = [label for label in thresholds if label not in kept]
    default = f"{DEFAULT_THRESHOLD:.2f}"
    if new:
        print(
            f"{header.name}: {', '.join(new)} get the default threshold {default}; choose "
            f"theirs with `{THRESHOLDS_COMMAND} --header` (model_training/README.md)"
        )
    source = f"model {card['model_id']} and " + (
        f"the previous {kept_from} ({default} for commands it lacks)"
        if len(new) < len(thresholds)
        else f"the default threshold {default}"
    )
    return thresholds, thresholds_header(card["labels"], thresholds, source, EXPORT_COMMAND)


def check_replacing(models_dir: str | Path, labels: Sequence[str], replace: bool) -> None:
    """ValueError when `models_dir` holds the card of a model for other labels than `labels`
    and `replace` is off: the configurations and firmware made for that model name its
    commands (the committed model's: config.yaml, firmware/kws)."""
    card = Path(models_dir) / f"{MODEL_BASENAME}.json"
    try:
        before = list(json.loads(card.read_text())["labels"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # nothing there, or nothing a configuration could have been made for
    if replace or before == list(labels):
        return
    raise ValueError(
        f"{card} is the card of a model for {', '.join(command_labels(before))}, and this "
        f"run's model is for {', '.join(command_labels(labels))}: the configurations and "
        "firmware made for that model would name commands it no longer has. Export into "
        "folders of your own with --models-dir DIR --firmware-dir DIR (model_training/"
        'README.md, "Training custom commands"), or give --replace to replace it'
    )


def write_artifacts(
    tflite: bytes,
    card: dict,
    models_dir: str | Path = MODELS_DIR,
    firmware_dir: str | Path = FIRMWARE_MODEL_DIR,
) -> list[Path]:
    """The .tflite and model card, and the C array, its header, the settings header and the
    thresholds header, all written or none (ValueError naming the file that cannot be), so that
    they always come from one model; the card and the thresholds header give the thresholds of
    the card replaced (`thresholds_for_export`)."""
    models_dir, firmware_dir = Path(models_dir), Path(firmware_dir)
    for folder in (models_dir, firmware_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"{folder}: cannot make the folder ({error.strerror}); no file written"
            ) from None
    card_path = models_dir / f"{MODEL_BASENAME}.json"
    thresholds, header = thresholds_for_export(card, card_path, firmware_dir / HEADER_NAME)
    card = card_with_thresholds(card, thresholds)
    source = f"assistant/models/{MODEL_BASENAME}.tflite (model {card['model_id']})"
    files = {
        models_dir / f"{MODEL_BASENAME}.tflite": tflite,
        card_path: card_text(card),
        firmware_dir / "kws_model_data.cc": model_data_cc(tflite, source),
        firmware_dir / "kws_model_data.h": model_data_h(source),
        firmware_dir / "kws_model_settings.h": model_settings_h(card, source),
        firmware_dir / HEADER_NAME: header,
    }
    write_all_or_none_explained(files)
    return list(files)
