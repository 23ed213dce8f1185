"""Per-class precision and recall, float vs int8, and confusion matrices as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.features import FeatureContract
from model_training.quantize import run_litert, run_tflm
from model_training.train import to_float


def predict_float(model, features: np.ndarray) -> np.ndarray:
    return np.argmax(model.predict(to_float(features), batch_size=512, verbose=0), axis=1)


def int8_outputs(
    tflite: bytes, features: np.ndarray, contract: FeatureContract, runtime: str = "tflm"
) -> np.ndarray:
    """The int8 model's outputs for frontend features, via the shared integer conversion."""
    runner = {"tflm": run_tflm, "litert": run_litert}[runtime]
    return runner(tflite, contract.to_int8(features))


def confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(labels: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> dict:
    """{name: precision, recall, support} plus overall accuracy; `names` are the model's labels."""
    matrix = confusion(labels, predicted, len(names))
    report = {"accuracy": float(np.mean(labels == predicted)) if len(labels) else 0.0}
    for k, name in enumerate(names):
        support = int(matrix[k].sum())
        predicted_k = int(matrix[:, k].sum())
        report[name] = {
            "precision": float(matrix[k, k] / predicted_k) if predicted_k else None,
            "recall": float(matrix[k, k] / support) if support else None,
            "support": support,
        }
    return report


def draw_confusion(ax, matrix: np.ndarray, title: str, names: Sequence[str]) -> None:
    """Counts in the cells, coloured by the share of their true class (row: recall on the
    diagonal), with a colour bar; the title gets the accuracy."""
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.figure.colorbar(image, ax=ax, label="share of the true class's clips")
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if rows[i, j] > 0.5 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title}: accuracy {accuracy:.1%}")


def plot_confusion(matrix: np.ndarray, path: str | Path, title: str, names: Sequence[str]) -> Path:
    """`draw_confusion` as a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 6))
    draw_confusion(ax, matrix, title, names)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def format_table(float_report: dict | None, int8_report: dict) -> str:
    """A text table: per class precision/recall for float (when given) and int8."""
    header = f"{'class':<9}{'support':>8}"
    header += f"{'float P':>9}{'float R':>9}" if float_report else ""
    header += f"{'int8 P':>9}{'int8 R':>9}"

    def cell(value):
        return f"{value * 100:8.1f}%" if value is not None else f"{'-':>9}"

    lines = [header]
    for name in (name for name in int8_report if name != "accuracy"):
        row = f"{name:<9}{int8_report[name]['support']:>8}"
        if float_report:
            row += cell(float_report[name]["precision"]) + cell(float_report[name]["recall"])
        row += cell(int8_report[name]["precision"]) + cell(int8_report[name]["recall"])
        lines.append(row)
    total = f"{'accuracy':<9}{'':>8}"
    total += cell(float_report["accuracy"]) + f"{'':>9}" if float_report else ""
    total += cell(int8_report["accuracy"])
    lines.append(total)
    return "\n".join(lines)
