"""`evaluate`: a model on any folder in the Speech Commands layout (default: the test split)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model_training import dataset, examples
from model_training.evaluate import (
    confusion,
    format_table,
    int8_outputs,
    per_class,
    plot_confusion,
    predict_float,
)
from model_training.pipeline import default_real_folders
from model_training.quantize import quantization_of
from model_training.settings import MODEL_BASENAME, MODELS_DIR


def evaluate_folder(
    model: str | None,
    folders: list[str] | None,
    split: str,
    keras_model: str | None,
    output: Path,
) -> dict:
    """Print and save per-class precision/recall (float and int8) and confusion PNGs."""
    tflite_path = Path(model) if model else MODELS_DIR / f"{MODEL_BASENAME}.tflite"
    if not tflite_path.exists():
        raise FileNotFoundError(f"{tflite_path}: no such model (train one with the recipe)")
    tflite = tflite_path.read_bytes()
    chosen = folders or default_real_folders()
    clips = [
        clip
        for folder in chosen
        for clip in dataset.index_folder(folder)
        if split == "all" or clip.split == split
    ]
    if not clips:
        where = ", ".join(map(str, chosen)) or "no folder (../shared is missing)"
        raise ValueError(f"no clips in the {split} split of {where}; try --split all")
    test = examples.build_clean(clips, "evaluation features")
    contract = quantization_of(tflite).contract()
    int8_predicted = np.argmax(int8_outputs(tflite, test.features, contract), axis=1)
    report = {
        "clips": len(clips),
        "speakers": len({c.speaker for c in clips}),
        "split": split,
        "int8": per_class(test.labels, int8_predicted),
    }
    plot_confusion(
        confusion(test.labels, int8_predicted), output / "confusion_int8.png", "int8 model"
    )
    float_report = None
    if keras_model:
        import keras

        predicted = predict_float(keras.models.load_model(keras_model), test.features)
        float_report = report["float"] = per_class(test.labels, predicted)
        plot_confusion(confusion(test.labels, predicted), output / "confusion_float.png", "float")
    print(format_table(float_report, report["int8"]))
    output.mkdir(parents=True, exist_ok=True)
    (output / "evaluation.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {output / 'evaluation.json'} and confusion matrices")
    return report
