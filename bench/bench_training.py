"""Benchmark of the training recipe and the committed keyword model.

Prints a table: the int8 model's per-class precision and recall on real speakers it never trained
on (the test split of ../shared), model bytes, TFLM arena bytes and MACs per inference for the
default model and both architectures, and the wall time of the whole recipe.

    python bench/bench_training.py                # the committed model; recipe time if recorded
    python bench/bench_training.py --run-recipe   # also time a from-scratch recipe (~10 min)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model_training import models, quantize  # noqa: E402
from model_training.evaluate_folder import evaluate_folder  # noqa: E402
from model_training.settings import COMMANDS, MODEL_BASENAME, MODELS_DIR, data_dir  # noqa: E402


def architecture_costs() -> list[tuple[str, int, int, int, int]]:
    """(name, parameters, model bytes, arena bytes, MACs) of each architecture, int8."""
    rng = np.random.default_rng(0)
    representative = rng.integers(0, 700, (20, 49, 40)).astype(np.uint16)
    rows = []
    for name in models.ARCHITECTURES:
        model = models.build(name)
        tflite = quantize.convert(model, representative)
        rows.append(
            (
                name,
                model.count_params(),
                len(tflite),
                quantize.arena_bytes(tflite),
                models.macs(model),
            )
        )
    return rows


def lowest_command_recall(report: dict) -> float:
    return min(report[c]["recall"] for c in COMMANDS)


def trained_accuracy(architecture: str) -> str:
    """int8 test accuracy of the run named after an architecture (`--run baseline`), if any."""
    scores = data_dir() / "runs" / architecture / "quantize.json"
    if not scores.exists():
        return "not trained"
    report = json.loads(scores.read_text())["int8"]
    worst = lowest_command_recall(report)
    return f"{report['accuracy'] * 100:.1f}% (lowest command recall {worst * 100:.1f}%)"


def timed_recipe() -> dict:
    """Run the whole recipe from scratch (fresh data folder, outputs kept out of the repo)."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "KWS_DATA_DIR": scratch}
        outputs = ["--models-dir", f"{scratch}/models", "--firmware-dir", f"{scratch}/fw"]
        command = [sys.executable, "-m", "model_training", "recipe", *outputs]
        began = time.monotonic()
        subprocess.run(command, cwd=REPO, env=env, check=True)
        wall = time.monotonic() - began
        steps = json.loads((Path(scratch) / "runs" / "default" / "recipe.json").read_text())
        card = json.loads((Path(scratch) / "models" / f"{MODEL_BASENAME}.json").read_text())
    return {"wall": wall, "model_id": card["model_id"], **steps["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-recipe", action="store_true", help="time a from-scratch recipe")
    args = parser.parse_args()

    card = json.loads((MODELS_DIR / f"{MODEL_BASENAME}.json").read_text())
    model = MODELS_DIR / f"{MODEL_BASENAME}.tflite"
    evaluation = evaluate_folder(str(model), None, "test", None, data_dir() / "evaluation")
    report = evaluation["int8"]
    recipe = timed_recipe() if args.run_recipe else None

    print(f"\nModel {card['model_id']} ({card['architecture']}), int8, test split (above): "
          f"{evaluation['clips']} clips by {evaluation['speakers']} speakers never used in "
          "training")  # fmt: skip
    worst = lowest_command_recall(report)
    print(f"lowest command recall: {worst * 100:.1f}% (target >= 90%)")
    print(f"overall accuracy: {report['accuracy'] * 100:.1f}% (target >= 90%, aim 95%)")

    print(f"\n{'architecture':<14}{'params':>8}{'model B':>10}{'arena B':>10}{'MACs':>10}")
    for name, params, size, arena, macs in architecture_costs():
        print(f"{name:<14}{params:>8}{size:>10}{arena:>10}{macs:>10}")
    for name in (n for n in models.ARCHITECTURES if n != card["architecture"]):
        print(f"{name} trained by `--architecture {name} --run {name}`: {trained_accuracy(name)}")
    print(
        f"{'committed':<14}{card['parameters']:>8}{card['model_bytes']:>10}"
        f"{card['arena_bytes']:>10}{card['macs']:>10}   (targets: <40960 B, <24576 B, <1M MACs)"
    )
    run = data_dir() / "runs" / "default"
    recorded = run / "recipe.json"
    made_committed = (run / f"{MODEL_BASENAME}.tflite").exists() and hashlib.sha256(
        (run / f"{MODEL_BASENAME}.tflite").read_bytes()
    ).hexdigest() == card["sha256"]
    if recipe:
        steps = ", ".join(f"{k} {recipe[k]:.0f} s" for k in ("synth", "features", "train"))
        print(f"\nrecipe wall time: {recipe['wall'] / 60:.1f} min ({steps}); target < 20 min")
        same = "the same" if recipe["model_id"] == card["model_id"] else "a different"
        print(f"the recipe from scratch made model {recipe['model_id']}: {same} model")
    elif recorded.exists() and made_committed:
        seconds = json.loads(recorded.read_text())["seconds"]
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "total")
        print(f"\nrecipe wall time: {seconds['total'] / 60:.1f} min ({steps}), as measured by the")
        print(f"last `python -m model_training recipe` ({recorded}); target < 20 min")
    else:
        print("\nrecipe wall time: not measured for the committed model (run with --run-recipe)")


if __name__ == "__main__":
    main()
