"""Training with fixed seeds, per-epoch progress and the best checkpoint by validation score."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_training.examples import Examples
from model_training.models import build
from model_training.settings import FEATURE_SCALE, LABELS


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "ds_cnn"
    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 3e-3
    seed: int = 1234
    # SpecAugment-style masks per training example: up to this many slices / channels zeroed.
    time_mask: int = 10
    channel_mask: int = 6


def to_float(features: np.ndarray) -> np.ndarray:
    """The frontend's uint16 output as the model's float input (n, slices, channels, 1)."""
    return (features.astype(np.float32) * FEATURE_SCALE)[..., None]


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present: the validation score that picks the checkpoint."""
    recalls = [np.mean(predicted[labels == k] == k) for k in np.unique(labels)]
    return float(np.mean(recalls))


def _masked_batches(features: np.ndarray, labels: np.ndarray, config: TrainConfig):
    """Shuffled batches with one random time band and one channel band zeroed per example."""
    import tensorflow as tf

    def mask(x, y):
        batch = tf.shape(x)[0]

        def band(length: int, widest: int):
            width = tf.random.uniform([batch, 1], 0, widest + 1, tf.int32)
            start = tf.random.uniform([batch, 1], 0, length, tf.int32)
            where = tf.range(length)[None, :]
            return tf.cast((where >= start) & (where < start + width), x.dtype)

        time = band(x.shape[1], config.time_mask)[:, :, None, None]
        channel = band(x.shape[2], config.channel_mask)[:, None, :, None]
        return x * (1 - time) * (1 - channel), y

    data = tf.data.Dataset.from_tensor_slices((to_float(features), labels))
    data = data.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    return data.batch(config.batch_size).map(mask).prefetch(2)


def set_seeds(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def train(
    training: Examples, validation: Examples, config: TrainConfig, out_dir: str | Path
) -> tuple[object, dict]:
    """Train, keep the weights of the best validation epoch, save them as `best.keras`."""
    import keras

    set_seeds(config.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build(config.architecture)
    steps = config.epochs * int(np.ceil(len(training.labels) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x_val = to_float(validation.features)
    history: list[dict] = []
    best = {"score": -1.0, "epoch": 0}

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predicted = np.argmax(self.model.predict(x_val, batch_size=512, verbose=0), axis=1)
            score = balanced_accuracy(validation.labels, predicted)
            history.append({"epoch": epoch + 1, "val_balanced_accuracy": score, **(logs or {})})
            print(f"epoch {epoch + 1}/{config.epochs}: validation balanced accuracy {score:.4f}")
            if score > best["score"]:
                best.update(score=score, epoch=epoch + 1)
                self.model.save(out_dir / "best.keras")

    if config.time_mask or config.channel_mask:
        inputs = {"x": _masked_batches(training.features, training.labels, config)}
    else:
        inputs = {"x": to_float(training.features), "y": training.labels, "shuffle": True}
        inputs["batch_size"] = config.batch_size
    model.fit(**inputs, epochs=config.epochs, callbacks=[KeepBest()], verbose=2)
    model = keras.models.load_model(out_dir / "best.keras")
    summary = {
        "architecture": config.architecture,
        "best_epoch": best["epoch"],
        "val_balanced_accuracy": best["score"],
        "train_examples": len(training.labels),
        "validation_examples": len(validation.labels),
        "labels": list(LABELS),
        "history": [{k: float(v) for k, v in h.items()} for h in history],
    }
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return model, summary
