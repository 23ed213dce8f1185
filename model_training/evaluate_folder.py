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
from model_training.settings import MODEL_BASENAME, MODELS_DIR, SILENCE_LABEL, UNKNOWN_LABEL


def evaluate_folder(
    model: str | None,
    folders: list[str] | None,
    split: str,
    keras_model: str | None,
    output: Path,
) -> dict:
    """Print and save per-class precision/recall (float and int8) and confusion PNGs.

    The labels are the model card's (beside the model), not the settings': a model trained for
    other commands is scored on its own commands, every other word counting as unknown.
    """
    from assistant.file_lookup import missing
    from assistant.model_files import load_model

    tflite_path = Path(model) if model else MODELS_DIR / f"{MODEL_BASENAME}.tflite"
    if gone := missing(tflite_path):
        raise FileNotFoundError(
            f"{tflite_path}: no such model{gone.aside} (train one with the recipe)"
        )
    if keras_model and (gone := missing(keras_model)):
        raise FileNotFoundError(
            f"{keras_model}: no such float model{gone.aside} (a run's best.keras, written by "
            "`python -m model_training train`)"
        )
    tflite = tflite_path.read_bytes()
    _, contract = load_model(tflite_path)  # the card beside it; its labels match the outputs
    labels = contract.labels
    if SILENCE_LABEL not in labels or UNKNOWN_LABEL not in labels:
        raise ValueError(f"{tflite_path}: its card's labels {labels} lack silence or unknown")
    commands = [label for label in labels if label not in (SILENCE_LABEL, UNKNOWN_LABEL)]
    chosen = folders or default_real_folders()
    clips = [
        clip
        for folder in chosen
        for clip in dataset.index_folder(folder, commands=commands)
        if split == "all" or clip.split == split
    ]
    if not clips:
        where = ", ".join(map(str, chosen)) or "no folder (../shared is missing)"
        raise ValueError(f"no clips in the {split} split of {where}; try --split all")
    test = examples.build_clean(clips, "evaluation features", labels)
    int8_predicted = np.argmax(int8_outputs(tflite, test.features, contract), axis=1)
    report = {
        "model": str(tflite_path),
        "labels": list(labels),
        "clips": len(clips),
        "speakers": len(dataset.speakers(clips)),
        "split": split,
        "int8": per_class(test.labels, int8_predicted, labels),
    }
    matrix = confusion(test.labels, int8_predicted, len(labels))
    scored = f"{split} split ({len(clips)} clips)"
    plot_confusion(matrix, output / "confusion_int8.png", f"int8 model, {scored}", labels)
    float_report = None
    if keras_model:
        import keras

        float_model = keras.models.load_model(keras_model)
        if float_model.output_shape[-1] != len(labels):
            raise ValueError(
                f"{keras_model} gives {float_model.output_shape[-1]} scores, but the card of "
                f"{tflite_path.name} has {len(labels)} labels: compare models of one run"
            )
        predicted = predict_float(float_model, test.features)
        float_report = report["float"] = per_class(test.labels, predicted, labels)
        matrix = confusion(test.labels, predicted, len(labels))
        plot_confusion(matrix, output / "confusion_float.png", f"float model, {scored}", labels)
    print(format_table(float_report, report["int8"]))
    output.mkdir(parents=True, exist_ok=True)
    (output / "evaluation.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {output / 'evaluation.json'} and confusion matrices")
    return report
